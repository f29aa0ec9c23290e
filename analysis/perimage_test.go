package analysis

import (
	"context"
	"strings"
	"testing"
)

// TestPerImageFeatures: with PerImage each layer keeps one value per image
// whose mean is the layer's value; an image's value is what the analysis
// gives on that image alone; without PerImage nothing changes.
func TestPerImageFeatures(t *testing.T) {
	d := fpRandomImages(11, 5)
	ctx := context.Background()
	with, err := MeasureFeatures(ctx, fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: 4, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	without, err := MeasureFeatures(ctx, fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	for l, fl := range with.Fourier.Layers {
		vl := with.Variance.Layers[l]
		if len(fl.HighFreqPerImage) != 11 || len(vl.PerImage) != 11 {
			t.Fatalf("layer %s: %d and %d per-image values, want 11", fl.Name, len(fl.HighFreqPerImage), len(vl.PerImage))
		}
		var mh, mv float64
		for i := range 11 {
			mh += fl.HighFreqPerImage[i] / 11
			mv += vl.PerImage[i] / 11
		}
		if !fpNear(mh, fl.HighFreq(), 1e-12) || !fpNear(mv, vl.Variance, 1e-12*vl.Variance+1e-15) {
			t.Errorf("layer %s: per-image means %v, %v; layer values %v, %v", fl.Name, mh, mv, fl.HighFreq(), vl.Variance)
		}
		wl := without.Fourier.Layers[l]
		if wl.HighFreqPerImage != nil || without.Variance.Layers[l].PerImage != nil {
			t.Errorf("layer %s: per-image values without PerImage", wl.Name)
		}
		if fl.Name != "noise" && (wl.HighFreq() != fl.HighFreq() || without.Variance.Layers[l].Variance != vl.Variance) {
			t.Errorf("layer %s: PerImage changed the layer's values", fl.Name)
		}
	}
	// The input layer (index 3) of image i alone.
	for _, i := range []int{0, 6, 10} {
		one, err := MeasureFeatures(ctx, fpKnownModel(), d, []int{i}, FeatureOptions{Batch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := with.Fourier.Layers[3].HighFreqPerImage[i], one.Fourier.Layers[3].HighFreq(); !fpNear(got, want, 1e-12) {
			t.Errorf("image %d: %v, alone %v", i, got, want)
		}
		if got, want := with.Variance.Layers[3].PerImage[i], one.Variance.Layers[3].Variance; !fpNear(got, want, 1e-12*want) {
			t.Errorf("image %d: variance %v, alone %v", i, got, want)
		}
	}
}

// TestPerImageNoise: the per-image records agree with the accuracies and
// the broken and fixed counts.
func TestPerImageNoise(t *testing.T) {
	d := constantImages(40, 21)
	r, err := NoiseRobustness(context.Background(), fpEdgeModel(0.01), d, d.Indices(), NoiseOptions{Level: 0.5, Batch: 7, Seed: 3, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CleanCorrect) != 40 || !fpNear(float64(strings.Count(r.CleanCorrect, "1"))/40, r.Clean, 1e-15) {
		t.Fatalf("clean record %q against accuracy %v", r.CleanCorrect, r.Clean)
	}
	changed := false
	for _, b := range r.Bands {
		if len(b.Correct) != 40 || !fpNear(float64(strings.Count(b.Correct, "1"))/40, b.Accuracy, 1e-15) {
			t.Errorf("band %v: record %q against accuracy %v", b.Center, b.Correct, b.Accuracy)
		}
		broken, fixed := 0, 0
		for i := range 40 {
			switch {
			case r.CleanCorrect[i] == '1' && b.Correct[i] == '0':
				broken++
			case r.CleanCorrect[i] == '0' && b.Correct[i] == '1':
				fixed++
			}
		}
		if broken != b.Broken || fixed != b.Fixed {
			t.Errorf("band %v: broken %d fixed %d from the records, %d %d reported", b.Center, broken, fixed, b.Broken, b.Fixed)
		}
		changed = changed || b.Correct != r.CleanCorrect
	}
	if !changed {
		t.Error("no band changed any image: the test shows nothing")
	}
	plain, err := NoiseRobustness(context.Background(), fpEdgeModel(0.01), d, d.Indices(), NoiseOptions{Level: 0.5, Batch: 7, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if plain.CleanCorrect != "" || plain.Bands[0].Correct != "" {
		t.Error("records without PerImage")
	}
}

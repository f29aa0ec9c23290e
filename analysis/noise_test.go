package analysis

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
)

// fpMeanModel classifies an image by its mean: class 0 above threshold,
// class 1 below. Band noise never touches frequency 0, so it cannot change
// the mean: this model is immune to band noise of any level.
func fpMeanModel(threshold float32) *fpModel {
	return &fpModel{name: "mean", classes: 2, logits: func(x []float32, b, c int) []float32 {
		per := c * data.Size * data.Size
		z := make([]float32, 2*b)
		for i := range b {
			s := float64(0)
			for _, v := range x[i*per : (i+1)*per] {
				s += float64(v)
			}
			m := float32(s / float64(per))
			z[2*i], z[2*i+1] = m-threshold, threshold-m
		}
		return z
	}}
}

// fpEdgeModel classifies an image by the mean squared difference of
// horizontal neighbours, a high-pass statistic: class 0 below threshold.
// A component of horizontal frequency f passes with gain 4 sin²(f/2): ≈ 0.05
// near 0.1π, ≈ 3.9 near 0.9π.
func fpEdgeModel(threshold float32) *fpModel {
	return &fpModel{name: "edges", classes: 2, logits: func(x []float32, b, c int) []float32 {
		const n = data.Size
		per := c * n * n
		z := make([]float32, 2*b)
		for i := range b {
			img := x[i*per : (i+1)*per]
			s := 0.0
			for r := 0; r < c*n; r++ {
				for j := 0; j+1 < n; j++ {
					d := float64(img[r*n+j+1] - img[r*n+j])
					s += d * d
				}
			}
			e := float32(s / float64(c*n*(n-1)))
			z[2*i], z[2*i+1] = threshold-e, e-threshold
		}
		return z
	}}
}

// constantImages returns n images, each of one random grey level away from
// 127/128, labelled 0 when brighter than mid-grey.
func constantImages(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	levels := make([]uint8, n)
	for i := range levels {
		for levels[i] == 0 || levels[i] == 127 || levels[i] == 128 {
			levels[i] = uint8(rng.IntN(256))
		}
	}
	return fpDataset(n, func(i, _ int) uint8 { return levels[i] }, func(i int) uint8 {
		if levels[i] > 128 {
			return 0
		}
		return 1
	})
}

// midGrey is the normalised value of 127.5/255 under fpDataset's
// normalisation (mean 0.5, std 0.25).
const midGrey = float32((127.5/255 - 0.5) / 0.25)

func TestNoiseLevelZeroChangesNothing(t *testing.T) {
	d := fpRandomImages(20, 11)
	ctx := context.Background()
	mods := []models.Model{fpEdgeModel(0.5)}
	if !testing.Short() {
		cfg, err := models.Defaults("resnet-mini")
		if err != nil {
			t.Fatal(err)
		}
		m, err := models.New("resnet-mini", cfg, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		mods = append(mods, m)
	}
	for _, m := range mods {
		r, err := NoiseRobustness(ctx, m, d, d.Indices(), NoiseOptions{Level: 0, Batch: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Bands) != 9 {
			t.Fatalf("%s: %d bands, want the 9 default ones", m.Spec().Name, len(r.Bands))
		}
		for _, b := range r.Bands {
			if b.Delta != 0 || b.StdErr != 0 || b.Broken != 0 || b.Fixed != 0 || b.Accuracy != r.Clean || b.RMS != 0 {
				t.Errorf("%s, band %vπ at level 0: %+v, want no change from clean accuracy %v", m.Spec().Name, b.Center, b, r.Clean)
			}
		}
	}
}

func TestNoiseKnownModels(t *testing.T) {
	d := constantImages(40, 12)
	ctx := context.Background()
	opt := NoiseOptions{Level: 3, Batch: 16, Seed: 5}

	// The mean classifier is right on every clean image and band noise has
	// no frequency-0 part: float32 rounding moves the mean by ~1e-6, far
	// from the 0.008 margin of the nearest grey level.
	r, err := NoiseRobustness(ctx, fpMeanModel(midGrey), d, d.Indices(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clean != 1 {
		t.Fatalf("mean model: clean accuracy %v, want 1", r.Clean)
	}
	for _, b := range r.Bands {
		if b.Delta != 0 {
			t.Errorf("mean model, band %vπ: Δ = %v, want 0 (band noise has zero mean)", b.Center, b.Delta)
		}
	}

	// The edge detector sees no edges in constant images (clean accuracy
	// 1). At level 1 the 0.1π band (RMS 0.15) adds a mean squared
	// difference of about 0.05 · 0.15² ≈ 0.001, the 0.9π band (RMS 0.48)
	// about 2.8 · 0.48² ≈ 0.6 (averaged over the ring's directions): a
	// threshold of 0.05 lets every low-band image through and none of the
	// high-band ones.
	opt.Level = 1
	for i := range d.Labels {
		d.Labels[i] = 0 // no edges: class 0
	}
	r, err = NoiseRobustness(ctx, fpEdgeModel(0.05), d, d.Indices(), opt)
	if err != nil {
		t.Fatal(err)
	}
	first, last := r.Bands[0], r.Bands[len(r.Bands)-1]
	if r.Clean != 1 || first.Delta != 0 || last.Delta != -1 || last.Broken != 40 {
		t.Errorf("edge model: clean %v, Δ(0.1π) = %v, Δ(0.9π) = %v (broken %d); want 1, 0, −1 (40)", r.Clean, first.Delta, last.Delta, last.Broken)
	}
	// In between, the expected statistic grows with the band (about
	// 0.002, 0.09, 0.17, 0.64 at 0.1π, 0.4π, 0.5π, 0.9π); single images
	// scatter around it, so allow a rise of 0.1 (4 of the 40 images).
	for i := 1; i < len(r.Bands); i++ {
		if r.Bands[i].Delta > r.Bands[i-1].Delta+0.1 {
			t.Errorf("edge model: Δ rises from %v at %vπ to %v at %vπ; a high-pass model must suffer more at higher bands",
				r.Bands[i-1].Delta, r.Bands[i-1].Center, r.Bands[i].Delta, r.Bands[i].Center)
		}
	}
}

// TestNoiseBands checks the band bookkeeping on 32×32 images under the
// Chebyshev radius 2k/32 (in units of π) of ring k, which holds 8k bins:
// [0.05, 0.15) holds rings 1 and 2 (24 bins), [0.85, 0.95) rings 14 and
// 15 (232 bins). The noise RMS is level·√(bins/1024) (Parseval), or the
// level itself with EqualEnergy.
func TestNoiseBands(t *testing.T) {
	d := constantImages(4, 13)
	for _, eq := range []bool{false, true} {
		r, err := NoiseRobustness(context.Background(), fpMeanModel(midGrey), d, d.Indices(),
			NoiseOptions{Level: 2, Bands: []float64{0.1, 0.9}, Batch: 4, EqualEnergy: eq})
		if err != nil {
			t.Fatal(err)
		}
		for i, bins := range []int{24, 232} {
			b := r.Bands[i]
			want := 2 * math.Sqrt(float64(bins)/1024)
			if eq {
				want = 2
			}
			if b.Bins != bins || !fpNear(b.RMS, want, 1e-12) {
				t.Errorf("equal energy %v, band %vπ: %d bins, RMS %v; want %d, %v", eq, b.Center, b.Bins, b.RMS, bins, want)
			}
		}
		if r.Width != 0.1 || r.Metric != "chebyshev" || r.EqualEnergy != eq {
			t.Errorf("result settings %v %v %v", r.Width, r.Metric, r.EqualEnergy)
		}
	}
}

// TestNoiseIndependentOfBatching: an image's noise depends on the seed and
// its index only, so batch sizes and subsets do not change per-image
// outcomes; another seed changes them.
func TestNoiseIndependentOfBatching(t *testing.T) {
	d := constantImages(30, 14)
	ctx := context.Background()
	run := func(batch int, seed uint64, idx []int) *NoiseResult {
		r, err := NoiseRobustness(ctx, fpEdgeModel(0.01), d, idx, NoiseOptions{Level: 0.5, Batch: batch, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(30, 1, d.Indices()), run(4, 1, d.Indices())
	if !reflect.DeepEqual(a, b) {
		t.Errorf("batch 30 and batch 4 differ:\n%+v\n%+v", a, b)
	}
	if c := run(30, 2, d.Indices()); reflect.DeepEqual(a.Bands, c.Bands) {
		t.Error("seeds 1 and 2 gave identical results")
	}
}

func TestNoiseErrors(t *testing.T) {
	d := constantImages(3, 15)
	m := fpMeanModel(0)
	ctx := context.Background()
	cases := []struct {
		name string
		opt  NoiseOptions
		want string
	}{
		{"batch 0", NoiseOptions{Level: 1}, "batch size 0"},
		{"negative level", NoiseOptions{Level: -1, Batch: 2}, "noise level -1"},
		{"NaN level", NoiseOptions{Level: math.NaN(), Batch: 2}, "noise level NaN"},
		{"band at 0", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{0}}, "outside (0, π)"},
		{"band at π", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{1}}, "outside (0, π)"},
		{"band above π", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{0.5, 1.2}}, "outside (0, π)"},
		{"negative band", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{-0.3}}, "outside (0, π)"},
		{"NaN band", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{math.NaN()}}, "outside (0, π)"},
		{"band reaching 0", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{0.03}}, "not inside (0, π]"},
		{"band reaching past π", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{0.97}}, "not inside (0, π]"},
		{"no bands", NoiseOptions{Level: 1, Batch: 2, Bands: []float64{}}, "no noise bands"},
		{"width", NoiseOptions{Level: 1, Batch: 2, Width: 1.5}, "band width"},
		{"narrow band between rings", NoiseOptions{Level: 1, Batch: 2, Width: 0.01, Bands: []float64{0.1}}, "holds no frequency"},
	}
	for _, c := range cases {
		verr := ValidateNoise(c.opt)
		_, err := NoiseRobustness(ctx, m, d, d.Indices(), c.opt)
		for _, e := range []error{verr, err} {
			if e == nil || !strings.Contains(e.Error(), c.want) || strings.Contains(e.Error(), "\n") {
				t.Errorf("%s: error %v, want one line containing %q", c.name, e, c.want)
			}
		}
	}
	if err := ValidateNoise(NoiseOptions{Level: 0.5, Batch: 1}); err != nil {
		t.Errorf("valid options rejected: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NoiseRobustness(cctx, m, d, d.Indices(), NoiseOptions{Level: 1, Batch: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

// TestPairedDelta checks the paired standard error against a hand count:
// 10 images, 3 broken and 1 fixed: Δ = −0.2; d² sums to 4, so the
// unbiased variance is (4 − 10·0.04)/9 = 0.4 and the SE √(0.4/10) = 0.2.
func TestPairedDelta(t *testing.T) {
	clean := []bool{true, true, true, false, true, true, true, true, false, false}
	noisy := []bool{false, false, false, true, true, true, true, true, false, false}
	d, se, br, fx := pairedDelta(clean, noisy)
	if !fpNear(d, -0.2, 1e-15) || !fpNear(se, 0.2, 1e-15) || br != 3 || fx != 1 {
		t.Errorf("pairedDelta = %v, %v, %d, %d; want −0.2, 0.2, 3, 1", d, se, br, fx)
	}
}

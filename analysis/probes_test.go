package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/models"
)

func fpCosPi(x float64) float64 { return math.Cos(math.Pi * x) }

// fpKnownModel is the fake model of the known-answer tests: a constant map, a
// checkerboard, Gaussian noise, the input images, a position-encoded token
// grid with a class token, a non-spatial output and the logits.
func fpKnownModel() *fpModel {
	L := func(i int, name string, k models.LayerKind) models.Layer {
		return models.Layer{Index: i, Name: name, Kind: k}
	}
	tok := L(4, "tokens", models.KindMLP)
	tok.Tokens, tok.CLS = true, true
	return &fpModel{name: "known", classes: 2, layers: []fpLayer{
		fpConst(L(0, "const", models.KindStem), 2, 8, 3),
		fpChecker(L(1, "checker", models.KindConv), 2, 8),
		fpNoise(L(2, "noise", models.KindMSA), 64, 16, 7),
		fpInput(L(3, "input", models.KindDown), 1),
		fpTokens(tok, 4, 3, 1),
		fpFlat(L(5, "pooled", models.KindConv), 5),
		fpFlat(L(6, "head", models.KindHead), 2),
	}}
}

func fpRandomImages(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	return fpDataset(n, func(int, int) uint8 { return uint8(rng.IntN(256)) }, func(i int) uint8 { return uint8(i % 2) })
}

func fpNear(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestKnownProfiles runs the fake model through MeasureFeatures, in
// uneven batches (4, 4, 3), and checks every layer against its exact
// answer.
func TestKnownProfiles(t *testing.T) {
	d := fpRandomImages(11, 1)
	f, err := MeasureFeatures(context.Background(), fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	fr, vr := f.Fourier, f.Variance
	if fr == nil || vr == nil {
		t.Fatal("missing result")
	}
	if fr.Images != 11 || vr.Images != 11 {
		t.Errorf("images = %d, %d, want 11", fr.Images, vr.Images)
	}
	// The non-spatial output (index 5) and the head are skipped; depths are
	// normalised by the last analysed index, 4.
	wantKinds := []models.LayerKind{models.KindStem, models.KindConv, models.KindMSA, models.KindDown, models.KindMLP}
	if len(fr.Layers) != 5 || len(vr.Layers) != 5 {
		t.Fatalf("%d Fourier and %d variance layers, want 5", len(fr.Layers), len(vr.Layers))
	}
	for i, l := range fr.Layers {
		if l.Index != i || l.Kind != wantKinds[i] || l.Depth != float64(i)/4 {
			t.Errorf("layer %d: index %d kind %v depth %v, want %d %v %v", i, l.Index, l.Kind, l.Depth, i, wantKinds[i], float64(i)/4)
		}
	}

	// Constant c on 8×8: |F| is 64c at frequency 0 and 0 elsewhere, so
	// dLogAmp(k > 0) = log(1e-6) − log(64·3 + 1e-6). The FFT of a constant
	// leaves rounding residues ~1e-13 in the zero bins, ≪ 1e-6.
	want := math.Log(fourier.LogEps) - math.Log(64*3+fourier.LogEps)
	c := fr.Layers[0]
	if len(c.DLogAmp) != 4 || c.DLogAmp[0] != 0 {
		t.Fatalf("constant: profile %v, want 4 points from 0", c.DLogAmp)
	}
	for k := 1; k < 4; k++ {
		if !fpNear(c.DLogAmp[k], want, 1e-5) {
			t.Errorf("constant: dLogAmp[%d] = %v, want %v", k, c.DLogAmp[k], want)
		}
	}
	if vr.Layers[0].Variance != 0 {
		t.Errorf("constant: variance %v, want 0", vr.Layers[0].Variance)
	}

	// Checkerboard: all its amplitude is at (4, 4), which the official half
	// diagonal (k = 0..3) never reaches; zero mean too, so the profile is
	// flat 0. Its unbiased variance over 64 positions of ±1 is 64/63.
	for k, v := range fr.Layers[1].DLogAmp {
		if !fpNear(v, 0, 1e-6) {
			t.Errorf("checkerboard: dLogAmp[%d] = %v, want 0", k, v)
		}
	}
	if v := vr.Layers[1].Variance; !fpNear(v, 64.0/63, 1e-12) {
		t.Errorf("checkerboard: variance %v, want 64/63", v)
	}

	// Gaussian noise: E log|F| is ½(log N − γ) at complex bins and
	// ½(log N − γ − ln 2) at the real bin 0, so dLogAmp(k > 0) = ½ ln 2.
	// Over 11·64 = 704 maps the standard error of the difference is about
	// √(0.64² + 1.11²)/√704 ≈ 0.05 (log-Rayleigh and log-|normal| spreads);
	// 0.2 is four of them. Variance: 1 within 0.02 (≈ 7 standard errors of
	// the mean of 704 sample variances of 256 values).
	for k, v := range fr.Layers[2].DLogAmp[1:] {
		if !fpNear(v, 0.5*math.Ln2, 0.2) {
			t.Errorf("noise: dLogAmp[%d] = %v, want ≈ ½ln2 = 0.347", k+1, v)
		}
	}
	if v := vr.Layers[2].Variance; !fpNear(v, 1, 0.02) {
		t.Errorf("noise: variance %v, want ≈ 1", v)
	}

	// Tokens: 1 + cos(2π(r+c)/4) on the 4×4 grid (class token of 1e6
	// dropped): |F(0,0)| = 16 and |F(1,1)| = 8, so dLogAmp(1) = −ln 2; the
	// values 2, 1, 0, 1 (four times each) have unbiased variance 8/15.
	tl := fr.Layers[4]
	if !tl.Tokens || tl.Height != 4 || tl.Width != 4 || tl.Channels != 3 {
		t.Errorf("tokens: info %+v, want a 4×4 token grid of 3 channels", tl.LayerInfo)
	}
	if len(tl.DLogAmp) != 2 || !fpNear(tl.DLogAmp[1], math.Log(8+fourier.LogEps)-math.Log(16+fourier.LogEps), 1e-6) {
		t.Errorf("tokens: dLogAmp %v, want [0, −ln 2]", tl.DLogAmp)
	}
	if v := vr.Layers[4].Variance; !fpNear(v, 8.0/15, 1e-6) {
		t.Errorf("tokens: variance %v, want 8/15", v)
	}
}

// TestBatchesCombine checks that the probe's batch-by-batch accumulation
// gives what one pass over all images gives: the input layer's profile and
// variance equal those computed directly on all 11 normalised images.
func TestBatchesCombine(t *testing.T) {
	d := fpRandomImages(11, 3)
	var all data.HostBatch
	if err := d.Fill(&all, d.Indices(), data.Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	m := fourier.Maps[float32]{B: 11, C: 1, H: 32, W: 32, Data: all.Images}
	for _, nyq := range []bool{false, true} {
		want, err := fourier.RelativeLogAmplitude(m, &fourier.Options{IncludeNyquist: nyq})
		if err != nil {
			t.Fatal(err)
		}
		wantVar, err := MapVariance(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{1, 3, 4, 11, 50} {
			f, err := MeasureFeatures(context.Background(), fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: batch, Nyquist: nyq})
			if err != nil {
				t.Fatal(err)
			}
			got := f.Fourier.Layers[3]
			if len(got.DLogAmp) != len(want.DLogAmp) {
				t.Fatalf("nyquist %v batch %d: %d points, want %d", nyq, batch, len(got.DLogAmp), len(want.DLogAmp))
			}
			// Only the order of summation differs: 1e-12 absolute on values
			// of order 1-10.
			for k := range want.DLogAmp {
				if !fpNear(got.DLogAmp[k], want.DLogAmp[k], 1e-12) || !fpNear(got.LogAmp[k], want.LogAmp[k], 1e-12) ||
					!fpNear(got.Freq[k], want.Freq[k], 1e-15) || !fpNear(got.PlotFreq[k], want.PlotFreq[k], 1e-15) {
					t.Errorf("nyquist %v batch %d point %d: got (%v, %v), want (%v, %v)", nyq, batch, k,
						got.LogAmp[k], got.DLogAmp[k], want.LogAmp[k], want.DLogAmp[k])
				}
			}
			if v := f.Variance.Layers[3].Variance; !fpNear(v, wantVar, 1e-12*wantVar) {
				t.Errorf("batch %d: variance %v, want %v", batch, v, wantVar)
			}
		}
	}
}

// TestNyquistCheckerboard: with the Nyquist point the checkerboard shows,
// at log(64) − log(1e-6).
func TestNyquistCheckerboard(t *testing.T) {
	d := fpRandomImages(2, 4)
	f, err := MeasureFeatures(context.Background(), fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: 2, Nyquist: true, SkipVariance: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Variance != nil {
		t.Error("variance computed although skipped")
	}
	p := f.Fourier.Layers[1]
	if !f.Fourier.Nyquist || len(p.DLogAmp) != 5 || p.Freq[4] != math.Pi {
		t.Fatalf("profile %v at %v, want 5 points up to π", p.DLogAmp, p.Freq)
	}
	if want := math.Log(64+fourier.LogEps) - math.Log(fourier.LogEps); !fpNear(p.HighFreq(), want, 1e-5) {
		t.Errorf("Nyquist point %v, want %v", p.HighFreq(), want)
	}
}

// TestPresetLayers runs two real presets (fresh weights) through the probe
// and checks the layer bookkeeping: every layer but the head, kinds as the
// model lists them, ViT token maps 8×8 with the class token dropped.
func TestPresetLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real models")
	}
	d := fpRandomImages(6, 5)
	for _, name := range []string{"resnet-mini", "vit-mini"} {
		cfg, err := models.Defaults(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := models.New(name, cfg, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		f, err := MeasureFeatures(context.Background(), m, d, d.Indices(), FeatureOptions{Batch: 4})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want []models.Layer
		for _, l := range m.Layers() {
			if l.Kind != models.KindHead {
				want = append(want, l)
			}
		}
		if len(f.Fourier.Layers) != len(want) {
			t.Fatalf("%s: %d layers, want %d", name, len(f.Fourier.Layers), len(want))
		}
		for i, l := range f.Fourier.Layers {
			if l.Index != want[i].Index || l.Name != want[i].Name || l.Kind != want[i].Kind {
				t.Errorf("%s: layer %d = %d %s %v, want %+v", name, i, l.Index, l.Name, l.Kind, want[i])
			}
			if name == "vit-mini" && (l.Height != 8 || l.Width != 8 || len(l.DLogAmp) != 4) {
				t.Errorf("vit-mini layer %s: %d×%d maps, %d points; want 8×8, 4", l.Name, l.Height, l.Width, len(l.DLogAmp))
			}
			if v := f.Variance.Layers[i].Variance; !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s layer %s: variance %v", name, l.Name, v)
			}
		}
		if last := f.Fourier.Layers[len(want)-1]; last.Depth != 1 {
			t.Errorf("%s: last depth %v, want 1", name, last.Depth)
		}
		if _, err := json.Marshal(f); err != nil {
			t.Errorf("%s: result does not marshal: %v", name, err)
		}
	}
}

func TestFeatureErrors(t *testing.T) {
	d := fpRandomImages(3, 6)
	ctx := context.Background()
	head := models.Layer{Index: 1, Name: "head", Kind: models.KindHead}
	flat := &fpModel{name: "flat", classes: 2, layers: []fpLayer{
		fpFlat(models.Layer{Index: 0, Name: "pool", Kind: models.KindConv}, 4), fpFlat(head, 2)}}
	headOnly := &fpModel{name: "headonly", classes: 2, layers: []fpLayer{fpFlat(head, 2)}}
	badTok := models.Layer{Index: 0, Name: "tok", Kind: models.KindStem, Tokens: true, CLS: false}
	nonSquare := &fpModel{name: "tok", classes: 2, layers: []fpLayer{fpTokens(badTok, 4, 2, 1)}} // 17 tokens, CLS kept
	nan := &fpModel{name: "nan", classes: 2, layers: []fpLayer{fpConst(models.Layer{Name: "nan"}, 1, 4, float32(math.NaN()))}}
	rect := &fpModel{name: "rect", classes: 2, layers: []fpLayer{{layer: models.Layer{Name: "rect"},
		out: func(_ []float32, b int) ([]float32, []int64) {
			return make([]float32, b*4*8), []int64{int64(b), 1, 4, 8}
		}}}}
	cases := []struct {
		name string
		m    models.Model
		opt  FeatureOptions
		want string
		is   error
	}{
		{"batch 0", fpKnownModel(), FeatureOptions{}, "batch size 0", nil},
		{"no spatial output", flat, FeatureOptions{Batch: 2}, "no spatial layers", ErrNoSpatialLayers},
		{"head only", headOnly, FeatureOptions{Batch: 2}, "no spatial layers", ErrNoSpatialLayers},
		{"non-square tokens", nonSquare, FeatureOptions{Batch: 2}, "do not form a square grid", fourier.ErrNotSquare},
		{"NaN maps", nan, FeatureOptions{Batch: 2}, "non-finite", nil},
		{"NaN variance", nan, FeatureOptions{Batch: 2, SkipFourier: true}, "non-finite", nil},
		{"rectangular maps", rect, FeatureOptions{Batch: 2}, "square", fourier.ErrNotSquare},
		{"nothing to do", fpKnownModel(), FeatureOptions{Batch: 2, SkipFourier: true, SkipVariance: true}, "nothing to measure", nil},
	}
	for _, c := range cases {
		_, err := MeasureFeatures(ctx, c.m, d, d.Indices(), c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", c.name, err)
		}
	}
	// Rectangular maps are fine for the variance alone.
	if _, err := MeasureFeatures(ctx, rect, d, d.Indices(), FeatureOptions{Batch: 2, SkipFourier: true}); err != nil {
		t.Errorf("variance of rectangular maps: %v", err)
	}
	if _, err := MeasureFeatures(ctx, fpKnownModel(), d, []int{0, 3}, FeatureOptions{Batch: 2}); err == nil {
		t.Error("image index out of range accepted")
	}
	if _, err := MeasureFeatures(ctx, fpKnownModel(), d, nil, FeatureOptions{Batch: 2}); err == nil {
		t.Error("no images accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := MeasureFeatures(cctx, fpKnownModel(), d, d.Indices(), FeatureOptions{Batch: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

// TestMapVariance checks the variance against a hand count: values
// 0..n−1 have unbiased variance n(n+1)/12; channel c scaled by c+1
// multiplies it by (c+1)², averaged over channels.
func TestMapVariance(t *testing.T) {
	const side, ch = 5, 3
	n := side * side
	m := fourier.Maps[float64]{B: 2, C: ch, H: side, W: side, Data: make([]float64, 2*ch*n)}
	for b := range 2 {
		for c := range ch {
			for p := range n {
				m.Data[(b*ch+c)*n+p] = float64((c+1)*p) + float64(b)*100 // a per-sample offset changes nothing
			}
		}
	}
	got, err := MapVariance(m)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(n*(n+1)) / 12 * (1 + 4 + 9) / 3
	if !fpNear(got, want, 1e-12*want) {
		t.Errorf("variance %v, want %v", got, want)
	}
	if _, err := MapVariance(fourier.Maps[float64]{B: 1, C: 1, H: 1, W: 1, Data: []float64{1}}); err == nil {
		t.Error("variance of one position accepted")
	}
}

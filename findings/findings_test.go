package findings

import (
	"math"
	"math/rand/v2"
	"testing"
)

// spectrum draws n minibatches of k eigenvalues, a share neg of them
// negative around -negScale, the rest positive around posScale.
func spectrum(name string, n, k int, neg, posScale, negScale float64, seed uint64) Spectrum {
	r := rand.New(rand.NewPCG(seed, 1))
	s := Spectrum{Model: name}
	for i := 0; i < n; i++ {
		b := make([]float64, k)
		for j := range b {
			if r.Float64() < neg {
				b[j] = -negScale * (0.5 + r.Float64())
			} else {
				b[j] = posScale * (0.5 + r.Float64())
			}
		}
		s.Batches = append(s.Batches, b)
	}
	return s
}

func TestNEPAPE(t *testing.T) {
	v := []float64{-2, -1, 1, 3, 0}
	if NEP(v) != 0.4 || APE(v) != 2 {
		t.Fatalf("NEP %v APE %v, want 0.4 and 2", NEP(v), APE(v))
	}
	if !math.IsNaN(APE([]float64{-1})) || !math.IsNaN(NEP(nil)) {
		t.Error("empty cases: want NaN")
	}
}

func TestSpectraVerdicts(t *testing.T) {
	vit := spectrum("vit", 40, 5, 0.4, 40, 50, 1)
	res := spectrum("resnet", 40, 5, 0.05, 400, 50, 2)
	if f := ViTvsResNetSpectra(vit, res); f.Verdict != Holds {
		t.Errorf("clear case: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := ViTvsResNetSpectra(res, vit); f.Verdict != DoesNotHold {
		t.Errorf("reversed: %s (%s)", f.Verdict, f.Why)
	}
	same := spectrum("vit2", 40, 5, 0.05, 400, 50, 3)
	if f := ViTvsResNetSpectra(same, res); f.Verdict != Inconclusive {
		t.Errorf("same distributions: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	few := spectrum("vit", 3, 5, 0.4, 40, 50, 1)
	if f := ViTvsResNetSpectra(few, res); f.Verdict != Inconclusive {
		t.Errorf("three minibatches: %s", f.Verdict)
	}
	alt := spectrum("alternet", 40, 5, 0.02, 100, 50, 4)
	if f := AlterNetVsViTSpectra(alt, vit); f.Verdict != Holds {
		t.Errorf("alternet: %s (%s)", f.Verdict, f.Why)
	}
	if f := AlterNetVsViTSpectra(vit, alt); f.Verdict != DoesNotHold {
		t.Errorf("alternet reversed: %s (%s)", f.Verdict, f.Why)
	}
}

func TestSpearman(t *testing.T) {
	if r := spearman([]float64{1, 2, 3, 4}, []float64{10, 20, 25, 100}); math.Abs(r-1) > 1e-12 {
		t.Errorf("monotone: %v", r)
	}
	if r := spearman([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}); math.Abs(r+1) > 1e-12 {
		t.Errorf("reversed: %v", r)
	}
	if r := spearman([]float64{1, 2, 3}, []float64{5, 5, 5}); !math.IsNaN(r) {
		t.Errorf("constant: %v", r)
	}
}

func resnetProfile(rising bool) Profile {
	p := Profile{Model: "resnet"}
	kinds := []string{"stem", "conv", "down", "conv", "down", "conv", "down", "head"}
	for i, k := range kinds {
		h := -6 + float64(i)*0.8
		if !rising {
			h = -1 - float64(i)*0.8
		}
		p.Layers = append(p.Layers, Layer{Kind: k, Depth: float64(i) / 7, HighFreq: h, Variance: 0.1 * float64(i+1)})
	}
	return p
}

func vitProfile(msaLowers bool) Profile {
	p := Profile{Model: "vit", Layers: []Layer{{Kind: "stem", HighFreq: -2, Variance: 0.1}}}
	h, v := -2.0, 0.1
	for i := 0; i < 6; i++ {
		if msaLowers {
			h -= 0.3
		} else {
			h += 0.3
		}
		v *= 0.8
		p.Layers = append(p.Layers, Layer{Kind: "msa", HighFreq: h, Variance: v})
		if msaLowers {
			h += 0.3
		} else {
			h -= 0.3
		}
		v *= 1.5
		p.Layers = append(p.Layers, Layer{Kind: "mlp", HighFreq: h, Variance: v})
	}
	for i := range p.Layers {
		p.Layers[i].Depth = float64(i) / float64(len(p.Layers)-1)
	}
	return p
}

func TestFrequencyProfiles(t *testing.T) {
	if f := FrequencyProfiles(vitProfile(true), resnetProfile(true)); f.Verdict != Holds {
		t.Errorf("paper-like: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := FrequencyProfiles(vitProfile(true), resnetProfile(false)); f.Verdict != DoesNotHold {
		t.Errorf("ResNet falling: %s (%s)", f.Verdict, f.Why)
	}
	if f := FrequencyProfiles(vitProfile(false), resnetProfile(true)); f.Verdict != DoesNotHold {
		t.Errorf("MSA raising: %s (%s)", f.Verdict, f.Why)
	}
}

func TestVarianceChanges(t *testing.T) {
	if f := VarianceChanges(vitProfile(true), resnetProfile(true)); f.Verdict != Holds {
		t.Errorf("paper-like: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	flat := vitProfile(true)
	for i := range flat.Layers {
		flat.Layers[i].Variance = 1 + float64(i) // every layer increases it
	}
	if f := VarianceChanges(flat); f.Verdict != DoesNotHold {
		t.Errorf("MSA increasing: %s (%s)", f.Verdict, f.Why)
	}
}

func curve(name string, low, high float64) NoiseCurve {
	c := NoiseCurve{Model: name, Clean: 0.98, N: 2000}
	for i := 1; i <= 9; i++ {
		f := float64(i) / 10
		c.Bands = append(c.Bands, Band{Freq: f, Drop: low + (high-low)*(f-0.1)/0.8})
	}
	return c
}

func TestNoiseRobustness(t *testing.T) {
	if f := NoiseRobustness(curve("vit", 0.15, 0.02), curve("resnet", 0.02, 0.15)); f.Verdict != Holds {
		t.Errorf("paper-like: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := NoiseRobustness(curve("vit", 0.02, 0.15), curve("resnet", 0.15, 0.02)); f.Verdict != DoesNotHold {
		t.Errorf("reversed: %s (%s)", f.Verdict, f.Why)
	}
	if f := NoiseRobustness(curve("vit", 0.05, 0.05), curve("resnet", 0.05, 0.051)); f.Verdict != Inconclusive {
		t.Errorf("flat: %s (%s)", f.Verdict, f.Why)
	}
	if f := NoiseRobustness(NoiseCurve{Model: "x"}, curve("resnet", 0.1, 0.1)); f.Verdict != Inconclusive {
		t.Errorf("no bands: %s", f.Verdict)
	}
}

package findings

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The synthetic inputs of the tests. An "outcome" asks for a statistic
// clearly on the claimed side (+1), clearly on the other (−1) or exactly
// on the boundary (0: the two sides of the comparison are equal in every
// resample, or their intervals straddle it).

var testSeeds = []string{"0", "1", "2"}

// synthSpectrum draws n minibatches of k eigenvalues, a share neg of them
// negative, the positive ones around ape.
func synthSpectrum(fam, seed, phase, data string, n, k int, neg, ape float64, r *rand.Rand) Spectrum {
	s := Spectrum{Family: fam, Model: fam + "-mini", Seed: seed, Phase: phase, Data: data, WeightDecay: 0.05}
	for range n {
		b := Batch{Values: make([]float64, k)}
		for j := range b.Values {
			if r.Float64() < neg {
				b.Values[j] = -20 * (0.5 + r.Float64())
			} else {
				b.Values[j] = ape * (0.5 + r.Float64())
			}
		}
		s.Batches = append(s.Batches, b)
	}
	return s
}

// synthSpectra makes, for every seed, spectra of families a and b whose
// statistic st differs by about effect (a − b), at the given phase.
func synthSpectra(cl Claim, outcome int, seeds []string, phase, data string) Inputs {
	var in Inputs
	for i, seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(i), 77))
		b := synthSpectrum(cl.B, seed, phase, data, 20, 5, 0.2, 100, r)
		a := Spectrum{Family: cl.A, Model: cl.A + "-mini", Seed: seed, Phase: phase, Data: data, WeightDecay: 0.05}
		// a starts as a copy of b: every statistic equal.
		for _, bb := range b.Batches {
			a.Batches = append(a.Batches, Batch{Values: append([]float64(nil), bb.Values...)})
		}
		dir := outcome
		if cl.Expect != "greater" {
			dir = -outcome // "less" and "not_greater" claim a smaller a
		}
		switch {
		case cl.Expect == "not_greater" && outcome == 0:
			// Exactly the margin more negatives: 5 of 100 values.
			flipped := 0
			for _, bb := range a.Batches {
				for j, v := range bb.Values {
					if v > 0 && flipped < int(math.Round(cl.Margin*100)) {
						bb.Values[j], flipped = -v, flipped+1
					}
				}
			}
		case cl.Expect == "not_greater":
			// Holds: fewer negatives than b; does not hold: many more.
			nep := 0.05
			if outcome < 0 {
				nep = 0.6
			}
			a = synthSpectrum(cl.A, seed, phase, data, 20, 5, nep, 100, r)
		case outcome != 0 && cl.Stat == "nep":
			a = synthSpectrum(cl.A, seed, phase, data, 20, 5, 0.2+0.3*float64(dir), 100, r)
		case outcome != 0 && cl.Stat == "ape":
			a = synthSpectrum(cl.A, seed, phase, data, 20, 5, 0.2, 100*math.Pow(3, float64(dir)), r)
		}
		in.Spectra = append(in.Spectra, a, b)
	}
	return in
}

// layerKinds are the synthetic architectures.
var layerKinds = map[string][]string{
	"vit":      {"stem", "msa", "mlp", "msa", "mlp", "msa", "mlp"},
	"resnet":   {"stem", "conv", "down", "conv", "down", "conv"},
	"alternet": {"stem", "conv", "down", "msa", "down", "msa"},
}

// synthProfile makes a profile whose quantity changes by step at the
// layers of the given kinds and by other elsewhere, n images with noise
// sd around the layer value; with same, a layer of those kinds repeats
// the values of the layer before, image by image.
func synthProfile(fam, seed, phase string, kinds []string, step, other float64, n int, r *rand.Rand, same bool) Profile {
	p := Profile{Family: fam, Model: fam + "-mini", Seed: seed, Phase: phase}
	ks := layerKinds[fam]
	q := 0.0
	var prevH, prevV []float64
	for l, k := range ks {
		if l > 0 {
			if contains(kinds, k) {
				q += step
			} else {
				q += other
			}
		}
		layer := Layer{Name: fmt.Sprintf("layer%d", l), Kind: k, Depth: float64(l) / float64(len(ks)-1)}
		if same && l > 0 && contains(kinds, k) {
			layer.HighFreq, layer.Variance = prevH, prevV
		} else {
			for range n {
				e := 0.05 * r.NormFloat64()
				layer.HighFreq = append(layer.HighFreq, -3+q+e)
				layer.Variance = append(layer.Variance, math.Exp(q+e))
			}
		}
		prevH, prevV = layer.HighFreq, layer.Variance
		p.Layers = append(p.Layers, layer)
	}
	p.Layers = append(p.Layers, Layer{Name: "head", Kind: "head", Depth: 1})
	return p
}

// synthProfiles makes profiles for a layer_change or depth_slope claim.
func synthProfiles(cl Claim, outcome int, seeds []string, phase string) Inputs {
	dir := float64(outcome)
	if cl.Expect == "less" {
		dir = -dir
	}
	var in Inputs
	for i, seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(i), 99))
		var p Profile
		if cl.Kind == "depth_slope" {
			// Every layer moves by dir·0.5: a slope of dir·0.5·(layers−1).
			all := []string{"stem", "conv", "down", "msa", "mlp"}
			p = synthProfile(cl.Family, seed, phase, all, 0.5*dir, 0, 300, r, outcome == 0)
			if outcome == 0 { // all layers repeat the stem: no slope at all
				for l := range p.Layers[:len(p.Layers)-1] {
					p.Layers[l].HighFreq, p.Layers[l].Variance = p.Layers[0].HighFreq, p.Layers[0].Variance
				}
			}
		} else {
			// The other layers go the opposite way, so that only the
			// claimed kinds decide.
			p = synthProfile(cl.Family, seed, phase, cl.Layers, 0.5*dir, -0.3*dir, 300, r, outcome == 0)
		}
		in.Profiles = append(in.Profiles, p)
	}
	return in
}

// synthNoise makes per-image noise results: lowDrop and highDrop are the
// shares of the clean-right images the low and high bands break.
func synthNoise(fam, seed, phase, variant string, lowDrop, highDrop float64, n int, r *rand.Rand) Noise {
	nz := Noise{Family: fam, Model: fam + "-mini", Seed: seed, Phase: phase, Variant: variant, Clean: make([]bool, n)}
	for i := range nz.Clean {
		nz.Clean[i] = r.Float64() < 0.95
	}
	for b := 1; b <= 9; b++ {
		f := float64(b) / 10
		drop := lowDrop + (highDrop-lowDrop)*(f-0.1)/0.8
		band := NoiseBand{Center: f, Correct: make([]bool, n)}
		for i, c := range nz.Clean {
			band.Correct[i] = c && r.Float64() >= drop
		}
		nz.Bands = append(nz.Bands, band)
	}
	return nz
}

func synthNoises(cl Claim, outcome int, seeds []string, phase string) Inputs {
	var in Inputs
	for i, seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(i), 55))
		want := outcome // the sign of the statistic asked for
		if cl.Expect == "less" {
			want = -outcome
		}
		lo, hi := 0.1, 0.1
		switch {
		case want > 0: // hurt by low frequencies
			lo, hi = 0.2, 0.02
		case want < 0:
			lo, hi = 0.02, 0.2
		}
		nz := synthNoise(cl.Family, seed, phase, cl.Variant, lo, hi, 600, r)
		if outcome == 0 { // every band breaks the same images: statistic 0 exactly
			for b := range nz.Bands {
				nz.Bands[b].Correct = nz.Bands[0].Correct
			}
		}
		in.Noise = append(in.Noise, nz)
	}
	return in
}

// synthFor makes inputs for claim cl with the given outcome at its
// primary protocol.
func synthFor(cl Claim, outcome int, seeds []string) Inputs {
	switch cl.Kind {
	case "spectrum":
		return synthSpectra(cl, outcome, seeds, cl.Phase, cl.Data)
	case "noise_shape":
		return synthNoises(cl, outcome, seeds, cl.Phase)
	}
	return synthProfiles(cl, outcome, seeds, cl.Phase)
}

// merge concatenates inputs.
func merge(ins ...Inputs) Inputs {
	var out Inputs
	for _, in := range ins {
		out.Spectra = append(out.Spectra, in.Spectra...)
		out.Profiles = append(out.Profiles, in.Profiles...)
		out.Noise = append(out.Noise, in.Noise...)
		out.Landscapes = append(out.Landscapes, in.Landscapes...)
	}
	return out
}

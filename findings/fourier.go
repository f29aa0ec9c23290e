package findings

import (
	"fmt"
	"math"
	"sort"
)

// Layer is one layer's Fourier and variance measurements.
type Layer struct {
	// Kind is the models.LayerKind name: stem, conv, down, msa, mlp, head.
	Kind string
	// Depth is the normalised depth, layer index / last index.
	Depth float64
	// HighFreq is the relative log amplitude at the highest frequency.
	HighFreq float64
	// Variance is the feature-map variance.
	Variance float64
}

// Profile is a model's per-layer measurements in depth order.
type Profile struct {
	Model  string
	Layers []Layer
}

// spatial drops the head (logits are not a feature map) and layers with
// non-finite values.
func spatial(p Profile, val func(Layer) float64) []Layer {
	var out []Layer
	for _, l := range p.Layers {
		if l.Kind == "head" || math.IsNaN(val(l)) || math.IsInf(val(l), 0) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// spearman returns the rank correlation of x and y (average ranks for
// ties).
func spearman(x, y []float64) float64 {
	rank := func(v []float64) []float64 {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
		r := make([]float64, len(v))
		for i := 0; i < len(idx); {
			j := i
			for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
				j++
			}
			for k := i; k <= j; k++ {
				r[idx[k]] = float64(i+j) / 2
			}
			i = j + 1
		}
		return r
	}
	rx, ry := rank(x), rank(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	n := float64(len(rx))
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// changes returns, for every layer of the given kinds that has a
// predecessor, the sign of its value minus the predecessor's: the share of
// decreases and the count.
func changes(ls []Layer, kinds map[string]bool, val func(Layer) float64) (down, total int) {
	for i := 1; i < len(ls); i++ {
		if !kinds[ls[i].Kind] {
			continue
		}
		total++
		if val(ls[i]) < val(ls[i-1]) {
			down++
		}
	}
	return down, total
}

func share(a, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(a) / float64(n)
}

// Thresholds of the layer-wise criteria.
const (
	rhoRises = 0.5     // Spearman correlation that counts as "rises with depth"
	majority = 2.0 / 3 // share of layers that counts as "the layers do it"
	minority = 1.0 / 2 // at or below: "the layers do not do it"
)

func highFreq(l Layer) float64 { return l.HighFreq }
func variance(l Layer) float64 { return l.Variance }

// FrequencyProfiles checks: "ResNet's high-frequency dLogAmp rises with
// depth, while ViT's stays in a band and drops at MSA layers".
func FrequencyProfiles(vit, resnet Profile) Finding {
	f := Finding{
		Claim: "ResNet's high-frequency dLogAmp rises with depth (Convs amplify high frequencies), while ViT's stays in a band and drops at MSA layers (MSAs are low-pass filters)",
		Criterion: fmt.Sprintf("(a) Spearman correlation of ResNet's highest-frequency dLogAmp with depth >= %.2g; (b) at least %.0f%% of ViT's MSA layers lower it relative to the preceding layer; "+
			"(c) ViT's range over layers is smaller than ResNet's. Holds if (a), (b) and (c); does not hold if the correlation is <= 0, "+
			"or at most %.0f%% of MSA layers lower it, or (c) fails; inconclusive otherwise", rhoRises, 100*majority, 100*minority),
	}
	rl := spatial(resnet, highFreq)
	vl := spatial(vit, highFreq)
	if len(rl) < 3 || len(vl) < 3 {
		f.Verdict, f.Why = Inconclusive, "fewer than 3 spatial layers in a model"
		return f
	}
	var d, h []float64
	for _, l := range rl {
		d = append(d, l.Depth)
		h = append(h, l.HighFreq)
	}
	rho := spearman(d, h)
	down, msa := changes(vl, map[string]bool{"msa": true}, highFreq)
	sMSA := share(down, msa)
	rangeOf := func(ls []Layer) float64 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, l := range ls {
			lo, hi = math.Min(lo, l.HighFreq), math.Max(hi, l.HighFreq)
		}
		return hi - lo
	}
	rr, vr := rangeOf(rl), rangeOf(vl)
	f.Measured = []string{
		fmt.Sprintf("ResNet (%s): Spearman correlation of high-frequency dLogAmp with depth %s over %d layers; from %s (first layer) to %s (last)",
			resnet.Model, g(rho), len(rl), g(rl[0].HighFreq), g(rl[len(rl)-1].HighFreq)),
		fmt.Sprintf("ViT (%s): %d of %d MSA layers lower the high-frequency dLogAmp (%s)", vit.Model, down, msa, pct(sMSA)),
		fmt.Sprintf("range over layers: ViT %s, ResNet %s", g(vr), g(rr)),
	}
	switch {
	case math.IsNaN(rho) || msa == 0:
		f.Verdict, f.Why = Inconclusive, "no MSA layers or a constant profile"
	case rho <= 0 || sMSA <= minority || vr >= rr:
		f.Verdict = DoesNotHold
		f.Why = firstFailure(rho <= 0, "ResNet's profile does not rise with depth",
			sMSA <= minority, "most MSA layers do not lower the high frequencies",
			vr >= rr, "ViT's profile spans at least ResNet's range")
	case rho >= rhoRises && sMSA >= majority:
		f.Verdict, f.Why = Holds, "ResNet rises with depth, MSA layers lower the high frequencies and ViT stays in a narrower band"
	default:
		f.Verdict, f.Why = Inconclusive, "the trends are weaker than the thresholds"
	}
	return f
}

// VarianceChanges checks: "MSA layers reduce feature-map variance and
// Conv/MLP layers increase it", pooling the layers of all profiles.
func VarianceChanges(profiles ...Profile) Finding {
	f := Finding{
		Claim: "MSA layers reduce feature-map variance; Conv and MLP layers increase it",
		Criterion: fmt.Sprintf("over all models' layers, the share of MSA layers whose variance is below the preceding layer's, and the share of Conv (incl. down-sampling) and MLP layers above it: "+
			"holds if both are >= %.0f%%, does not hold if either is <= %.0f%%, inconclusive otherwise", 100*majority, 100*minority),
	}
	var mDown, mN, cUp, cN int
	for _, p := range profiles {
		ls := spatial(p, variance)
		md, mn := changes(ls, map[string]bool{"msa": true}, variance)
		cd, cn := changes(ls, map[string]bool{"conv": true, "down": true, "mlp": true}, variance)
		mDown, mN = mDown+md, mN+mn
		cUp, cN = cUp+(cn-cd), cN+cn
		f.Measured = append(f.Measured, fmt.Sprintf("%s: %d/%d MSA layers reduce the variance, %d/%d Conv/MLP layers increase it",
			p.Model, md, mn, cn-cd, cn))
	}
	sm, sc := share(mDown, mN), share(cUp, cN)
	f.Measured = append(f.Measured, fmt.Sprintf("all models: MSA reduce %s, Conv/MLP increase %s", pct(sm), pct(sc)))
	switch {
	case mN == 0 || cN == 0:
		f.Verdict, f.Why = Inconclusive, "no MSA or no Conv/MLP layers"
	case sm <= minority || sc <= minority:
		f.Verdict = DoesNotHold
		f.Why = firstFailure(sm <= minority, "most MSA layers do not reduce the variance", sc <= minority, "most Conv/MLP layers do not increase it")
	case sm >= majority && sc >= majority:
		f.Verdict, f.Why = Holds, "both kinds of layers behave as claimed in most cases"
	default:
		f.Verdict, f.Why = Inconclusive, "one of the shares is between the thresholds"
	}
	return f
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

// firstFailure returns the message of the first true condition.
func firstFailure(pairs ...any) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			return pairs[i+1].(string)
		}
	}
	return ""
}

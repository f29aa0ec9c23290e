package findings

import (
	"fmt"
	"math"
	"slices"
)

// NEP is the share of negative values (NaN for none): the paper's measure
// of non-convexity.
func NEP(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	n := 0
	for _, v := range values {
		if v < 0 {
			n++
		}
	}
	return float64(n) / float64(len(values))
}

// APE returns the mean of the positive values (NaN when there are none):
// the paper's measure of sharpness.
func APE(values []float64) float64 {
	var s float64
	n := 0
	for _, v := range values {
		if v > 0 {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// spectrumUnits are a spectrum's usable minibatches, summarised for
// weighted draws.
type spectrumUnits struct {
	neg, tot, posSum, pos []float64
	// excluded counts the unconverged eigenvalues left out; dropped the
	// minibatches left without any value.
	excluded, dropped, values int
}

func newSpectrumUnits(s Spectrum) spectrumUnits {
	var u spectrumUnits
	for _, b := range s.Batches {
		var neg, tot, ps, pos float64
		for i, v := range b.Values {
			if b.Converged != nil && i < len(b.Converged) && !b.Converged[i] || math.IsNaN(v) || math.IsInf(v, 0) {
				u.excluded++
				continue
			}
			tot++
			switch {
			case v < 0:
				neg++
			case v > 0:
				ps += v
				pos++
			}
		}
		if tot == 0 {
			u.dropped++
			continue
		}
		u.values += int(tot)
		u.neg, u.tot, u.posSum, u.pos = append(u.neg, neg), append(u.tot, tot), append(u.posSum, ps), append(u.pos, pos)
	}
	return u
}

// stat returns the unit statistic of NEP or APE.
func (u spectrumUnits) stat(which string) func(w []float64) float64 {
	ratio := func(num, den []float64) func(w []float64) float64 {
		return func(w []float64) float64 {
			var a, b float64
			for i, wi := range w {
				a += wi * num[i]
				b += wi * den[i]
			}
			if b == 0 {
				return math.NaN()
			}
			return a / b
		}
	}
	if which == "ape" {
		return ratio(u.posSum, u.pos)
	}
	return ratio(u.neg, u.tot)
}

// profileUnits are one model's per-layer, per-image values of a quantity.
type profileUnits struct {
	layers []Layer
	x      [][]float64 // [layer][image]
	log    bool        // the quantity is the log of the mean
	n      int         // images
}

// newProfileUnits checks a profile's per-image values of quantity q
// ("highfreq" or "log_variance") and returns them.
func newProfileUnits(p Profile, q string) (profileUnits, error) {
	u := profileUnits{log: q == "log_variance", n: -1}
	for _, l := range p.Layers {
		if l.Kind == "head" {
			continue
		}
		x := l.HighFreq
		if u.log {
			x = l.Variance
		}
		if len(x) == 0 {
			return u, fmt.Errorf("layer %s has no per-image values", l.Name)
		}
		if u.n >= 0 && len(x) != u.n {
			return u, fmt.Errorf("layer %s has %d images, the layer before %d", l.Name, len(x), u.n)
		}
		u.n = len(x)
		for _, v := range x {
			if math.IsNaN(v) || math.IsInf(v, 0) || u.log && v < 0 {
				return u, fmt.Errorf("layer %s has a non-finite or negative value", l.Name)
			}
		}
		u.layers = append(u.layers, l)
		u.x = append(u.x, x)
	}
	if len(u.layers) < 2 {
		return u, fmt.Errorf("%d spatial layers, want at least 2", len(u.layers))
	}
	return u, nil
}

// means returns every layer's quantity for a weighted draw of images.
func (u profileUnits) means(w []float64) []float64 {
	q := make([]float64, len(u.x))
	for l, x := range u.x {
		q[l] = weightedMean(w, x)
		if u.log {
			q[l] = math.Log(q[l])
		}
	}
	return q
}

// changeStat is the mean over the layers of the given kinds (that have a
// layer before them) of the quantity minus that of the layer before.
func (u profileUnits) changeStat(kinds []string) (func(w []float64) float64, int) {
	var idx []int
	for l := 1; l < len(u.layers); l++ {
		if slices.Contains(kinds, u.layers[l].Kind) {
			idx = append(idx, l)
		}
	}
	// Only the layers the statistic reads are averaged.
	need := map[int]bool{}
	for _, l := range idx {
		need[l], need[l-1] = true, true
	}
	q := make([]float64, len(u.x))
	return func(w []float64) float64 {
		if len(idx) == 0 {
			return math.NaN()
		}
		for l := range need {
			q[l] = u.layerStat(l)(w)
		}
		s := 0.0
		for _, l := range idx {
			s += q[l] - q[l-1]
		}
		return s / float64(len(idx))
	}, len(idx)
}

// slopeStat is the least-squares slope of the quantity over normalised
// depth.
func (u profileUnits) slopeStat() func(w []float64) float64 {
	return func(w []float64) float64 {
		q := u.means(w)
		var md, mq float64
		for l := range q {
			md += u.layers[l].Depth
			mq += q[l]
		}
		n := float64(len(q))
		md, mq = md/n, mq/n
		var sdq, sdd float64
		for l := range q {
			d := u.layers[l].Depth - md
			sdq += d * (q[l] - mq)
			sdd += d * d
		}
		if sdd == 0 {
			return math.NaN()
		}
		return sdq / sdd
	}
}

// layerStat is one layer's quantity.
func (u profileUnits) layerStat(l int) func(w []float64) float64 {
	return func(w []float64) float64 {
		v := weightedMean(w, u.x[l])
		if u.log {
			return math.Log(v)
		}
		return v
	}
}

// noiseUnits are one model's per-image accuracy changes under noise.
type noiseUnits struct {
	bands []float64   // centres
	drop  [][]float64 // [band][image]: clean correct − noisy correct (1, 0 or −1)
	n     int
}

func newNoiseUnits(nz Noise) (noiseUnits, error) {
	u := noiseUnits{n: len(nz.Clean)}
	if u.n == 0 {
		return u, fmt.Errorf("no per-image results")
	}
	for _, b := range nz.Bands {
		if len(b.Correct) != u.n {
			return u, fmt.Errorf("band %gπ has %d images, the clean run %d", b.Center, len(b.Correct), u.n)
		}
		d := make([]float64, u.n)
		for i := range d {
			d[i] = b2f(nz.Clean[i]) - b2f(b.Correct[i])
		}
		u.bands = append(u.bands, b.Center)
		u.drop = append(u.drop, d)
	}
	return u, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// shapeStat is the mean accuracy drop over the low bands minus the mean
// over the high bands; it reports whether both kinds of band exist.
func (u noiseUnits) shapeStat(lowMax, highMin float64) (func(w []float64) float64, bool) {
	var lo, hi []int
	for b, f := range u.bands {
		switch {
		case f <= lowMax+1e-9:
			lo = append(lo, b)
		case f >= highMin-1e-9:
			hi = append(hi, b)
		}
	}
	if len(lo) == 0 || len(hi) == 0 {
		return nil, false
	}
	// Per image: mean drop over low bands minus over high bands; the
	// statistic is its mean, linear in the weights.
	d := make([]float64, u.n)
	for i := range d {
		var a, b float64
		for _, k := range lo {
			a += u.drop[k][i]
		}
		for _, k := range hi {
			b += u.drop[k][i]
		}
		d[i] = a/float64(len(lo)) - b/float64(len(hi))
	}
	return func(w []float64) float64 { return weightedMean(w, d) }, true
}

// landscapeStats are the per-slice summaries the landscape table shows.
var landscapeStats = []struct {
	key, name string
	f         func(Landscape) float64
}{
	{"centre", "NLL at the centre", func(l Landscape) float64 { return centre(l).NLL }},
	{"rise", "mean NLL rise over the grid", func(l Landscape) float64 {
		c := centre(l).NLL
		s := 0.0
		for _, p := range l.Points {
			s += p.NLL - c
		}
		return s / float64(len(l.Points))
	}},
	{"within", "share of points within 1 nat of the centre", func(l Landscape) float64 {
		c := centre(l).NLL
		n := 0
		for _, p := range l.Points {
			if p.NLL-c <= 1 {
				n++
			}
		}
		return float64(n) / float64(len(l.Points))
	}},
	{"max", "highest NLL on the grid", func(l Landscape) float64 {
		m := math.Inf(-1)
		for _, p := range l.Points {
			m = math.Max(m, p.NLL)
		}
		return m
	}},
	{"loss", "regularised loss at the centre, NLL + (wd/2)·Σ‖w‖² (the project's definition)", func(l Landscape) float64 {
		c := centre(l)
		return c.NLL + l.WeightDecay/2*c.SqNorm
	}},
	{"official", "regularised loss at the centre, NLL + wd·Σ‖w‖ (the official code's l2)", func(l Landscape) float64 {
		c := centre(l)
		return c.NLL + l.WeightDecay*c.L2
	}},
}

// centre returns the point nearest the origin of the slice.
func centre(l Landscape) LandscapePoint {
	best, bd := LandscapePoint{NLL: math.NaN(), L2: math.NaN(), SqNorm: math.NaN()}, math.Inf(1)
	for _, p := range l.Points {
		if d := p.X*p.X + p.Y*p.Y; d < bd {
			best, bd = p, d
		}
	}
	return best
}

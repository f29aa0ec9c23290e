package findings

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// BatchSpectrum is a model's minibatch max-eigenvalue spectrum as the
// further experiments (package experiments) pool it: the top-k eigenvalues
// of each minibatch's Hessian, the minibatches of every seed together.
type BatchSpectrum struct {
	Model   string
	Batches [][]float64
}

// Bootstrap settings of the further experiments' spectrum claims: the
// resamples and the fewest minibatches per model a claim is decided on.
// Their level is confidence.
const (
	pairResamples = 2000
	minBatches    = 5
)

func pooled(batches [][]float64) []float64 {
	var out []float64
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

// diffCI returns the bootstrap confidence interval of stat(a) - stat(b),
// resampling each model's minibatches with replacement (minibatches are
// the independent units; the eigenvalues of one batch are not).
func diffCI(a, b [][]float64, stat func([]float64) float64, seed uint64) (lo, hi float64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ds := make([]float64, 0, pairResamples)
	pick := func(x [][]float64) []float64 {
		var out []float64
		for range x {
			out = append(out, x[r.IntN(len(x))]...)
		}
		return out
	}
	for i := 0; i < pairResamples; i++ {
		d := stat(pick(a)) - stat(pick(b))
		if !math.IsNaN(d) {
			ds = append(ds, d)
		}
	}
	if len(ds) < pairResamples/2 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(ds)
	q := (1 - confidence) / 2
	return ds[int(q*float64(len(ds)))], ds[int((1-q)*float64(len(ds)-1))]
}

// spectraPair fills f comparing a against b: wantNEP and wantAPE are the
// claimed signs of the differences (0: not part of the claim).
func spectraPair(f Finding, a, b BatchSpectrum, an, bn string, wantNEP, wantAPE int, seed uint64) Finding {
	pa, pb := pooled(a.Batches), pooled(b.Batches)
	f.Measured = []string{
		fmt.Sprintf("%s (%s): NEP %s, APE %s, %d eigenvalues from %d minibatches", an, a.Model, g(NEP(pa)), g(APE(pa)), len(pa), len(a.Batches)),
		fmt.Sprintf("%s (%s): NEP %s, APE %s, %d eigenvalues from %d minibatches", bn, b.Model, g(NEP(pb)), g(APE(pb)), len(pb), len(b.Batches)),
	}
	if len(a.Batches) < minBatches || len(b.Batches) < minBatches {
		f.Verdict, f.Why = Inconclusive, fmt.Sprintf("fewer than %d minibatches per model", minBatches)
		return f
	}
	type part struct {
		name string
		stat func([]float64) float64
		want int
	}
	var dirs, wants []int
	var why []string
	for i, p := range []part{{"NEP", NEP, wantNEP}, {"APE", APE, wantAPE}} {
		if p.want == 0 {
			continue
		}
		lo, hi := diffCI(a.Batches, b.Batches, p.stat, seed*10+uint64(i))
		d := direction(lo, hi)
		f.Measured = append(f.Measured, fmt.Sprintf("%s(%s)-%s(%s): %s, %.0f%% interval %s", p.name, an, p.name, bn,
			g(p.stat(pa)-p.stat(pb)), 100*confidence, ciText(lo, hi)))
		dirs = append(dirs, d)
		wants = append(wants, p.want)
		switch d {
		case p.want:
			why = append(why, fmt.Sprintf("%s difference has the claimed sign", p.name))
		case 0:
			why = append(why, fmt.Sprintf("%s difference is within the noise", p.name))
		default:
			why = append(why, fmt.Sprintf("%s difference has the opposite sign", p.name))
		}
	}
	f.Verdict = Holds
	for i, d := range dirs {
		if d == -wants[i] {
			f.Verdict = DoesNotHold
			break
		}
		if d == 0 {
			f.Verdict = Inconclusive
		}
	}
	f.Why = strings.Join(why, "; ")
	return f
}

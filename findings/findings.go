package findings

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Verdict is the outcome of checking one claim.
type Verdict string

// The three verdicts.
const (
	Holds        Verdict = "holds"
	DoesNotHold  Verdict = "does not hold"
	Inconclusive Verdict = "inconclusive"
)

// Finding is one claim checked against measurements.
type Finding struct {
	// Claim is the paper's statement, Criterion how it is decided.
	Claim     string  `json:"claim"`
	Criterion string  `json:"criterion"`
	Verdict   Verdict `json:"verdict"`
	// Measured lists the numbers the verdict was decided from, as
	// "name: value" lines.
	Measured []string `json:"measured"`
	// Why says in one sentence what decided the verdict.
	Why string `json:"why"`
}

// Spectrum is a model's minibatch max-eigenvalue spectrum: the top-k
// eigenvalues of each minibatch's Hessian.
type Spectrum struct {
	Model   string
	Batches [][]float64
}

func pooled(batches [][]float64) []float64 {
	var out []float64
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

// NEP is the share of negative eigenvalues; APE the mean of the positive
// ones (docs/methods.md §2).
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

// APE returns the mean of the positive values (NaN when there are none).
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

// Bootstrap settings: resamples and the two-sided confidence level.
const (
	resamples  = 2000
	confidence = 0.90
)

// diffCI returns the bootstrap confidence interval of stat(a) - stat(b),
// resampling each model's minibatches with replacement (minibatches are
// the independent units; the eigenvalues of one batch are not).
func diffCI(a, b [][]float64, stat func([]float64) float64, seed uint64) (lo, hi float64) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ds := make([]float64, 0, resamples)
	pick := func(x [][]float64) []float64 {
		var out []float64
		for range x {
			out = append(out, x[r.IntN(len(x))]...)
		}
		return out
	}
	for i := 0; i < resamples; i++ {
		d := stat(pick(a)) - stat(pick(b))
		if !math.IsNaN(d) {
			ds = append(ds, d)
		}
	}
	if len(ds) < resamples/2 {
		return math.NaN(), math.NaN()
	}
	sort.Float64s(ds)
	q := (1 - confidence) / 2
	return ds[int(q*float64(len(ds)))], ds[int((1-q)*float64(len(ds)-1))]
}

// direction classifies a confidence interval of a difference: +1 if it is
// above 0, -1 below, 0 if it contains 0 or is undefined.
func direction(lo, hi float64) int {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
		return 0
	case lo > 0:
		return 1
	case hi < 0:
		return -1
	}
	return 0
}

// minBatches is the fewest minibatches per model a spectrum claim is
// decided on.
const minBatches = 5

func ciText(lo, hi float64) string {
	return fmt.Sprintf("[%s, %s]", g(lo), g(hi))
}

func g(v float64) string { return fmt.Sprintf("%.3g", v) }

// ViTvsResNetSpectra checks: "ViT has a larger share of negative and
// smaller positive Hessian max-eigenvalues than ResNet".
func ViTvsResNetSpectra(vit, resnet Spectrum) Finding {
	f := Finding{
		Claim: "ViT has a larger share of negative (NEP) and smaller positive (APE) Hessian max-eigenvalues than ResNet",
		Criterion: fmt.Sprintf("%.0f%% bootstrap intervals over minibatches of NEP(ViT)-NEP(ResNet) and APE(ViT)-APE(ResNet): "+
			"holds if the first is above 0 and the second below 0; does not hold if either lies entirely on the other side; "+
			"inconclusive otherwise or with fewer than %d minibatches per model", 100*confidence, minBatches),
	}
	return spectraPair(f, vit, resnet, "ViT", "ResNet", +1, -1, 1)
}

// AlterNetVsViTSpectra checks: "AlterNet's spectrum has fewer negative
// eigenvalues than ViT's".
func AlterNetVsViTSpectra(alter, vit Spectrum) Finding {
	f := Finding{
		Claim: "AlterNet's Hessian max-eigenvalue spectrum has fewer negative eigenvalues than ViT's",
		Criterion: fmt.Sprintf("%.0f%% bootstrap interval over minibatches of NEP(AlterNet)-NEP(ViT): holds if below 0, "+
			"does not hold if above 0, inconclusive if it contains 0 or with fewer than %d minibatches per model", 100*confidence, minBatches),
	}
	return spectraPair(f, alter, vit, "AlterNet", "ViT", -1, 0, 2)
}

// spectraPair fills f comparing a against b: wantNEP and wantAPE are the
// claimed signs of the differences (0: not part of the claim).
func spectraPair(f Finding, a, b Spectrum, an, bn string, wantNEP, wantAPE int, seed uint64) Finding {
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
	var dirs []int
	var wants []int
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

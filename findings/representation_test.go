package findings

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// outcomes returns n per-image outcomes, each right with probability acc.
func outcomes(r *rand.Rand, n int, acc float64) []bool {
	o := make([]bool, n)
	for i := range o {
		o[i] = r.Float64() < acc
	}
	return o
}

func study(seed uint64, n int, msaAcc, convAcc float64) LesionStudy {
	r := rand.New(rand.NewPCG(seed, 1))
	s := LesionStudy{Model: "alternet", Intact: outcomes(r, n, 0.99)}
	s.Units = []LesionUnit{
		{Name: "layer1.0", Kind: "conv", Identity: true, Correct: outcomes(r, n, convAcc)},
		{Name: "layer2.0", Kind: "down", Identity: false, Correct: outcomes(r, n, 0.1)}, // projection: left out
		{Name: "layer2.1", Kind: "msa", StageEnd: true, Identity: true, Correct: outcomes(r, n, msaAcc)},
		{Name: "layer3.1", Kind: "msa", StageEnd: true, Identity: true, Correct: outcomes(r, n, msaAcc)},
		{Name: "layer3.2", Kind: "conv", Identity: true, Correct: outcomes(r, n, convAcc)},
		{Name: "layer3.3", Kind: "msa", StageEnd: false, Identity: true, Correct: outcomes(r, n, 0.1)}, // not a stage end: left out
	}
	return s
}

func TestLesionMSAvsConv(t *testing.T) {
	if f := LesionMSAvsConv(study(1, 2000, 0.80, 0.97)); f.Verdict != Holds {
		t.Errorf("MSA lesions cost 17 pp, Conv 2: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := LesionMSAvsConv(study(2, 2000, 0.97, 0.80)); f.Verdict != DoesNotHold {
		t.Errorf("reversed: %s (%s)", f.Verdict, f.Why)
	}
	if f := LesionMSAvsConv(study(3, 300, 0.97, 0.97)); f.Verdict != Inconclusive {
		t.Errorf("equal drops: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	s := study(4, 500, 0.8, 0.97)
	var noConv []LesionUnit
	for _, u := range s.Units {
		if u.Kind != "conv" {
			noConv = append(noConv, u)
		}
	}
	s.Units = noConv
	f := LesionMSAvsConv(s)
	if f.Verdict != Inconclusive || !strings.Contains(f.Why, "identity") {
		t.Errorf("no identity Conv block: %s (%s)", f.Verdict, f.Why)
	}
	if !strings.Contains(strings.Join(f.Measured, "\n"), "layer2.0") {
		t.Errorf("the projection block left out is not named: %v", f.Measured)
	}
}

// TestLesionExactDrops: a deterministic study whose drops are known:
// intact all right; the MSA lesion breaks 30 of 100 images, the Conv one
// 10: D = 20 pp exactly, and every resample of all-positive differences
// keeps D above 0.
func TestLesionExactDrops(t *testing.T) {
	const n = 100
	all := make([]bool, n)
	for i := range all {
		all[i] = true
	}
	broken := func(k int) []bool {
		o := append([]bool(nil), all...)
		for i := range k {
			o[i*3] = false
		}
		return o
	}
	s := LesionStudy{Model: "m", Intact: all, Units: []LesionUnit{
		{Name: "m1", Kind: "msa", StageEnd: true, Identity: true, Correct: broken(30)},
		{Name: "c1", Kind: "conv", Identity: true, Correct: broken(10)},
	}}
	f := LesionMSAvsConv(s)
	if f.Verdict != Holds || !strings.Contains(strings.Join(f.Measured, "\n"), "D = +20.00 pp") {
		t.Errorf("%s: %v", f.Verdict, f.Measured)
	}
}

func corruptionOutcomes(seed uint64, n int, acc float64) CorruptionOutcomes {
	r := rand.New(rand.NewPCG(seed, 2))
	o := CorruptionOutcomes{Model: "m", Corruptions: []string{"a", "b", "c"}}
	for range o.Corruptions {
		var sev [][]bool
		for range 5 {
			sev = append(sev, outcomes(r, n, acc))
		}
		o.Outcomes = append(o.Outcomes, sev)
	}
	return o
}

func TestAlterNetCorruptionRobustness(t *testing.T) {
	base := corruptionOutcomes(1, 2000, 0.90)
	if f := AlterNetCorruptionRobustness(corruptionOutcomes(2, 2000, 0.95), base); f.Verdict != Holds {
		t.Errorf("half the errors: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := AlterNetCorruptionRobustness(corruptionOutcomes(3, 2000, 0.85), base); f.Verdict != DoesNotHold {
		t.Errorf("1.5 times the errors: %s (%s)", f.Verdict, f.Why)
	}
	small := corruptionOutcomes(4, 200, 0.90)
	if f := AlterNetCorruptionRobustness(corruptionOutcomes(5, 200, 0.90), small); f.Verdict != Inconclusive {
		t.Errorf("equal error rates: %s (%s) %v", f.Verdict, f.Why, f.Measured)
	}
	if f := AlterNetCorruptionRobustness(corruptionOutcomes(6, 100, 0.9), corruptionOutcomes(7, 100, 1)); f.Verdict != Inconclusive {
		t.Errorf("a baseline without errors: %s", f.Verdict)
	}
	if f := AlterNetCorruptionRobustness(corruptionOutcomes(6, 100, 0.9), corruptionOutcomes(7, 50, 0.9)); f.Verdict != Inconclusive {
		t.Errorf("different images: %s", f.Verdict)
	}
	// The point value against a hand computation: per corruption the
	// ratio of summed errors.
	a, b := corruptionOutcomes(8, 300, 0.8), corruptionOutcomes(9, 300, 0.7)
	ones := make([]float64, 300)
	for i := range ones {
		ones[i] = 1
	}
	var want float64
	for c := range a.Outcomes {
		var ea, eb int
		for s := range a.Outcomes[c] {
			for i := range 300 {
				if !a.Outcomes[c][s][i] {
					ea++
				}
				if !b.Outcomes[c][s][i] {
					eb++
				}
			}
		}
		want += float64(ea) / float64(eb) / 3
	}
	if got := mce(a, b, ones); math.Abs(got-want) > 1e-12 {
		t.Errorf("mCE %v, by hand %v", got, want)
	}
}

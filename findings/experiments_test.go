package findings

import (
	"math"
	"math/rand/v2"
	"testing"
)

// spectrum returns n minibatches of k eigenvalues, a share neg of them
// negative, scaled by posScale and negScale.
func spectrum(name string, n, k int, neg, posScale, negScale float64, seed uint64) BatchSpectrum {
	r := rand.New(rand.NewPCG(seed, 1))
	s := BatchSpectrum{Model: name}
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

// verdicts checks a claim's function on cases built to give each verdict.
func verdicts(t *testing.T, name string, cases map[Verdict]Finding) {
	t.Helper()
	for want, f := range cases {
		if f.Verdict != want {
			t.Errorf("%s, case built to give %q: %q (%s) %v", name, want, f.Verdict, f.Why, f.Measured)
		}
		if f.Claim == "" || f.Criterion == "" || f.Why == "" || len(f.Measured) == 0 {
			t.Errorf("%s: incomplete finding %+v", name, f)
		}
	}
}

func TestPooledSD(t *testing.T) {
	// Deviations ±1 (df 1), ±2 (df 1), a single value (df 0).
	if got, want := PooledSD([]float64{1, 3}, []float64{4, 8}, []float64{7}), math.Sqrt(5); math.Abs(got-want) > 1e-12 {
		t.Errorf("PooledSD = %g, want %g", got, want)
	}
	if !math.IsNaN(PooledSD([]float64{1})) {
		t.Error("one value: want NaN")
	}
}

func TestSpectrumClaims(t *testing.T) {
	many := spectrum("small", 40, 5, 0.4, 40, 50, 1)
	few := spectrum("large", 40, 5, 0.05, 40, 50, 2)
	same := spectrum("same", 40, 5, 0.05, 40, 50, 3)
	verdicts(t, "DataSizeSpectra", map[Verdict]Finding{
		Holds:        DataSizeSpectra(many, few, 0.02, 1),
		DoesNotHold:  DataSizeSpectra(few, many, 0.02, 1),
		Inconclusive: DataSizeSpectra(same, few, 0.02, 1),
	})
	verdicts(t, "GAPvsCLS", map[Verdict]Finding{
		Holds:        GAPvsCLS(few, many),
		DoesNotHold:  GAPvsCLS(many, few),
		Inconclusive: GAPvsCLS(same, few),
	})
	verdicts(t, "FineTuneSpectra", map[Verdict]Finding{
		Holds:        FineTuneSpectra(few, many),
		DoesNotHold:  FineTuneSpectra(many, few),
		Inconclusive: FineTuneSpectra(spectrum("tiny", 3, 5, 0, 1, 1, 4), many),
	})
	sharp := spectrum("sharp", 40, 5, 0.05, 400, 50, 5)
	flat := spectrum("flat", 40, 5, 0.05, 40, 50, 6)
	flatNeg := spectrum("flat, non-convex", 40, 5, 0.5, 40, 50, 7)
	verdicts(t, "BlurSpectra", map[Verdict]Finding{
		Holds:        BlurSpectra(flat, sharp),
		DoesNotHold:  BlurSpectra(flatNeg, sharp), // APE lower but NEP higher
		Inconclusive: BlurSpectra(spectrum("flat2", 40, 5, 0, 40, 50, 8), spectrum("flat3", 40, 5, 0, 40, 50, 8)),
	})
	if f := BlurSpectra(sharp, flat); f.Verdict != DoesNotHold {
		t.Errorf("BlurSpectra, sharper with blur: %s", f.Verdict)
	}
}

func TestTrainNLLvsTestError(t *testing.T) {
	res := SeedRuns{Model: "resnet", Fraction: 0.02, TestAcc: []float64{0.95, 0.951, 0.949}, TrainNLL: []float64{0.01, 0.011, 0.009}}
	under := SeedRuns{Model: "vit", Fraction: 0.02, TestAcc: []float64{0.80, 0.81, 0.79}, TrainNLL: []float64{0.5, 0.52, 0.48}}
	over := SeedRuns{Model: "vit", Fraction: 0.02, TestAcc: []float64{0.80, 0.81, 0.79}, TrainNLL: []float64{0.001, 0.0011, 0.0009}}
	verdicts(t, "TrainNLLvsTestError", map[Verdict]Finding{
		Holds:        TrainNLLvsTestError(under, res),
		DoesNotHold:  TrainNLLvsTestError(over, res),
		Inconclusive: TrainNLLvsTestError(res, res),
	})
}

func TestAlterNetVsCNN(t *testing.T) {
	runs := func(model string, accs ...[]float64) []SeedRuns {
		out := make([]SeedRuns, len(accs))
		for i, a := range accs {
			out[i] = SeedRuns{Model: model, Fraction: []float64{0.02, 1}[i], TestAcc: a}
		}
		return out
	}
	// The single seeds at 100% borrow the SD pooled over the 2% seeds
	// (1 pp): a difference there must exceed 2·sqrt(2)·1 pp.
	cnn := runs("resnet", []float64{0.90, 0.91, 0.89}, []float64{0.960})
	better := runs("alternet", []float64{0.95, 0.96, 0.94}, []float64{0.999})
	mixed := runs("alternet", []float64{0.95, 0.96, 0.94}, []float64{0.970})
	worse := runs("alternet", []float64{0.95, 0.96, 0.94}, []float64{0.92})
	verdicts(t, "AlterNetVsCNN", map[Verdict]Finding{
		Holds:        AlterNetVsCNN(better, cnn),
		Inconclusive: AlterNetVsCNN(mixed, cnn),
		DoesNotHold:  AlterNetVsCNN(worse, cnn),
	})
}

func TestLocalVsGlobal(t *testing.T) {
	global := []float64{0.95, 0.96}
	verdicts(t, "LocalVsGlobal", map[Verdict]Finding{
		Holds:        LocalVsGlobal(global, map[int][]float64{3: {0.96, 0.97}, 5: {0.94, 0.95}}),
		DoesNotHold:  LocalVsGlobal(global, map[int][]float64{3: {0.90, 0.91}, 5: {0.91, 0.92}}),
		Inconclusive: LocalVsGlobal(global, map[int][]float64{3: {0.945, 0.955}, 5: {0.94, 0.95}}),
	})
	if f := LocalVsGlobal([]float64{0.9}, map[int][]float64{3: {0.9}}); f.Verdict != Inconclusive {
		t.Errorf("one seed: %s", f.Verdict)
	}
}

func TestBuildUpClaim(t *testing.T) {
	last := BuildUpTrial{Pattern: "C,CC,CC,CCCM", Stage: 3, Diff: 0.01, DiffSE: 0.002, Kept: true}
	third := BuildUpTrial{Pattern: "C,CC,CM,CCCM", Stage: 2, Diff: -0.001, DiffSE: 0.002}
	lastBad := BuildUpTrial{Pattern: "C,CC,CC,CCCM", Stage: 3, Diff: -0.01, DiffSE: 0.002}
	lastNoise := BuildUpTrial{Pattern: "C,CC,CC,CCCM", Stage: 3, Diff: 0.001, DiffSE: 0.002}
	first := BuildUpTrial{Pattern: "CM,CC,CC,CCCC", Stage: 0, Diff: 0.01, DiffSE: 0.002, Kept: true}
	verdicts(t, "BuildUp", map[Verdict]Finding{
		Holds:        BuildUp([]BuildUpTrial{last, third}, 4, "C,CC,CC,CCCM"),
		DoesNotHold:  BuildUp([]BuildUpTrial{lastBad, third}, 4, "C,CC,CC,CCCC"),
		Inconclusive: BuildUp([]BuildUpTrial{lastNoise, third}, 4, "C,CC,CC,CCCC"),
	})
	if f := BuildUp([]BuildUpTrial{lastNoise, third, first}, 4, "CM,CC,CC,CCCC"); f.Verdict != DoesNotHold {
		t.Errorf("only a first-stage MSA kept: %s", f.Verdict)
	}
}

func TestTrajectories(t *testing.T) {
	vit := TrajectoryEnd{Model: "vit", RelDistance: []float64{0.50, 0.51, 0.49}, Angle: []float64{30, 31, 29}}
	far := TrajectoryEnd{Model: "resnet", RelDistance: []float64{1.0, 1.01, 0.99}, Angle: []float64{30, 31, 29}}
	// 3% apart, with tiny seed noise: measurable, but the same path.
	near := TrajectoryEnd{Model: "resnet", RelDistance: []float64{0.515, 0.516, 0.514}, Angle: []float64{30, 30.1, 29.9}}
	// 40% apart on average but with seeds all over the place.
	noisy := TrajectoryEnd{Model: "resnet", RelDistance: []float64{0.2, 1.2, 0.7}, Angle: []float64{30, 31, 29}}
	verdicts(t, "Trajectories", map[Verdict]Finding{
		Holds:        Trajectories(vit, far),
		DoesNotHold:  Trajectories(vit, near),
		Inconclusive: Trajectories(vit, noisy),
	})
	if f := Trajectories(TrajectoryEnd{RelDistance: []float64{1}, Angle: []float64{1}}, far); f.Verdict != Inconclusive {
		t.Errorf("one seed: %s", f.Verdict)
	}
}

func TestStatInterval(t *testing.T) {
	// Identical minibatches: every resample pools the same values.
	same := [][]float64{{-1, 2, 3}, {-1, 2, 3}, {-1, 2, 3}}
	v, lo, hi := StatInterval(same, NEP, 1)
	if math.Abs(v-1.0/3) > 1e-12 || lo != v || hi != v {
		t.Errorf("identical batches: NEP %g [%g, %g], want 1/3 exactly", v, lo, hi)
	}
	// Half the batches all negative, half all positive: NEP 0.5 with an
	// interval around it, inside [0, 1].
	var mixed [][]float64
	for i := 0; i < 20; i++ {
		mixed = append(mixed, []float64{float64(2*(i%2) - 1)})
	}
	v, lo, hi = StatInterval(mixed, NEP, 2)
	if v != 0.5 || !(lo < 0.5 && hi > 0.5 && lo >= 0.25 && hi <= 0.75) {
		t.Errorf("mixed batches: NEP %g [%g, %g], want 0.5 inside a 90%% interval within ±0.25", v, lo, hi)
	}
}

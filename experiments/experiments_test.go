package experiments

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

func tinyLab(t *testing.T) *Lab {
	t.Helper()
	if _, err := torchx.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	return &Lab{Dir: t.TempDir(), Budget: TinyBudget(), MeasureSpec: TinyMeasure(), Threads: 1}
}

// TestConfigBudget: every run takes the budget's steps whatever its data
// size, with warm-up over the same share of them.
func TestConfigBudget(t *testing.T) {
	l := tinyLab(t)
	l.Budget.Steps, l.Budget.Batch, l.Budget.WarmupShare = 400, 64, 0.2
	for _, c := range []struct {
		fraction float64
		perEpoch int
	}{{0.02, 1200 / 64}, {1, 60000 / 64}} {
		cfg, err := l.Config(RunSpec{Model: "resnet-mini", Dataset: "mnist", Fraction: c.fraction})
		if err != nil {
			t.Fatal(err)
		}
		wantEpochs := (400 + c.perEpoch - 1) / c.perEpoch
		if cfg.MaxSteps != 400 || cfg.Epochs != wantEpochs || math.Abs(cfg.WarmupEpochs*float64(c.perEpoch)-80) > 1e-9 {
			t.Errorf("fraction %v: %d epochs, max %d steps, warm-up %.3f epochs; want %d, 400, 80 steps", c.fraction, cfg.Epochs, cfg.MaxSteps, cfg.WarmupEpochs, wantEpochs)
		}
	}
	a, _ := l.Config(RunSpec{Model: "vit-mini", Dataset: "mnist", Fraction: 0.02})
	b, _ := l.Config(RunSpec{Model: "vit-mini", Dataset: "mnist", Fraction: 0.02, GAP: true})
	da, db := runDir(RunSpec{Model: "vit-mini", Dataset: "mnist", Fraction: 0.02}, a), runDir(RunSpec{Model: "vit-mini", Dataset: "mnist", Fraction: 0.02, GAP: true}, b)
	if da == db || !strings.HasPrefix(da, "vit-mini-mnist-f0.02-s0-") || !strings.Contains(db, "-gap-") {
		t.Errorf("run folders %q and %q", da, db)
	}
	if d := runDir(RunSpec{Model: "alternet-mini:C,CM,CM,CM", Dataset: "mnist:5-9"}, a); strings.ContainsAny(d, ":,/") {
		t.Errorf("run folder %q has a colon, comma or slash", d)
	}
	l.Budget.Batch = 2000
	if _, err := l.Config(RunSpec{Model: "vit-mini", Dataset: "mnist", Fraction: 0.02}); err == nil {
		t.Error("a batch larger than the training subset: no error")
	}
}

// TestMeasure trains a tiny run and checks its measurement against
// independent computations: the top eigenvalue of a minibatch by power
// iteration, the NLL at the centre of a slice by plain evaluation. A
// second call reuses the measurement; after the measurement file is lost,
// the Hessian journal still is, and the eigenvalues come back the same.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny run")
	}
	l := tinyLab(t)
	ctx := context.Background()
	run, err := l.Train(ctx, RunSpec{Model: "resnet-mini", Dataset: "mnist", Fraction: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Measure(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	spec := l.MeasureSpec
	// Stratified subsets round each class's share: a few more or less.
	near := func(n, want int) bool { return n >= want-10 && n <= want+10 }
	if len(m.Eigen) != spec.Batches || len(m.Eigen[0]) != spec.K || !near(m.TestN, spec.TestImages) || !near(m.TrainN, spec.TrainImages) ||
		!(m.NEP >= 0 && m.NEP <= 1) || m.Slices == nil || len(m.Slices.NLL) != spec.Directions || len(m.Slices.X) != spec.Points {
		t.Fatalf("measurement %+v", m)
	}

	// Batch 0's top eigenvalue by power iteration (PyHessian's defaults,
	// tightened) on the warm-up checkpoint: Lanczos's, to its tolerance.
	model, ck, err := models.Load(run.Warmup, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	d, _ := l.dataset("mnist", data.Train)
	idx, _, _ := train.Split(d, run.Config)
	mb, err := analysis.NewMinibatches(d, idx, spec.BatchSize, spec.Batches, 0, data.Augment{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := mb.Batch(0)
	h, err := analysis.NewBatchHessian(model, b, &analysis.HessianOptions{WeightDecay: run.Config.WeightDecay})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	e, err := hessian.PowerIteration(h, 1, &hessian.PowerSettings{Tol: 1e-6, MaxIter: 500})
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Eigen[0][0], e.Values[0]; math.Abs(got-want) > 1e-2*math.Abs(want) {
		t.Errorf("top eigenvalue of batch 0: %g, power iteration %g (checkpoint %s)", got, want, ck.Phase)
	}

	// The slice's centre is the final checkpoint itself.
	final, _, err := models.Load(run.Final, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer final.Close()
	sub, _ := d.SubsetOf(idx, float64(spec.LandscapeImages)/float64(len(idx)), 1)
	ev, err := train.Evaluate(final, d, sub, 50)
	if err != nil {
		t.Fatal(err)
	}
	for k, row := range m.Slices.NLL {
		if c := row[len(row)/2]; math.Abs(c-ev.NLL) > 1e-4*math.Max(1, ev.NLL) {
			t.Errorf("slice %d: NLL %g at 0, plain evaluation %g", k, c, ev.NLL)
		}
	}

	again, err := l.Measure(ctx, run)
	if err != nil || again.Key != m.Key || !slices.Equal(again.Eigen[1], m.Eigen[1]) || again.Seconds["hessian"] != m.Seconds["hessian"] {
		t.Errorf("a second call did not reuse the measurement: %v", err)
	}
	if err := os.Remove(filepath.Join(run.Dir, "measure-"+m.Key+".json")); err != nil {
		t.Fatal(err)
	}
	redo, err := l.Measure(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Eigen {
		if !slices.Equal(redo.Eigen[i], m.Eigen[i]) {
			t.Errorf("batch %d: %v from the journal, %v before", i, redo.Eigen[i], m.Eigen[i])
		}
	}
	if redo.Seconds["hessian"] > 0.5*m.Seconds["hessian"] && m.Seconds["hessian"] > 2 {
		t.Errorf("the journaled spectrum took %.1f s again (%.1f s the first time)", redo.Seconds["hessian"], m.Seconds["hessian"])
	}
}

// TestBuildUpAndReport runs the rule for one candidate on the tiny
// budget, checks that its preset string builds, and writes the report.
func TestBuildUpAndReport(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four tiny runs")
	}
	l := tinyLab(t)
	p := TinyPlans().BuildUp
	p.MaxTrials = 1
	res, err := BuildUp(context.Background(), l, p)
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Result.Trials
	if len(tr) != 2 || tr[0].Pattern != "C,CC,CC,CCCC" || tr[1].Pattern != "C,CC,CC,CCCM" || len(tr[1].Accs) != 2 {
		t.Fatalf("trials %+v", tr)
	}
	want := "alternet-mini:C,CC,CC,CCCC"
	if tr[1].Kept {
		want = "alternet-mini:C,CC,CC,CCCM"
	}
	if res.Preset != want {
		t.Errorf("preset %q, want %q", res.Preset, want)
	}
	cfg, _ := models.Defaults(res.Preset)
	m, err := models.New(res.Preset, cfg, gotch.CPU)
	if err != nil {
		t.Fatalf("the preset string does not build: %v", err)
	}
	m.Close()
	path, err := WriteReport(l, []Part{res})
	if err != nil {
		t.Fatal(err)
	}
	n, err := reports.CheckPageImages(path)
	if err != nil || n != 1 {
		t.Errorf("report: %d images, %v", n, err)
	}
	page, _ := os.ReadFile(path)
	for _, s := range []string{"C,CC,CC,CCCM", "trial log", res.Preset, "build-up rule"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("the report does not mention %q", s)
		}
	}
	// Every candidate was scored on the same validation examples.
	var vals [][]int
	for _, s := range []uint64{0, 1} {
		c, _ := l.Config(RunSpec{Model: p.Base + ":" + p.Start, Dataset: p.Dataset, Fraction: p.Fraction, Validation: p.Validation, Seed: s})
		d, _ := l.dataset("mnist", data.Train)
		_, v, _ := train.Split(d, c)
		vals = append(vals, v)
	}
	if !slices.Equal(vals[0], vals[1]) || len(vals[0]) == 0 {
		t.Error("the seeds' validation splits differ")
	}
}

func TestBootstrapMean(t *testing.T) {
	iv := bootstrapMean([]float64{2, 2, 2}, 1)
	if iv.Value != 2 || iv.Lo != 2 || iv.Hi != 2 {
		t.Errorf("constant values: %+v", iv)
	}
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i % 2) // mean 0.5, standard error 0.05
	}
	iv = bootstrapMean(v, 2)
	if iv.Value != 0.5 || !(iv.Lo > 0.35 && iv.Lo < 0.45 && iv.Hi > 0.55 && iv.Hi < 0.65) {
		t.Errorf("0/1 values: %+v, want 0.5 within about ±1.645·0.05", iv)
	}
}

// TestSlicesJSON: a diverged point (NaN or infinite NLL) survives a round
// trip through JSON as NaN.
func TestSlicesJSON(t *testing.T) {
	in := Slices{X: []float64{-1, 0, 1}, NLL: [][]float64{{3, 1, math.Inf(1)}, {2, 1, math.NaN()}}, Rise: []float64{math.Inf(1), math.NaN()}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Slices
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.X, in.X) || out.NLL[0][0] != 3 || out.NLL[1][1] != 1 || !math.IsNaN(out.NLL[0][2]) || !math.IsNaN(out.NLL[1][2]) ||
		!math.IsNaN(out.Rise[0]) || !strings.Contains(string(b), "null") {
		t.Errorf("round trip: %s -> %+v", b, out)
	}
}

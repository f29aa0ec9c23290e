package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"gonum.org/v1/plot"

	"github.com/vitprobe/vitprobe/buildup"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/pattern"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/train"
)

// BuildUpPlan runs the build-up rule (package buildup) on the lab's
// budget: every candidate is trained from each seed on the training split
// minus a held-out validation split and scored by validation accuracy.
type BuildUpPlan struct {
	// Base is the AlterNet-family preset whose widths, heads and window
	// the patterns use; Start the pattern the rule starts from.
	Base  string `json:"base"`
	Start string `json:"start"`
	// Heads, if not nil, are the MSA heads per stage (nil: the base's).
	Heads      []int    `json:"heads,omitempty"`
	Dataset    string   `json:"dataset"`
	Fraction   float64  `json:"fraction"`
	Validation float64  `json:"validation"`
	Seeds      []uint64 `json:"seeds"`
	Z          float64  `json:"z"`
	MinStage   int      `json:"min_stage"`
	MaxTrials  int      `json:"max_trials"`
}

// DefaultBuildUpPlan starts from the convolutional baseline of
// alternet-mini with a fourth stage of four blocks (as the paper's
// AlterNet adds a block to ResNet-50's last stage): C,CC,CC,CCCC; 20% of
// MNIST's training split for training, 5% (3,000 images) held out for
// validation; two seeds; a margin of one standard error; at most 5
// candidates.
func DefaultBuildUpPlan() BuildUpPlan {
	return BuildUpPlan{Base: "alternet-mini", Start: "C,CC,CC,CCCC", Dataset: "mnist", Fraction: 0.2, Validation: 0.05,
		Seeds: []uint64{0, 1}, Z: 1, MaxTrials: 5}
}

// BuildUpResult is the rule's trial log and what it arrives at.
type BuildUpResult struct {
	Plan   BuildUpPlan     `json:"plan"`
	Result *buildup.Result `json:"result"`
	// Preset is the final architecture as a preset string for train and
	// every analysis.
	Preset string `json:"preset"`
	// Describe is models.Describe(Preset).
	Describe string `json:"describe"`
	// TrainSeconds is the training time of every run the rule used.
	TrainSeconds float64 `json:"train_seconds"`
}

func (p BuildUpPlan) name(st pattern.Stages) string {
	return pattern.Name{Base: p.Base, Stages: st, Heads: p.Heads}.String()
}

// BuildUp runs the rule; runs and scores are reused from the lab.
func BuildUp(ctx context.Context, l *Lab, p BuildUpPlan) (*BuildUpResult, error) {
	start, err := pattern.Parse(p.Start)
	if err != nil {
		return nil, err
	}
	if _, err := models.Describe(p.name(start)); err != nil {
		return nil, err
	}
	res := &BuildUpResult{Plan: p}
	eval := func(ctx context.Context, st pattern.Stages, seed uint64) (float64, error) {
		s := RunSpec{Model: p.name(st), Dataset: p.Dataset, Fraction: p.Fraction, Validation: p.Validation, Seed: seed}
		r, err := l.Train(ctx, s)
		if err != nil {
			return 0, err
		}
		res.TrainSeconds += r.TrainSeconds
		return l.validationAccuracy(r)
	}
	js, _ := json.Marshal(l.Budget)
	dir := filepath.Join(l.Dir, "buildup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	out, err := buildup.Run(ctx, start, eval, buildup.Options{Seeds: p.Seeds, Z: p.Z, MinStage: p.MinStage, MaxTrials: p.MaxTrials,
		Journal: filepath.Join(dir, "journal.jsonl"),
		Settings: map[string]string{"base": p.Base, "heads": fmt.Sprint(p.Heads), "dataset": p.Dataset, "fraction": fmt.Sprint(p.Fraction),
			"validation": fmt.Sprint(p.Validation), "budget": string(js)}})
	if err != nil {
		return nil, err
	}
	final, _ := pattern.Parse(out.Final)
	res.Result, res.Preset = out, p.name(final)
	res.Describe, _ = models.Describe(res.Preset)
	return res, saveResult(l.Dir, res.Name(), res)
}

// validationAccuracy evaluates a run's final checkpoint on its held-out
// validation examples (cached beside the checkpoint).
func (l *Lab) validationAccuracy(r *Run) (float64, error) {
	ck, err := models.ReadCheckpoint(r.Final)
	if err != nil {
		return 0, err
	}
	cache := filepath.Join(r.Dir, "validation-"+ck.WeightsSHA256[:16]+".json")
	var ev train.Eval
	if b, err := os.ReadFile(cache); err == nil && json.Unmarshal(b, &ev) == nil && ev.N > 0 {
		return ev.Accuracy, nil
	}
	d, err := l.dataset(r.Config.Dataset, data.Train)
	if err != nil {
		return 0, err
	}
	_, val, err := train.Split(d, r.Config)
	if err != nil {
		return 0, err
	}
	if len(val) == 0 {
		return 0, fmt.Errorf("experiments: %s holds no validation split out", r.Spec.Label())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, _, err := models.Load(r.Final, gotch.CPU)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	if ev, err = train.Evaluate(m, d, val, 250); err != nil {
		return 0, fmt.Errorf("experiments: %s: validation: %w", r.Spec.Label(), err)
	}
	js, _ := json.Marshal(ev)
	if err := atomicfile.WriteFile(cache, js); err != nil {
		return 0, err
	}
	return ev.Accuracy, nil
}

// Name implements Part.
func (r *BuildUpResult) Name() string { return "buildup" }

// Findings implements Part.
func (r *BuildUpResult) Findings() []findings.Finding {
	var ts []findings.BuildUpTrial
	for _, t := range r.Result.Trials[1:] {
		ts = append(ts, findings.BuildUpTrial{Pattern: t.Pattern, Stage: t.Stage, Diff: t.Diff, DiffSE: t.DiffSE, Kept: t.Kept})
	}
	start, _ := pattern.Parse(r.Result.Start)
	return []findings.Finding{findings.BuildUp(ts, len(start), r.Result.Final)}
}

// TrialTable is the rule's trial log as a table.
func (r *BuildUpResult) TrialTable() *reports.Table {
	t := &reports.Table{Caption: "trial log", Header: []string{"trial", "candidate", "MSA at", "MSAs", "validation accuracy (%), per seed",
		"mean ± SE (%)", "vs current (pp)", "kept", "why"}}
	for _, tr := range r.Result.Trials {
		at := "–"
		if tr.Stage >= 0 {
			at = fmt.Sprintf("stage %d, block %d", tr.Stage+1, tr.Block+1)
		}
		accs := make([]string, len(tr.Accs))
		for i, a := range tr.Accs {
			accs[i] = fmt.Sprintf("%.2f", 100*a)
		}
		vs := "–"
		if tr.Stage >= 0 {
			vs = fmt.Sprintf("%+.2f ± %.2f", 100*tr.Diff, 100*tr.DiffSE)
		}
		t.Rows = append(t.Rows, []string{fmt.Sprint(tr.N), tr.Pattern, at, fmt.Sprint(tr.MSAs), strings.Join(accs, ", "),
			fmt.Sprintf("%.2f ± %.2f", 100*tr.Mean, 100*tr.SE), vs, map[bool]string{true: "yes", false: "no"}[tr.Kept], tr.Why})
	}
	return t
}

// Section implements Part.
func (r *BuildUpResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "The build-up rule (Fig. 11, 12a)"}
	p := r.Plan
	s.Blocks = append(s.Blocks,
		reports.Block{Text: fmt.Sprintf("From %s (%s's stages, all convolutional), MSA blocks replace convolutional blocks one at a time "+
			"from the end of the last stage, alternately; a candidate is kept when its mean validation accuracy over seeds %v beats the "+
			"current pattern's by more than %g standard errors (seed-to-seed standard deviation pooled over all trials: %.2f pp); "+
			"otherwise the rule moves to the end of the previous stage. Training: %s of %s minus a %s validation split.",
			r.Result.Start, p.Base, p.Seeds, r.Result.Z, 100*r.Result.PooledSD, pct(p.Fraction), p.Dataset, pct(p.Validation))},
		reports.Block{Pre: fmt.Sprintf("final pattern: %s\npreset string: %s\n%s\nthe paper's Alter-ResNet-50: CCC,CCCM,CCCCCM,CMCM (MSAs at the ends of stages 2-4, two in the last)",
			r.Result.Final, r.Preset, r.Describe)},
		reports.Block{Table: findingsTable(r.Findings())},
		reports.Block{Table: r.TrialTable()})
	var kept, rejected reports.IntervalSeries
	kept.Label, rejected.Label = "kept (the rule's path)", "not kept"
	kept.Color, rejected.Color = 1, 2
	rejected.NoLine, rejected.Hollow = true, true
	for _, t := range r.Result.Trials {
		ser := &rejected
		if t.Kept {
			ser = &kept
		}
		ser.X, ser.Y, ser.Err = append(ser.X, float64(t.MSAs)), append(ser.Y, 100*t.Mean), append(ser.Err, 100*t.SE)
		ser.Labels = append(ser.Labels, t.Pattern)
	}
	series := []reports.IntervalSeries{kept}
	if len(rejected.X) > 0 {
		series = append(series, rejected)
	}
	maxMSA := slices.Max(append(kept.X, rejected.X...))
	s.Blocks = append(s.Blocks, figure(dir, r.Name(), "fig12a-buildup.png",
		"Fig. 12a style: validation accuracy against the number of MSA blocks, every candidate (mean ± standard error over seeds), labelled with its pattern.",
		func(path string) error {
			return saveFigure(path)(reports.IntervalPlot(series, &reports.IntervalPlotOptions{Title: "Build-up: accuracy against MSA blocks",
				XLabel: "number of MSA blocks", YLabel: "validation accuracy (%)", XTicks: intTicks(int(maxMSA))}))
		}))
	return s, nil
}

func intTicks(n int) []plot.Tick {
	out := make([]plot.Tick, n+1)
	for i := range out {
		out[i] = plot.Tick{Value: float64(i), Label: fmt.Sprint(i)}
	}
	return out
}

package experiments

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/trajectory"
)

// TrajectoryPlan follows the weights of several models during training
// (the paper's Fig. 1b), from the runs' snapshots (Budget.Snapshots).
type TrajectoryPlan struct {
	Models   []string `json:"models"`
	Dataset  string   `json:"dataset"`
	Fraction float64  `json:"fraction"`
	Seeds    int      `json:"seeds"`
}

// DefaultTrajectoryPlan is the three minis on 6% of MNIST, two seeds (the
// data-size study's runs).
func DefaultTrajectoryPlan() TrajectoryPlan {
	return TrajectoryPlan{Models: []string{"vit-mini", "resnet-mini", "alternet-mini"}, Dataset: "mnist", Fraction: 0.06, Seeds: 2}
}

// TrajectoryRun is one run's trajectory.
type TrajectoryRun struct {
	Run    RunSpec            `json:"run"`
	Points []trajectory.Point `json:"points"`
	// WarmupStep is the step of the end of warm-up.
	WarmupStep int64 `json:"warmup_step"`
}

// TrajectoryResult holds the trajectories per model.
type TrajectoryResult struct {
	Plan TrajectoryPlan             `json:"plan"`
	Runs map[string][]TrajectoryRun `json:"runs"`
}

// Trajectories trains (or finds) the plan's runs and reads their
// snapshots.
func Trajectories(ctx context.Context, l *Lab, p TrajectoryPlan) (*TrajectoryResult, error) {
	if l.Budget.Snapshots == 0 {
		return nil, fmt.Errorf("experiments: trajectories need snapshots (Budget.Snapshots > 0)")
	}
	r := &TrajectoryResult{Plan: p, Runs: map[string][]TrajectoryRun{}}
	for _, model := range p.Models {
		for _, s := range seeds(RunSpec{Model: model, Dataset: p.Dataset, Fraction: p.Fraction}, p.Seeds) {
			run, err := l.Train(ctx, s)
			if err != nil {
				return nil, err
			}
			pts, err := trajectory.ReadRun(run.Dir)
			if err != nil {
				return nil, fmt.Errorf("experiments: %s: %w", s.Label(), err)
			}
			warm := int64(math.Round(l.Budget.WarmupShare * float64(l.Budget.Steps)))
			r.Runs[model] = append(r.Runs[model], TrajectoryRun{Run: s, Points: pts, WarmupStep: warm})
		}
	}
	return r, saveResult(l.Dir, r.Name(), r)
}

// Name implements Part.
func (r *TrajectoryResult) Name() string { return "trajectories" }

// end returns the relative distance and angle (degrees) of every seed's
// last snapshot.
func (r *TrajectoryResult) end(model string) findings.TrajectoryEnd {
	e := findings.TrajectoryEnd{Model: model}
	for _, t := range r.Runs[model] {
		p := t.Points[len(t.Points)-1]
		e.RelDistance = append(e.RelDistance, p.RelDistance)
		e.Angle = append(e.Angle, p.Angle*180/math.Pi)
	}
	return e
}

func (r *TrajectoryResult) model(prefix string) string {
	for _, m := range r.Plan.Models {
		if strings.HasPrefix(m, prefix) {
			return m
		}
	}
	return ""
}

// Findings implements Part: ViT against ResNet.
func (r *TrajectoryResult) Findings() []findings.Finding {
	vit, res := r.model("vit"), r.model("resnet")
	if vit == "" || res == "" {
		return nil
	}
	return []findings.Finding{findings.Trajectories(r.end(vit), r.end(res))}
}

// Section implements Part.
func (r *TrajectoryResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "Trajectories (Fig. 1b)"}
	s.Blocks = append(s.Blocks,
		reports.Block{Text: fmt.Sprintf("The trainable weights w of each run, snapshot every few steps, in polar coordinates around the "+
			"origin of weight space relative to the initial weights w0: radius ‖w − w0‖/‖w0‖, angle ∠(w, w0). %s of %s, %d seeds per model.",
			pct(r.Plan.Fraction), r.Plan.Dataset, r.Plan.Seeds)},
		reports.Block{Table: findingsTable(r.Findings())})
	t := &reports.Table{Caption: "end of warm-up and last snapshot (mean ± standard error over seeds)",
		Header: []string{"model", "seeds", "distance at warm-up", "angle at warm-up (°)", "distance at the end", "angle at the end (°)", "‖w0‖"}}
	var series []reports.PolarSeries
	var flat []reports.IntervalSeries
	for mi, model := range r.Plan.Models {
		var dw, aw, de, ae, n0 []float64
		for si, tr := range r.Runs[model] {
			ps := reports.PolarSeries{Color: mi + 1, Dashed: si > 0}
			if si == 0 {
				ps.Label = model
			}
			fs := reports.IntervalSeries{Label: ps.Label, Color: mi + 1, Hollow: si > 0}
			for _, p := range tr.Points {
				ps.R, ps.Theta = append(ps.R, p.RelDistance), append(ps.Theta, p.Angle)
				fs.X, fs.Y = append(fs.X, p.RelDistance), append(fs.Y, p.Angle*180/math.Pi)
			}
			series, flat = append(series, ps), append(flat, fs)
			w := nearest(tr.Points, tr.WarmupStep)
			last := tr.Points[len(tr.Points)-1]
			dw, aw = append(dw, w.RelDistance), append(aw, w.Angle*180/math.Pi)
			de, ae = append(de, last.RelDistance), append(ae, last.Angle*180/math.Pi)
			if last.RelDistance > 0 {
				n0 = append(n0, last.Distance/last.RelDistance)
			}
		}
		t.Rows = append(t.Rows, []string{model, fmt.Sprint(len(r.Runs[model])), fmtMeanSE(dw, 1, 3), fmtMeanSE(aw, 1, 2),
			fmtMeanSE(de, 1, 3), fmtMeanSE(ae, 1, 2), fmtMeanSE(n0, 1, 1)})
	}
	// Reference: a move orthogonal to w0 by a small relative distance r
	// turns the weights by θ ≈ r radians; points off this line moved
	// radially too (the weights' norm grew or shrank).
	rmax := 0.0
	for _, f := range flat {
		for _, x := range f.X {
			rmax = math.Max(rmax, x)
		}
	}
	flat = append([]reports.IntervalSeries{{Label: "θ = r (orthogonal moves)", Color: 8, Guide: true,
		X: []float64{0, rmax}, Y: []float64{0, rmax * 180 / math.Pi}}}, flat...)
	s.Blocks = append(s.Blocks, reports.Block{Table: t},
		figure(dir, r.Name(), "fig1b-polar.png", "Fig. 1b style: trajectories in polar coordinates (radius: distance from the initial weights relative to their norm; angle: between the weights and the initial weights); dashed: further seeds.",
			func(path string) error {
				return saveFigure(path)(reports.TrajectoryPolar(series, &reports.PolarOptions{Title: "Weight trajectories", RLabel: "‖w − w0‖ / ‖w0‖"}))
			}),
		figure(dir, r.Name(), "angle-vs-distance.png", "The same trajectories unrolled: angle to the initial weights against the relative distance from them, one point per snapshot (hollow: further seeds).",
			func(path string) error {
				return saveFigure(path)(reports.IntervalPlot(flat, &reports.IntervalPlotOptions{Title: "Angle against distance",
					XLabel: "‖w − w0‖ / ‖w0‖", YLabel: "angle ∠(w, w0) (degrees)"}))
			}))
	return s, nil
}

// nearest returns the point whose step is closest to step.
func nearest(pts []trajectory.Point, step int64) trajectory.Point {
	best := pts[0]
	for _, p := range pts {
		if abs64(p.Step-step) < abs64(best.Step-step) {
			best = p
		}
	}
	return best
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

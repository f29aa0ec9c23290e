package experiments

import (
	"context"
	"fmt"

	"gonum.org/v1/plot"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
)

// LocalityPlan compares ViT with local attention of several window sizes
// against global attention, with the same budget (the paper's Fig. 7).
type LocalityPlan struct {
	Model    string  `json:"model"`
	Dataset  string  `json:"dataset"`
	Fraction float64 `json:"fraction"`
	Windows  []int   `json:"windows"`
	Seeds    int     `json:"seeds"`
}

// DefaultLocalityPlan is vit-mini (8×8 patch tokens) with 3×3 and 5×5
// windows and global attention on 6% of MNIST, two seeds (global: the
// data-size study's runs).
func DefaultLocalityPlan() LocalityPlan {
	return LocalityPlan{Model: "vit-mini", Dataset: "mnist", Fraction: 0.06, Windows: []int{3, 5}, Seeds: 2}
}

// LocalityResult holds a group per window and the global one.
type LocalityResult struct {
	Plan   LocalityPlan `json:"plan"`
	Local  []Group      `json:"local"`
	Global Group        `json:"global"`
}

// Locality trains and measures the plan's runs.
func Locality(ctx context.Context, l *Lab, p LocalityPlan) (*LocalityResult, error) {
	r := &LocalityResult{Plan: p}
	for _, w := range p.Windows {
		g, err := l.group(ctx, fmt.Sprintf("window %dx%d", w, w), seeds(RunSpec{Model: p.Model, Dataset: p.Dataset, Fraction: p.Fraction, Window: w}, p.Seeds))
		if err != nil {
			return nil, err
		}
		r.Local = append(r.Local, g)
	}
	g, err := l.group(ctx, "global", seeds(RunSpec{Model: p.Model, Dataset: p.Dataset, Fraction: p.Fraction}, p.Seeds))
	if err != nil {
		return nil, err
	}
	r.Global = g
	return r, saveResult(l.Dir, r.Name(), r)
}

// Name implements Part.
func (r *LocalityResult) Name() string { return "locality" }

// Findings implements Part.
func (r *LocalityResult) Findings() []findings.Finding {
	local := map[int][]float64{}
	for i, w := range r.Plan.Windows {
		local[w] = r.Local[i].TestAcc()
	}
	return []findings.Finding{findings.LocalVsGlobal(r.Global.TestAcc(), local)}
}

// Section implements Part.
func (r *LocalityResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "Local vs global attention (Fig. 7)"}
	all := append(append([]Group(nil), r.Local...), r.Global)
	s.Blocks = append(s.Blocks,
		reports.Block{Text: fmt.Sprintf("%s with attention restricted to a w×w neighbourhood of patch tokens (the class token stays "+
			"global) against global attention, on %s of %s, %d seeds each, the same budget.", r.Plan.Model, pct(r.Plan.Fraction), r.Plan.Dataset, r.Plan.Seeds)},
		reports.Block{Table: findingsTable(r.Findings())},
		reports.Block{Table: groupTable("windows", all)})
	var acc, nep reports.IntervalSeries
	var ticks []plot.Tick
	for i, g := range all {
		x := float64(i + 1)
		ticks = append(ticks, plot.Tick{Value: x, Label: g.Label})
		m, se := meanSE(g.TestAcc())
		acc.X, acc.Y, acc.Err = append(acc.X, x), append(acc.Y, 100*m), append(acc.Err, 100*se)
		iv := g.NEP()
		nep.X, nep.Y, nep.Lo, nep.Hi = append(nep.X, x), append(nep.Y, iv.Value), append(nep.Lo, iv.Lo), append(nep.Hi, iv.Hi)
	}
	acc.Label, nep.Label = "test accuracy (mean ± standard error over seeds)", "NEP (90% interval over minibatches)"
	acc.NoLine, nep.NoLine = true, true
	s.Blocks = append(s.Blocks,
		figure(dir, r.Name(), "accuracy.png", "Test accuracy per attention window.", func(path string) error {
			return saveFigure(path)(reports.IntervalPlot([]reports.IntervalSeries{acc}, &reports.IntervalPlotOptions{Title: "Accuracy by attention window",
				XLabel: "attention", YLabel: "test accuracy (%)", XTicks: ticks}))
		}),
		figure(dir, r.Name(), "nep.png", "Share of negative Hessian max-eigenvalues per attention window.", func(path string) error {
			return saveFigure(path)(reports.IntervalPlot([]reports.IntervalSeries{nep}, &reports.IntervalPlotOptions{Title: "NEP by attention window",
				XLabel: "attention", YLabel: "NEP", XTicks: ticks}))
		}),
		figure(dir, r.Name(), "spectra.png", "Hessian spectra per attention window (seeds pooled).", func(path string) error {
			return spectraFigure(all, "Hessian spectra by attention window", "", path)
		}))
	return s, nil
}

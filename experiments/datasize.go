package experiments

import (
	"context"
	"fmt"
	"strings"

	"gonum.org/v1/plot"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
)

// DataSizePlan is the data-size study (the paper's Fig. 4, 5 and C.1):
// each model trained on several stratified shares of the training split,
// with more seeds where the data are small and the noise large.
type DataSizePlan struct {
	Models    []string  `json:"models"`
	Dataset   string    `json:"dataset"`
	Fractions []float64 `json:"fractions"`
	// Seeds is the number of seeds per fraction (seeds 0..n-1).
	Seeds []int `json:"seeds"`
}

// DefaultDataSizePlan is the three minis on 2%, 6%, 20% and 100% of MNIST,
// three seeds at 2%, two at 6%, one at 20% and 100%.
func DefaultDataSizePlan() DataSizePlan {
	return DataSizePlan{Models: []string{"vit-mini", "resnet-mini", "alternet-mini"}, Dataset: "mnist",
		Fractions: []float64{0.02, 0.06, 0.2, 1}, Seeds: []int{3, 2, 1, 1}}
}

// DataSizeResult holds the measurements per model and fraction.
type DataSizeResult struct {
	Plan DataSizePlan `json:"plan"`
	// Groups[model][i] are the runs on Fractions[i].
	Groups map[string][]Group `json:"groups"`
}

// DataSize trains and measures every run of the plan.
func DataSize(ctx context.Context, l *Lab, p DataSizePlan) (*DataSizeResult, error) {
	if len(p.Fractions) == 0 || len(p.Seeds) != len(p.Fractions) || len(p.Models) == 0 {
		return nil, fmt.Errorf("experiments: data size: %d models, %d fractions and %d seed counts", len(p.Models), len(p.Fractions), len(p.Seeds))
	}
	r := &DataSizeResult{Plan: p, Groups: map[string][]Group{}}
	// Smallest data first across models: the runs that decide the claims
	// come in early.
	for i, f := range p.Fractions {
		for _, model := range p.Models {
			g, err := l.group(ctx, pct(f), seeds(RunSpec{Model: model, Dataset: p.Dataset, Fraction: f}, p.Seeds[i]))
			if err != nil {
				return nil, err
			}
			r.Groups[model] = append(r.Groups[model], g)
		}
	}
	return r, saveResult(l.Dir, r.Name(), r)
}

// Name implements Part.
func (r *DataSizeResult) Name() string { return "datasize" }

func (r *DataSizeResult) model(prefix string) string {
	for _, m := range r.Plan.Models {
		if strings.HasPrefix(m, prefix) {
			return m
		}
	}
	return ""
}

// Findings implements Part: ViT's spectrum against the data size (Fig.
// 4), ViT's training NLL and test error against ResNet's on the smallest
// set (Fig. 5), AlterNet against ResNet on the smallest and largest sets.
func (r *DataSizeResult) Findings() []findings.Finding {
	var out []findings.Finding
	last := len(r.Plan.Fractions) - 1
	vit, res, alt := r.model("vit"), r.model("resnet"), r.model("alternet")
	if vit != "" && last > 0 {
		small, large := r.Groups[vit][0].Spectrum(), r.Groups[vit][last].Spectrum()
		small.Model, large.Model = vit, vit
		out = append(out, findings.DataSizeSpectra(small, large, r.Plan.Fractions[0], r.Plan.Fractions[last]))
	}
	if vit != "" && res != "" {
		out = append(out, findings.TrainNLLvsTestError(r.Groups[vit][0].SeedRuns(vit, r.Plan.Fractions[0]), r.Groups[res][0].SeedRuns(res, r.Plan.Fractions[0])))
	}
	if alt != "" && res != "" {
		var a, c []findings.SeedRuns
		for i, f := range r.Plan.Fractions {
			a = append(a, r.Groups[alt][i].SeedRuns(alt, f))
			c = append(c, r.Groups[res][i].SeedRuns(res, f))
		}
		out = append(out, findings.AlterNetVsCNN(a, c))
	}
	return out
}

// Section implements Part.
func (r *DataSizeResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "Data size (Fig. 4, 5)"}
	s.Blocks = append(s.Blocks, reports.Block{Text: fmt.Sprintf("Each model trained on stratified shares %s of the training split, "+
		"seeds %v per share, every run the same number of steps; spectra of the minibatch Hessians at the checkpoint of the "+
		"measurement settings, training NLL on the run's own training examples, test accuracy on the whole test split.",
		fracList(r.Plan.Fractions), r.Plan.Seeds)})
	s.Blocks = append(s.Blocks, reports.Block{Table: findingsTable(r.Findings())})
	var acc, nep, fig5 []reports.IntervalSeries
	for mi, model := range r.Plan.Models {
		gs := r.Groups[model]
		s.Blocks = append(s.Blocks, figure(dir, r.Name(), "fig4-"+fileName(model)+".png",
			fmt.Sprintf("Fig. 4 style: %s's minibatch Hessian max-eigenvalue spectra, one colour per share of the data (seeds pooled).", model),
			func(path string) error {
				return spectraFigure(gs, model+": Hessian spectra by data size", "NEP/APE in the legend", path)
			}))
		a := reports.IntervalSeries{Label: model, Color: mi + 1}
		n := reports.IntervalSeries{Label: model, Color: mi + 1}
		e := reports.IntervalSeries{Label: model, Color: mi + 1}
		for i, g := range gs {
			f := 100 * r.Plan.Fractions[i]
			ma, sa := meanSE(g.TestAcc())
			a.X, a.Y, a.Err = append(a.X, f), append(a.Y, 100*ma), append(a.Err, 100*sa)
			iv := g.NEP()
			n.X, n.Y, n.Lo, n.Hi = append(n.X, f), append(n.Y, iv.Value), append(n.Lo, iv.Lo), append(n.Hi, iv.Hi)
			mn, _ := meanSE(g.TrainNLL())
			e.X, e.Y, e.Err = append(e.X, mn), append(e.Y, 100*(1-ma)), append(e.Err, 100*sa)
			e.Labels = append(e.Labels, pct(r.Plan.Fractions[i]))
		}
		acc, nep, fig5 = append(acc, a), append(nep, n), append(fig5, e)
		s.Blocks = append(s.Blocks, reports.Block{Table: groupTable(model, gs)})
	}
	s.Blocks = append(s.Blocks,
		figure(dir, r.Name(), "fig5-nll-vs-error.png", "Fig. 5 style: NLL on the training set against test error, one point per share of the data (labelled), error bars: standard error over seeds.",
			func(path string) error {
				return saveFigure(path)(reports.IntervalPlot(fig5, &reports.IntervalPlotOptions{Title: "Training NLL against test error", LogX: true,
					XLabel: "NLL on the training examples (log scale)", YLabel: "test error (%)"}))
			}),
		figure(dir, r.Name(), "accuracy.png", "Test accuracy against the share of the training data (mean ± standard error over seeds).",
			func(path string) error {
				return saveFigure(path)(reports.IntervalPlot(acc, &reports.IntervalPlotOptions{Title: "Test accuracy by data size", LogX: true,
					XLabel: "share of the training split (%, log scale)", YLabel: "test accuracy (%)", XTicks: pctTicks(r.Plan.Fractions)}))
			}),
		figure(dir, r.Name(), "nep.png", "Share of negative Hessian max-eigenvalues against the share of the data (90% bootstrap intervals over minibatches).",
			func(path string) error {
				return saveFigure(path)(reports.IntervalPlot(nep, &reports.IntervalPlotOptions{Title: "NEP by data size", LogX: true,
					XLabel: "share of the training split (%, log scale)", YLabel: "NEP (share of negative eigenvalues)", XTicks: pctTicks(r.Plan.Fractions)}))
			}))
	return s, nil
}

func fracList(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = pct(f)
	}
	return strings.Join(s, ", ")
}

func pctTicks(fs []float64) []plot.Tick {
	var t []plot.Tick
	for _, f := range fs {
		t = append(t, plot.Tick{Value: 100 * f, Label: pct(f)})
	}
	return t
}

func fileName(s string) string {
	return strings.NewReplacer(":", "_", ",", ".", "=", "", "/", "_").Replace(s)
}

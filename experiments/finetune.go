package experiments

import (
	"context"
	"fmt"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
)

// FineTunePlan pre-trains a model on some classes and fine-tunes it on a
// small share of others, against the same model trained on that small
// share from scratch.
type FineTunePlan struct {
	Model string `json:"model"`
	// PreDataset and PreFraction: the pre-training data.
	PreDataset  string  `json:"pre_dataset"`
	PreFraction float64 `json:"pre_fraction"`
	// Dataset and Fraction: the small task.
	Dataset  string  `json:"dataset"`
	Fraction float64 `json:"fraction"`
	Seeds    int     `json:"seeds"`
}

// DefaultFineTunePlan is vit-mini pre-trained on all of MNIST's digits 0-4,
// fine-tuned (a new classifier) on 2% of digits 5-9, two seeds.
func DefaultFineTunePlan() FineTunePlan {
	return FineTunePlan{Model: "vit-mini", PreDataset: "mnist:0-4", PreFraction: 1, Dataset: "mnist:5-9", Fraction: 0.02, Seeds: 2}
}

// FineTuneResult holds the pre-trained run and the two groups.
type FineTuneResult struct {
	Plan      FineTunePlan `json:"plan"`
	Pre       Group        `json:"pre"`
	FineTuned Group        `json:"fine_tuned"`
	Scratch   Group        `json:"scratch"`
}

// FineTune trains and measures the plan's runs.
func FineTune(ctx context.Context, l *Lab, p FineTunePlan) (*FineTuneResult, error) {
	r := &FineTuneResult{Plan: p}
	pre, err := l.group(ctx, "pre-trained on "+p.PreDataset, []RunSpec{{Model: p.Model, Dataset: p.PreDataset, Fraction: p.PreFraction}})
	if err != nil {
		return nil, err
	}
	r.Pre = pre
	preRun, err := l.Train(ctx, RunSpec{Model: p.Model, Dataset: p.PreDataset, Fraction: p.PreFraction})
	if err != nil {
		return nil, err
	}
	small := RunSpec{Model: p.Model, Dataset: p.Dataset, Fraction: p.Fraction}
	ft := small
	ft.Init, ft.NewHead = preRun.Final, true
	if r.FineTuned, err = l.group(ctx, "fine-tuned", seeds(ft, p.Seeds)); err != nil {
		return nil, err
	}
	if r.Scratch, err = l.group(ctx, "from scratch", seeds(small, p.Seeds)); err != nil {
		return nil, err
	}
	return r, saveResult(l.Dir, r.Name(), r)
}

// Name implements Part.
func (r *FineTuneResult) Name() string { return "finetune" }

// Findings implements Part.
func (r *FineTuneResult) Findings() []findings.Finding {
	ft, scratch := r.FineTuned.Spectrum(), r.Scratch.Spectrum()
	ft.Model = fmt.Sprintf("%s pre-trained on %s of %s", r.Plan.Model, pct(r.Plan.PreFraction), r.Plan.PreDataset)
	scratch.Model = fmt.Sprintf("%s on %s of %s", r.Plan.Model, pct(r.Plan.Fraction), r.Plan.Dataset)
	return []findings.Finding{findings.FineTuneSpectra(ft, scratch)}
}

// Section implements Part.
func (r *FineTuneResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "Pre-training, then fine-tuning"}
	s.Blocks = append(s.Blocks,
		reports.Block{Text: fmt.Sprintf("%s pre-trained on %s of %s, then fine-tuned with a new classifier on %s of %s, against the "+
			"same model trained on that small set from scratch (%d seeds each, the same budget); spectra and slices on the small "+
			"set's training examples.", r.Plan.Model, pct(r.Plan.PreFraction), r.Plan.PreDataset, pct(r.Plan.Fraction), r.Plan.Dataset, r.Plan.Seeds)},
		reports.Block{Table: findingsTable(r.Findings())},
		reports.Block{Table: groupTable("pre-trained, fine-tuned, from scratch", []Group{r.Pre, r.FineTuned, r.Scratch})},
		figure(dir, r.Name(), "spectra.png", "Hessian spectra on the small set: fine-tuned against trained from scratch.", func(path string) error {
			return spectraFigure([]Group{r.FineTuned, r.Scratch}, "Fine-tuned vs from scratch", "", path)
		}),
		figure(dir, r.Name(), "slices.png", "1-D landscape slices on the small set (90% interval over directions and seeds).", func(path string) error {
			return slicesFigure([]Group{r.FineTuned, r.Scratch}, "Loss along random directions", "", path)
		}))
	return s, nil
}

package experiments

import (
	"context"
	"fmt"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
)

// SmoothingPlan compares ViT's class token with a GAP head, and a CNN
// with and without spatial smoothing (a blur before each down-sampling),
// on the same small share of the data.
type SmoothingPlan struct {
	ViT      string  `json:"vit"`
	CNN      string  `json:"cnn"`
	Dataset  string  `json:"dataset"`
	Fraction float64 `json:"fraction"`
	Seeds    int     `json:"seeds"`
}

// DefaultSmoothingPlan is vit-mini and resnet-mini on 6% of MNIST, two
// seeds (the runs without the option are the data-size study's).
func DefaultSmoothingPlan() SmoothingPlan {
	return SmoothingPlan{ViT: "vit-mini", CNN: "resnet-mini", Dataset: "mnist", Fraction: 0.06, Seeds: 2}
}

// SmoothingResult holds the four settings.
type SmoothingResult struct {
	Plan                  SmoothingPlan `json:"plan"`
	CLS, GAP, Plain, Blur Group
}

// Smoothing trains and measures the plan's runs.
func Smoothing(ctx context.Context, l *Lab, p SmoothingPlan) (*SmoothingResult, error) {
	r := &SmoothingResult{Plan: p}
	base := func(model string) RunSpec { return RunSpec{Model: model, Dataset: p.Dataset, Fraction: p.Fraction} }
	for _, x := range []struct {
		g     *Group
		label string
		spec  RunSpec
	}{
		{&r.CLS, p.ViT + " (class token)", base(p.ViT)},
		{&r.GAP, p.ViT + " GAP", func() RunSpec { s := base(p.ViT); s.GAP = true; return s }()},
		{&r.Plain, p.CNN, base(p.CNN)},
		{&r.Blur, p.CNN + " blur", func() RunSpec { s := base(p.CNN); s.Blur = true; return s }()},
	} {
		g, err := l.group(ctx, x.label, seeds(x.spec, p.Seeds))
		if err != nil {
			return nil, err
		}
		*x.g = g
	}
	return r, saveResult(l.Dir, r.Name(), r)
}

// Name implements Part.
func (r *SmoothingResult) Name() string { return "smoothing" }

// Findings implements Part.
func (r *SmoothingResult) Findings() []findings.Finding {
	return []findings.Finding{findings.GAPvsCLS(r.GAP.Spectrum(), r.CLS.Spectrum()), findings.BlurSpectra(r.Blur.Spectrum(), r.Plain.Spectrum())}
}

// Section implements Part.
func (r *SmoothingResult) Section(dir string) (reports.Section, error) {
	s := reports.Section{ID: r.Name(), Heading: "Smoothing: GAP head, spatial blur (Fig. 6)"}
	s.Blocks = append(s.Blocks,
		reports.Block{Text: fmt.Sprintf("%s with its class token against a global-average-pooling head, and %s with and without a "+
			"3×3 binomial blur before each down-sampling block, on %s of %s, %d seeds each. The landscape rise is how much the "+
			"NLL climbs at the ends of the 1-D slices (filter-normalised random directions), with its 90%% interval over directions.",
			r.Plan.ViT, r.Plan.CNN, pct(r.Plan.Fraction), r.Plan.Dataset, r.Plan.Seeds)},
		reports.Block{Table: findingsTable(r.Findings())},
		reports.Block{Table: groupTable("the four settings", []Group{r.CLS, r.GAP, r.Plain, r.Blur})},
		figure(dir, r.Name(), "spectra-vit.png", "Hessian spectra of ViT with a class token and with a GAP head.", func(path string) error {
			return spectraFigure([]Group{r.CLS, r.GAP}, "Class token vs GAP head", "", path)
		}),
		figure(dir, r.Name(), "spectra-cnn.png", "Hessian spectra of the CNN without and with spatial smoothing.", func(path string) error {
			return spectraFigure([]Group{r.Plain, r.Blur}, "Spatial smoothing", "", path)
		}),
		figure(dir, r.Name(), "slices.png", "1-D landscape slices: mean NLL rise along filter-normalised random directions (90% interval over directions and seeds).",
			func(path string) error {
				return slicesFigure([]Group{r.CLS, r.GAP, r.Plain, r.Blur}, "Loss along random directions", "", path)
			}))
	return s, nil
}

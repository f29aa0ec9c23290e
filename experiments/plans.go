package experiments

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Plans are the settings of every experiment.
type Plans struct {
	DataSize     DataSizePlan   `json:"datasize"`
	Smoothing    SmoothingPlan  `json:"smoothing"`
	Locality     LocalityPlan   `json:"locality"`
	Trajectories TrajectoryPlan `json:"trajectories"`
	FineTune     FineTunePlan   `json:"finetune"`
	BuildUp      BuildUpPlan    `json:"buildup"`
}

// Names lists the experiments in the order RunAll runs them.
var Names = []string{"datasize", "smoothing", "locality", "trajectories", "finetune", "buildup"}

// DefaultBudget is the budget of the full run: 300 steps of 64 images
// (19,200 images: a third of an epoch of MNIST, 16 epochs of its 2%),
// lr 1e-3, warm-up over the first 20% of the steps, 20 weight snapshots
// per run. It is what fits every experiment into about two hours of one
// CPU core (docs/experiments.md).
func DefaultBudget() Budget {
	return Budget{Steps: 300, Batch: 64, LR: 1e-3, WarmupShare: 0.2, TestFraction: 0.02, Snapshots: 20}
}

// DefaultMeasure is the measurement of the full run: the paper's spectrum
// (top 5 eigenvalues of 10 minibatches of 16, Lanczos to a relative 1e-4)
// at the end of warm-up,
// training NLL on up to 2,000 training examples, the whole test split,
// 4 slices of 7 points on [-1, 1] through the final weights on 200 images.
func DefaultMeasure() MeasureSpec {
	return MeasureSpec{HessianPhase: "warmup", Batches: 10, BatchSize: 16, K: 5, Tol: 1e-4, TrainImages: 2000,
		LandscapePhase: "final", Directions: 4, Points: 7, Radius: 1, LandscapeImages: 200}
}

// DefaultPlans are the plans of the full run.
func DefaultPlans() Plans {
	return Plans{DataSize: DefaultDataSizePlan(), Smoothing: DefaultSmoothingPlan(), Locality: DefaultLocalityPlan(),
		Trajectories: DefaultTrajectoryPlan(), FineTune: DefaultFineTunePlan(), BuildUp: DefaultBuildUpPlan()}
}

// TinyBudget is, with TinyMeasure and TinyPlans, a smoke test of every
// experiment that runs in minutes: a dozen steps per run, the smallest
// spectra a verdict accepts, two seeds where a claim needs them.
func TinyBudget() Budget {
	return Budget{Steps: 12, Batch: 32, LR: 1e-3, WarmupShare: 0.25, TestFraction: 0.02, Snapshots: 4}
}

// TinyMeasure is the measurement of the smoke test (see TinyBudget).
func TinyMeasure() MeasureSpec {
	return MeasureSpec{HessianPhase: "warmup", Batches: 5, BatchSize: 8, K: 2, Tol: 1e-3, TrainImages: 200, TestImages: 500,
		LandscapePhase: "final", Directions: 2, Points: 3, Radius: 1, LandscapeImages: 50}
}

// TinyPlans are the plans of the smoke test (see TinyBudget).
func TinyPlans() Plans {
	p := DefaultPlans()
	p.DataSize.Fractions, p.DataSize.Seeds = []float64{0.02, 0.06}, []int{2, 1}
	p.Smoothing.Fraction, p.Smoothing.Seeds = 0.02, 2
	p.Locality.Fraction, p.Locality.Seeds = 0.02, 2
	p.Trajectories.Fraction, p.Trajectories.Seeds = 0.02, 2
	p.FineTune.PreFraction, p.FineTune.Fraction, p.FineTune.Seeds = 0.02, 0.1, 2
	p.BuildUp.Fraction, p.BuildUp.Validation, p.BuildUp.MaxTrials = 0.02, 0.02, 2
	return p
}

// UnknownError reports an experiment name RunAll does not know.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("experiments: unknown experiment %q (known: %s)", e.Name, strings.Join(Names, ", "))
}

// RunAll runs the named experiments (nil: all of Names) in Names' order
// and returns their parts.
func RunAll(ctx context.Context, l *Lab, p Plans, only []string) ([]Part, error) {
	for _, n := range only {
		if !slices.Contains(Names, n) {
			return nil, &UnknownError{Name: n}
		}
	}
	want := func(n string) bool { return len(only) == 0 || slices.Contains(only, n) }
	var parts []Part
	add := func(p Part, err error) error {
		if err != nil {
			return err
		}
		parts = append(parts, p)
		return nil
	}
	for _, n := range Names {
		if !want(n) {
			continue
		}
		var err error
		switch n {
		case "datasize":
			err = add(DataSize(ctx, l, p.DataSize))
		case "smoothing":
			err = add(Smoothing(ctx, l, p.Smoothing))
		case "locality":
			err = add(Locality(ctx, l, p.Locality))
		case "trajectories":
			err = add(Trajectories(ctx, l, p.Trajectories))
		case "finetune":
			err = add(FineTune(ctx, l, p.FineTune))
		case "buildup":
			err = add(BuildUp(ctx, l, p.BuildUp))
		}
		if err != nil {
			return parts, fmt.Errorf("%s: %w", n, err)
		}
	}
	return parts, nil
}

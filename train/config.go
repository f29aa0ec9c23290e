package train

import (
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
)

// Config is everything that determines a training run's result. Two runs
// with equal Configs (and thread counts) give bit-identical weights on CPU.
type Config struct {
	Model       string        `json:"model"`
	ModelConfig models.Config `json:"model_config"`
	Dataset     string        `json:"dataset"`
	// Fraction is the stratified share of the training split used, in (0, 1].
	Fraction  float64 `json:"fraction"`
	Epochs    int     `json:"epochs"`
	BatchSize int     `json:"batch_size"`
	// LR is the peak learning rate, reached at the end of warm-up.
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	// WarmupEpochs is the length of the linear warm-up; it may be
	// fractional. The "warmup" checkpoint is saved when it ends.
	WarmupEpochs float64 `json:"warmup_epochs"`
	// Clip is the gradient-norm clipping threshold; 0 turns it off.
	Clip    float64      `json:"clip"`
	Augment data.Augment `json:"augment"`
	Beta1   float64      `json:"beta1"`
	Beta2   float64      `json:"beta2"`
	Eps     float64      `json:"eps"`
	Seed    uint64       `json:"seed"`
	// SaveEvery saves a checkpoint every N epochs (0: only init, warmup,
	// final).
	SaveEvery int `json:"save_every"`
	// MaxSteps, when positive, ends the run after that many steps (the
	// last epoch cut short), and the learning-rate schedule ends there:
	// runs on data sets of different sizes can take the same number of
	// steps. 0: Epochs whole epochs.
	MaxSteps int `json:"max_steps,omitempty"`
	// Validation is the class-stratified share of the training split held
	// out (drawn with ValidationSeed, the same for every run) and never
	// trained on; Fraction then applies to the rest. 0: none.
	Validation float64 `json:"validation,omitempty"`
	// Init is a checkpoint whose weights replace the fresh initialisation
	// (pre-training, then fine-tuning); "" starts from scratch.
	Init string `json:"init,omitempty"`
	// InitSHA256 is Init's weights hash, filled in by Run.
	InitSHA256 string `json:"init_sha256,omitempty"`
	// NewHead keeps the fresh initialisation of the classifier
	// (models.HeadParams) instead of Init's, for another number of
	// classes.
	NewHead bool `json:"new_head,omitempty"`
}

// Recipes names the built-in training recipes.
var Recipes = []string{"mini", "paper"}

// Recipe returns a named recipe for model on dataset:
//
//   - "paper": docs/methods.md §1's CIFAR recipe: AdamW lr 1.25e-4, weight decay
//     0.05, 5 warm-up epochs, cosine to 0 over 300 epochs, batch 96, clip 5,
//     label smoothing 0.1, mixup 1.0 / CutMix 0.8, random crop (pad 4) and
//     flips where they keep the class, RandAugment m9 n2 (data.PaperRandAugment).
//   - "mini": what trains the mini presets on MNIST in minutes on a CPU:
//     lr 2e-3, weight decay 0.05, 0.25 warm-up epochs, 3 epochs, batch 128,
//     clip 5, no augmentation (MNIST needs none to pass 98%).
func Recipe(name, model, dataset string) (Config, error) {
	mc, err := models.Defaults(model)
	if err != nil {
		return Config{}, err
	}
	info, err := data.Describe(dataset)
	if err != nil {
		return Config{}, err
	}
	mc.Classes, mc.InChannels = info.Classes, info.Channels
	c := Config{Model: model, ModelConfig: mc, Dataset: dataset, Fraction: 1,
		Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Seed: 0}
	switch name {
	case "paper":
		c.Epochs, c.BatchSize, c.LR, c.WeightDecay, c.WarmupEpochs, c.Clip = 300, 96, 1.25e-4, 0.05, 5, 5
		c.Augment = data.PaperAugment(info)
		c.SaveEvery = 10
	case "mini":
		c.Epochs, c.BatchSize, c.LR, c.WeightDecay, c.WarmupEpochs, c.Clip = 3, 128, 2e-3, 0.05, 0.25, 5
		c.SaveEvery = 1
	default:
		return Config{}, fmt.Errorf("train: unknown recipe %q (known: %v)", name, Recipes)
	}
	return c, nil
}

// Validate reports the first nonsensical setting as a one-line error naming
// it.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs = %d, want at least 1", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch size = %d, want at least 1", c.BatchSize)
	case !(c.Fraction > 0 && c.Fraction <= 1):
		return fmt.Errorf("train: fraction = %v, want a value in (0, 1]", c.Fraction)
	case !(c.LR > 0) || !finite(c.LR):
		return fmt.Errorf("train: lr = %v, want a positive number", c.LR)
	case !(c.WeightDecay >= 0) || !finite(c.WeightDecay):
		return fmt.Errorf("train: weight decay = %v, want a number >= 0", c.WeightDecay)
	case !(c.WarmupEpochs >= 0) || c.WarmupEpochs > float64(c.Epochs):
		return fmt.Errorf("train: warm-up = %v epochs, want 0..%d (the number of epochs)", c.WarmupEpochs, c.Epochs)
	case !(c.Clip >= 0) || !finite(c.Clip):
		return fmt.Errorf("train: clip = %v, want a number >= 0 (0: off)", c.Clip)
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) || !(c.Eps > 0):
		return fmt.Errorf("train: AdamW betas (%v, %v) and eps %v out of range", c.Beta1, c.Beta2, c.Eps)
	case c.SaveEvery < 0:
		return fmt.Errorf("train: save every = %d epochs, want >= 0", c.SaveEvery)
	case c.MaxSteps < 0:
		return fmt.Errorf("train: max steps = %d, want >= 0 (0: whole epochs)", c.MaxSteps)
	case !(c.Validation >= 0 && c.Validation < 1):
		return fmt.Errorf("train: validation share = %v, want a value in [0, 1)", c.Validation)
	case c.NewHead && c.Init == "":
		return fmt.Errorf("train: a new head needs weights to start from (init)")
	}
	return c.Augment.Validate()
}

// Schedule returns the learning rate of step s (counted from 1) of total
// steps: linear warm-up from lr/warmup to lr over warmup steps, then cosine
// decay to 0 at the last step.
func Schedule(lr float64, s, warmup, total int64) float64 {
	if s <= warmup {
		return lr * float64(s) / float64(warmup)
	}
	if total <= warmup {
		return lr
	}
	p := float64(s-warmup) / float64(total-warmup)
	return lr * 0.5 * (1 + math.Cos(math.Pi*p))
}

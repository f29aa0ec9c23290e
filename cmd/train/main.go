// Command train trains a vitprobe model with the paper's recipe and writes
// resumable checkpoints that PyTorch can read.
//
// Usage:
//
//	train [flags]
//
// A run folder (--out) receives run.json (the configuration), checkpoints
// (init, warmup, epoch-NNNN, final, interrupt-step-N: weights as
// .safetensors, a .json sidecar, the AdamW state as .optim.safetensors),
// metrics.csv, metrics.json and curves.png.
//
// The recipe (--recipe mini or paper) gives the defaults; every other flag
// overrides it. Ctrl-C saves a checkpoint and exits (status 130); --resume
// continues from the latest checkpoint, bit-identical on CPU to an
// uninterrupted run with the same seed and threads.
//
// Examples:
//
//	train --model resnet-mini --out runs/resnet-mini
//	train --model vit-ti --dataset cifar100 --data ~/cifar-100-binary --recipe paper --out runs/vit-ti
//	train --model vit-mini --fraction 0.1 --epochs 5 --seed 3 --out runs/vit-mini-10pct --resume
//	train --model 'alternet-mini:C,CC,CC,CMCM' --out runs/buildup-result
//	train --model vit-mini --window 3 --out runs/vit-local3
//	train --model vit-mini --batch 16 --workers 2 --out runs/vit-split
//	train --model vit-mini --dataset mnist:0-4 --out runs/pre
//	train --model vit-mini --dataset mnist:5-9 --fraction 0.02 --init runs/pre/final.json --new-head --out runs/ft
//
// --model also takes a preset string with a block pattern,
// BASE:PATTERN[:heads=H1,...] (AlterNet family; C convolution, M MSA),
// and --dataset a class filter, NAME:CLASSES ("mnist:5-9" keeps digits 5
// to 9 as classes 0 to 4). --init starts from another run's weights;
// --new-head gives the model a fresh classifier for its own number of
// classes. --snapshot-every N writes flat weight snapshots for
// trajectories (package trajectory).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/train"
)

func main() { torchcli.Main("train", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var (
		model    = fs.String("model", "resnet-mini", "model preset: "+fmt.Sprint(models.Names())+", or BASE:PATTERN[:heads=...] (AlterNet family, e.g. alternet-mini:C,CC,CC,CMCM)")
		dataset  = fs.String("dataset", "mnist", "dataset: mnist, cifar10, cifar100, cifar100-coarse; NAME:CLASSES keeps some classes (mnist:5-9)")
		dataDir  = fs.String("data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
		recipe   = fs.String("recipe", "mini", "defaults: mini (MNIST in minutes on a CPU) or paper (the paper's CIFAR recipe: 300 epochs, AdamW 1.25e-4, mixup/CutMix...)")
		fraction = fs.Float64("fraction", 1, "stratified share of the training split to use, in (0, 1]")
		seed     = fs.Uint64("seed", 0, "random seed (weights, data order, augmentations, stochastic depth)")
		threads  = fs.Int("threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
		workers  = fs.Int("workers", 1, "split each step's forward and backward pass over N workers of one thread each and the test evaluation too (faster at small batches; the update stays on --threads; the last bits depend on N)")
		device   = fs.String("device", "cpu", "device: cpu, cuda, cuda:N")
		out      = fs.String("out", "", "run folder (required)")
		resume   = fs.Bool("resume", false, "continue the run in --out from its latest checkpoint")
		testFrac = fs.Float64("test-fraction", 1, "stratified share of the test split evaluated after each epoch (reports only)")
		// The experiments' flags (docs/methods.md, "Experiments").
		window    = fs.Int("window", 0, "ViT only: local attention in a WxW neighbourhood of patch tokens (odd; 0 global)")
		blur      = fs.Bool("blur", false, "ResNet/AlterNet only: blur feature maps (3x3 binomial) before each down-sampling block")
		initFrom  = fs.String("init", "", "start from this checkpoint's weights (pre-training, then fine-tuning)")
		newHead   = fs.Bool("new-head", false, "with --init: a fresh classifier (for another number of classes)")
		valShare  = fs.Float64("validation", 0, "stratified share of the training split held out for validation, never trained on (0 none)")
		maxSteps  = fs.Int("max-steps", 0, "end the run (and the learning-rate schedule) after N steps, the last epoch cut short (0: whole epochs)")
		snapEvery = fs.Int("snapshot-every", 0, "write the flat trainable weights every N steps into OUT/snapshots (0 off)")
	)
	// The recipe's settings that a flag overrides when it is given.
	for _, f := range []struct{ name, usage string }{
		{"epochs", "epochs (default: the recipe's)"}, {"batch", "batch size (default: the recipe's)"},
		{"crop-pad", "random-crop zero padding in pixels, 0 off (default: the recipe's)"},
		{"save-every", "checkpoint every N epochs (default: the recipe's)"},
	} {
		fs.Int(f.name, 0, f.usage)
	}
	for _, f := range []struct{ name, usage string }{
		{"lr", "peak learning rate (default: the recipe's)"}, {"wd", "AdamW weight decay (default: the recipe's)"},
		{"warmup", "linear warm-up epochs, may be fractional (default: the recipe's)"},
		{"clip", "gradient-norm clipping, 0 off (default: the recipe's)"}, {"smoothing", "label smoothing epsilon (default: the recipe's)"},
		{"mixup", "mixup alpha, 0 off (default: the recipe's)"}, {"cutmix", "CutMix alpha, 0 off (default: the recipe's)"},
		{"drop-path", "stochastic depth rate of the last block (default: the model's)"},
	} {
		fs.Float64(f.name, 0, f.usage)
	}
	fs.Bool("flip", false, "random horizontal flips (default: the recipe's; never sensible for digits)")
	fs.Bool("gap", false, "ViT only: global average pooling head instead of the class token")
	fs.Usage = func() { cli.Usage(stderr, fs, "usage: train --model NAME --out DIR [flags]") }
	if err := cli.ParseFlags(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--out is required (the run folder)")
	}
	c, err := train.Recipe(*recipe, *model, *dataset)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	c.Fraction, c.Seed = *fraction, *seed
	c.ModelConfig.Window, c.ModelConfig.Blur = *window, *blur
	c.Init, c.NewHead, c.Validation, c.MaxSteps = *initFrom, *newHead, *valShare, *maxSteps
	if *snapEvery < 0 {
		return cli.Usagef("--snapshot-every %d: want a number of steps >= 0", *snapEvery)
	}
	if err := override(fs, &c); err != nil {
		return &cli.UsageError{Err: err}
	}
	if *workers < 1 {
		return cli.Usagef("--workers %d: want at least 1", *workers)
	}
	n, dev, err := torchcli.Setup(*threads, *device)
	if err != nil {
		return err
	}
	res, err := train.Run(ctx, c, train.Options{Out: *out, DataDir: *dataDir, TestFraction: *testFrac, Resume: *resume,
		Threads: n, Workers: *workers, Device: dev, Log: stderr, SnapshotEvery: *snapEvery, Curves: curves(fmt.Sprintf("%s on %s", c.Model, c.Dataset))})
	if errors.Is(err, train.ErrInterrupted) {
		return cli.ErrInterrupted
	}
	if err != nil {
		return err
	}
	last := res.Metrics[len(res.Metrics)-1]
	fmt.Fprintf(stdout, "%s: test accuracy %.2f%%, test loss %.4f after %d epochs; final checkpoint %s\n",
		c.Model, 100*last.TestAcc, last.TestLoss, last.Epoch, res.Final)
	return nil
}

// override sets the recipe's settings whose flags were given, and
// validates the result.
func override(fs *flag.FlagSet, c *train.Config) error {
	ints := map[string]*int{"epochs": &c.Epochs, "batch": &c.BatchSize, "crop-pad": &c.Augment.CropPad, "save-every": &c.SaveEvery}
	floats := map[string]*float64{"lr": &c.LR, "wd": &c.WeightDecay, "warmup": &c.WarmupEpochs, "clip": &c.Clip,
		"smoothing": &c.Augment.Smoothing, "mixup": &c.Augment.MixupAlpha, "cutmix": &c.Augment.CutMixAlpha,
		"drop-path": &c.ModelConfig.DropPath}
	bools := map[string]*bool{"flip": &c.Augment.Flip, "gap": &c.ModelConfig.GAPHead}
	fs.Visit(func(f *flag.Flag) {
		g := f.Value.(flag.Getter).Get()
		switch {
		case ints[f.Name] != nil:
			*ints[f.Name] = g.(int)
		case floats[f.Name] != nil:
			*floats[f.Name] = g.(float64)
		case bools[f.Name] != nil:
			*bools[f.Name] = g.(bool)
		}
	})
	return c.Validate()
}

// curves draws a run's training curves with reports.TrainingCurves.
func curves(title string) func(ms []train.EpochMetrics, path string) error {
	return func(ms []train.EpochMetrics, path string) error {
		pts := make([]reports.EpochPoint, len(ms))
		for i, m := range ms {
			pts[i] = reports.EpochPoint{Epoch: m.Epoch, TrainLoss: m.TrainLoss, TestLoss: m.TestLoss, TrainAcc: m.TrainAcc, TestAcc: m.TestAcc}
			for _, t := range m.Trace {
				pts[i].Steps = append(pts[i].Steps, reports.StepPoint{Epoch: t.Epoch, Loss: t.Loss, Acc: t.Acc})
			}
		}
		fig, err := reports.TrainingCurves(title, pts)
		if err != nil {
			return err
		}
		return fig.Save(path)
	}
}

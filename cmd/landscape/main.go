// Command landscape computes 2-D (or 1-D) loss-landscape slices of trained
// vitprobe checkpoints, as in Park & Kim, "How Do Vision Transformers
// Work?" (ICLR 2022) after Li et al. (2018), and renders them.
//
// Usage:
//
//	landscape [flags] CHECKPOINT [NAME=CHECKPOINT ...]
//
// A checkpoint is the .json sidecar written by cmd/train (or its path
// without extension); NAME= gives it a label for titles and folders.
//
// # What it computes
//
// The weights w0 of each checkpoint are moved in a plane,
// w(x, y) = w0 + x·d1 + y·d2, over a grid ([-1, 1]² at 21 x 21 by
// default, the paper's), and at every point the model is evaluated in
// eval mode without gradients on a fixed, seeded, class-stratified subset
// of the training split (--images, default 1000: a 21 x 21 grid of a mini
// model then takes 4 to 8 minutes on two cores). Each point records NLL,
// accuracy, the official code's weight norms l1 = Σ|w| and l2 = Σ‖W‖
// (unsquared Frobenius norms, summed over tensors) and Σ‖W‖² over the same
// tensors. The plotted loss is the project's regularised loss,
// NLL + (wd/2)·Σ‖W‖², the same as cmd/hessian's (its Hessian shifts every
// eigenvalue by wd); the official code's NLL + wd·l2 is in the CSV and
// JSON as loss_official. wd is the checkpoint's training weight decay
// unless --wd says otherwise (else the paper's 0.05, as cmd/hessian).
//
// Directions:
//   - random (default): Gaussian, seeded by --seed, scaled per filter as
//     Li et al. (--norm filter), per dimension-0 column as the official
//     code (--norm dim0) or not at all (--norm none); zero on tensors of
//     rank < 2 (biases, norm layers; --move-1d moves them), on position
//     embeddings and relative-position tables (--move-pos moves them), on
//     class tokens and on batch-norm running statistics;
//   - --dir-from A: x runs along the line from checkpoint A (x = 0) to the
//     checkpoint (x = 1), e.g. init to final, every tensor included; a 2-D
//     grid adds a random y direction. A must have the same architecture.
//     Batch-norm running statistics follow the line between 0 and 1 and
//     keep the nearer checkpoint's values beyond (extrapolated, a running
//     variance turns negative).
//   - --eigvecs FILE: x (and y) along given flat vectors, e.g. the top
//     Hessian eigenvectors (format: analysis.LandscapeEigvecs, a
//     safetensors file with tensors eigvec.0, eigvec.1, ... over the
//     trainable parameters sorted by name). They are used as given unless
//     --norm is set.
//
// The weights are written in place into the model's tensors at each point
// (no model rebuild, no state-dict reload), and the evaluation batches are
// made once and reused, so that every point sees the same images, also
// with --augment (the checkpoint's training augmentation, drawn once from
// --subset-seed, as the paper measures on augmented data). --threads
// workers evaluate a point's batches in parallel, each on its own model
// replica with one libtorch thread: the numbers do not depend on --threads.
// After the grid the weights are restored, and their hash is checked
// against the checkpoint's; a difference is an error.
//
// # Outputs (in --out; in --out/NAME for each of several checkpoints)
//
//	landscape.csv            x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official (the official columns, then loss, the index, Σ‖W‖² and NLL + wd·l2)
//	landscape.json           spec, summary, every point, provenance
//	subset.json              the evaluated example indices
//	nll-{contour,heatmap,surface}.png    NLL − min, capped at --clip
//	loss-{contour,heatmap,surface}.png   NLL + (wd/2)·Σ‖W‖² − min, capped at --clip
//	slices.png               NLL and accuracy along the two axes through the centre
//	curves-{nll,loss}.png    for a 1-D grid (--1d)
//	landscape.journal.jsonl  the finished points (resume)
//
// With --side-by-side and several checkpoints, --out also gets
// side-by-side-{nll,loss}-{contour,heatmap,surface}.png (one shared
// colour scale) or, for 1-D grids, side-by-side-{nll,loss}-curves.png.
//
// # Resume, shards, merge
//
// Every finished point is appended to a journal; an interrupted run (Ctrl-C,
// a kill, a crash) rerun with the same command skips what is done, and a
// finished one recomputes nothing and only rewrites the outputs (so
// --clip or --side-by-side can be changed afterwards). A journal written
// with other settings is refused with the setting that differs.
// --shard i/n (or a Slurm array task, or a Kubernetes Indexed Job
// with VITPROBE_SHARD_COUNT) evaluates only the points with index mod n = i
// into landscape.shard-i-of-n.jsonl; rerun the same command with --merge
// once every shard is done to write the outputs. They are byte-identical to
// a single process's. scripts/slurm-submit.sh (Slurm, tested on a real cluster) and
// scripts/landscape-k8s.yaml do this on a cluster.
//
// Usage errors exit with status 2, run-time errors with 1, an interrupt
// with 130; outputs are written atomically, never half.
//
// # Examples
//
//	landscape --out out/resnet /tmp/demo/resnet-mini/final.json
//	landscape --side-by-side --out out/three resnet=/tmp/demo/resnet-mini/final.json \
//	    vit=/tmp/demo/vit-mini/final.json alternet=/tmp/demo/alternet-mini/final.json
//	landscape --1d --grid -0.5:1.5:41 --dir-from runs/vit/init.json --out out/path runs/vit/final.json
//	landscape --grid -1:1:101 --shard 3/8 --out out/big runs/vit/final.json   # one of 8 processes
//	landscape --grid -1:1:101 --merge --out out/big runs/vit/final.json       # when all 8 are done
//	landscape --eigvecs top2.safetensors --grid -0.05:0.05:21 --out out/eig runs/vit/final.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/landscape"
)

func main() {
	cli.Main("landscape", run)
}

// options are the parsed command line.
type options struct {
	ckpts      []labelled
	grid       landscape.Grid
	oneD       bool
	norm       string // "" until resolved per direction kind
	seed       uint64
	subsetSeed uint64
	images     int
	batch      int
	augment    augmentFlag
	wd         float64
	wdSet      bool
	dirFrom    string
	eigvecs    string
	move1D     bool
	movePos    bool
	shard      shard.Shard
	sharded    bool
	merge      bool
	threads    int
	device     string
	dataset    string
	dataDir    string
	split      string
	out        string
	clip       float64
	clipDrop   bool
	sideBySide bool
	plots      bool
	args       []string
}

// labelled is a checkpoint with its label.
type labelled struct {
	label, path string
	named       bool
}

// augmentFlag is --augment: "recipe" when given bare, or =none|recipe|paper.
type augmentFlag string

func (a *augmentFlag) String() string { return string(*a) }

func (a *augmentFlag) Set(s string) error {
	switch s {
	case "true", "recipe":
		*a = "recipe"
	case "false", "none":
		*a = "none"
	case "paper":
		*a = "paper"
	default:
		return fmt.Errorf("want recipe, paper or none, not %q", s)
	}
	return nil
}

func (a *augmentFlag) IsBoolFlag() bool { return true }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if err := execute(ctx, o, stdout, stderr); err != nil {
		return trimmed{err}
	}
	return nil
}

// trimmed drops the "landscape: " prefix of the landscape package's
// errors, which cli.Exit's "landscape: " would double.
type trimmed struct{ err error }

func (t trimmed) Error() string { return strings.TrimPrefix(t.err.Error(), "landscape: ") }
func (t trimmed) Unwrap() error { return t.err }

// parse reads the command line. Flags and checkpoints may be interleaved.
func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: append([]string{"landscape"}, args...), augment: "none"}
	fs := flag.NewFlagSet("landscape", flag.ContinueOnError)
	gridS := fs.String("grid", "-1:1:21", "grid MIN:MAX:NUM for both axes (the paper's: -1:1:21)")
	xmin := fs.Float64("xmin", 0, "x range minimum (overrides --grid)")
	xmax := fs.Float64("xmax", 0, "x range maximum (overrides --grid)")
	xnum := fs.Int("xnum", 0, "x resolution in points (overrides --grid)")
	ymin := fs.Float64("ymin", 0, "y range minimum (overrides --grid)")
	ymax := fs.Float64("ymax", 0, "y range maximum (overrides --grid)")
	ynum := fs.Int("ynum", 0, "y resolution in points (overrides --grid)")
	fs.BoolVar(&o.oneD, "1d", false, "a 1-D slice along x only")
	fs.StringVar(&o.norm, "norm", "", "direction normalisation: filter (Li et al.), dim0 (the official code) or none (default filter; none for --eigvecs)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the random directions")
	fs.Uint64Var(&o.subsetSeed, "subset-seed", 0, "seed of the evaluation subset and of its augmentation")
	fs.IntVar(&o.images, "images", 1000, "number of training examples evaluated at each point (stratified subset)")
	fs.IntVar(&o.batch, "batch", 50, "evaluation batch size (small batches run faster on CPU; the numbers depend on it in the last bits)")
	fs.Var(&o.augment, "augment", "evaluate on augmented images, made once: bare or =recipe for the checkpoint's training augmentation, =paper for the paper's, =none (default)")
	fs.Float64Var(&o.wd, "wd", 0, "weight decay wd of the plotted loss NLL + (wd/2)·Σ‖w‖² (default: the checkpoint's training weight decay, else the paper's 0.05)")
	fs.StringVar(&o.dirFrom, "dir-from", "", "checkpoint A: x runs along the line from A (x=0) to the checkpoint (x=1)")
	fs.StringVar(&o.eigvecs, "eigvecs", "", "safetensors file of flat direction vectors eigvec.0, eigvec.1 (e.g. top Hessian eigenvectors)")
	fs.BoolVar(&o.move1D, "move-1d", false, "let tensors of rank < 2 (biases, norm scales and shifts) move too")
	fs.BoolVar(&o.movePos, "move-pos", false, "let position embeddings and relative-position tables move too")
	shardS := fs.String("shard", "", "evaluate only shard I/N of the points (default: from Slurm or Kubernetes, else all)")
	fs.BoolVar(&o.merge, "merge", false, "merge the shard journals in --out and write the outputs")
	fs.IntVar(&o.threads, "threads", 0, "parallel workers, one libtorch thread each (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&o.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&o.dataset, "dataset", "", "dataset (default: the checkpoint's)")
	fs.StringVar(&o.dataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the official binary files)")
	fs.StringVar(&o.split, "split", "train", "split to evaluate on: train (the paper's) or test")
	fs.StringVar(&o.out, "out", "", "output folder (required)")
	fs.Float64Var(&o.clip, "clip", 0, "cap the figures' value minus its minimum at this level: colours and heights saturate there (0: none)")
	clipMode := fs.String("clip-mode", "cap", "cap (draw values above --clip at --clip) or drop (leave those points out, as the paper's code does)")
	fs.BoolVar(&o.sideBySide, "side-by-side", false, "with several checkpoints, also draw them side by side on one colour scale")
	fs.BoolVar(&o.plots, "plots", true, "render PNG figures")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: landscape [flags] CHECKPOINT [NAME=CHECKPOINT ...]\n(go doc github.com/vitprobe/vitprobe/cmd/landscape for the manual)")
	}
	rest := args
	for {
		if err := cli.ParseFlags(fs, rest, true); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		o.ckpts = append(o.ckpts, parseCheckpointArg(fs.Arg(0)))
		rest = fs.Args()[1:]
	}
	if len(o.ckpts) == 0 {
		return nil, cli.Usagef("no checkpoint given (usage: landscape [flags] CHECKPOINT [NAME=CHECKPOINT ...])")
	}
	if o.out == "" {
		return nil, cli.Usagef("--out is required (the output folder)")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	g, err := parseGrid(*gridS)
	if err != nil {
		return nil, cli.Usagef("--grid %s: %v", *gridS, err)
	}
	for name, v := range map[string]*float64{"xmin": &g.X.Min, "xmax": &g.X.Max, "ymin": &g.Y.Min, "ymax": &g.Y.Max} {
		if set[name] {
			*v = map[string]float64{"xmin": *xmin, "xmax": *xmax, "ymin": *ymin, "ymax": *ymax}[name]
		}
	}
	if set["xnum"] {
		g.X.N = *xnum
	}
	if set["ynum"] {
		g.Y.N = *ynum
	}
	if o.oneD {
		if set["ymin"] || set["ymax"] || set["ynum"] {
			return nil, cli.Usagef("--1d takes no y range (--ymin, --ymax, --ynum)")
		}
		g.Y = landscape.Axis{}
	}
	if err := g.Validate(); err != nil {
		return nil, cli.Usagef("%s", strings.TrimPrefix(err.Error(), "landscape: "))
	}
	o.grid = g
	if o.norm != "" {
		if _, err := landscape.ParseNorm(o.norm); err != nil {
			return nil, cli.Usagef("--norm %q: want filter, dim0 or none", o.norm)
		}
	}
	if o.images < 1 {
		return nil, cli.Usagef("--images %d: want at least 1", o.images)
	}
	if o.batch < 1 {
		return nil, cli.Usagef("--batch %d: want at least 1", o.batch)
	}
	o.wdSet = set["wd"]
	if o.wdSet && (o.wd < 0 || math.IsNaN(o.wd) || math.IsInf(o.wd, 0)) {
		return nil, cli.Usagef("--wd %v: want a finite number >= 0", o.wd)
	}
	if o.clip < 0 || math.IsNaN(o.clip) || math.IsInf(o.clip, 0) {
		return nil, cli.Usagef("--clip %v: want a positive number, or 0 for none", o.clip)
	}
	switch *clipMode {
	case "cap":
	case "drop":
		o.clipDrop = true
	default:
		return nil, cli.Usagef("--clip-mode %q: want cap or drop", *clipMode)
	}
	if o.dirFrom != "" && o.eigvecs != "" {
		return nil, cli.Usagef("--dir-from and --eigvecs both give the x direction: choose one")
	}
	if o.split != "train" && o.split != "test" {
		return nil, cli.Usagef("--split %q: want train or test", o.split)
	}
	if *shardS != "" && o.merge {
		return nil, cli.Usagef("--merge reads every shard's journal: give no --shard")
	}
	if o.merge {
		o.shard = shard.All
	} else {
		sh, err := shard.Resolve(*shardS, os.Getenv)
		if err != nil {
			if *shardS != "" {
				return nil, cli.Usagef("--shard %s", strings.TrimPrefix(err.Error(), "shard "))
			}
			return nil, cli.Usagef("%v", err)
		}
		o.shard, o.sharded = sh, sh.Count > 1
	}
	seen := map[string]bool{}
	for _, c := range o.ckpts {
		if c.named {
			if seen[c.label] {
				return nil, cli.Usagef("two checkpoints are labelled %q", c.label)
			}
			seen[c.label] = true
		}
	}
	return o, nil
}

// parseCheckpointArg reads CHECKPOINT or NAME=CHECKPOINT.
func parseCheckpointArg(s string) labelled {
	if name, path, ok := strings.Cut(s, "="); ok && name != "" && !strings.ContainsAny(name, `/\`) {
		return labelled{label: name, path: path, named: true}
	}
	return labelled{path: s}
}

// parseGrid reads MIN:MAX:NUM into a square grid.
func parseGrid(s string) (landscape.Grid, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return landscape.Grid{}, errors.New("want MIN:MAX:NUM, e.g. -1:1:21")
	}
	lo, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	hi, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	n, err3 := strconv.Atoi(strings.TrimSpace(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return landscape.Grid{}, errors.New("want MIN:MAX:NUM with numbers, e.g. -1:1:21")
	}
	a := landscape.Axis{Min: lo, Max: hi, N: n}
	return landscape.Grid{X: a, Y: a}, nil
}

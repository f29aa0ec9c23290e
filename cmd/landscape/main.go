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
// An exported PyTorch model, the .pt file that python/vitprobe_export.py
// writes, is accepted as a checkpoint; it is evaluated on --data, an image
// folder (one sub-folder per class; its train/ or val/ part by --split when
// it has both) or a safetensors file with x and y, resized and normalised
// as its sidecar says, and the grid moves the module's own parameters in
// place and restores them bit for bit (docs/torchscript.md).
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
// NLL + (wd/2)·Σ‖W‖², the same as hessian's (its Hessian shifts every
// eigenvalue by wd); the official code's NLL + wd·l2 is in the CSV and
// JSON as loss_official. wd is the checkpoint's training weight decay (0
// when it records none: see models/meta) unless --wd says otherwise.
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
// with other settings is refused with the setting that differs; a journal
// another process is writing is refused with that process's id.
// --shard i/n (or a Slurm array task, or a Kubernetes Indexed Job
// with VITPROBE_SHARD_COUNT) evaluates only the points with index mod n = i
// into landscape.shard-i-of-n.jsonl; rerun the same command with --merge
// once every shard is done to write the outputs (the merge takes the
// settings from the journals: of the other flags only the figure ones
// count). They are byte-identical to a single process's.
// scripts/slurm-submit.sh (Slurm, tested on a real cluster) and
// scripts/landscape-k8s.yaml do this on a cluster. The work is done by
// package jobs (jobs.Landscape).
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
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
)

func main() { torchcli.Main("landscape", run) }

// options are the parsed command line.
type options struct {
	job     jobs.LandscapeOptions
	figs    jobs.LandscapeFigures
	refs    []models.Ref
	env     jobs.Env
	merge   bool
	device  string
	threads int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	job := &jobs.Landscape{Env: o.env, Figures: o.figs}
	job.Log, job.Command = stderr, append([]string{"landscape"}, args...)
	var res *jobs.LandscapeOutputs
	if o.merge {
		rs, err := meta.Resolve(o.refs) // the labels the run gave them
		if err != nil {
			return trimmed{err}
		}
		labels := make([]string, len(rs))
		for i, r := range rs {
			labels[i] = r.Label
		}
		if res, err = job.Merge(job.Out, labels...); err != nil {
			return trimmed{cli.Stopped(err)}
		}
	} else {
		if _, job.Device, err = torchcli.Setup(1, o.device); err != nil {
			return err
		}
		if job.Workers, err = torchcli.Workers(o.threads, job.Device); err != nil {
			return err
		}
		res, err = job.Run(ctx, o.refs, o.job)
	}
	if err := cli.Stopped(err); err != nil {
		return trimmed{err}
	}
	if res == nil {
		return nil // a shard: the job said so
	}
	for _, r := range res.Checkpoints {
		fmt.Fprintf(stdout, "%s: %s\nwrote %s\n", r.Label, r.Headline(), strings.Join(r.Files, ", "))
	}
	for _, p := range res.SideBySide {
		fmt.Fprintf(stdout, "wrote %s\n", p)
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
	o := &options{figs: jobs.LandscapeFigures{Plots: true}}
	j, f, e := &o.job, &o.figs, &o.env
	fs := flag.NewFlagSet("landscape", flag.ContinueOnError)
	gridS := fs.String("grid", "-1:1:21", "grid MIN:MAX:NUM for both axes (the paper's: -1:1:21)")
	axis := map[string]*float64{}
	for _, n := range []string{"xmin", "xmax", "ymin", "ymax"} {
		axis[n] = fs.Float64(n, 0, fmt.Sprintf("%s range %simum (overrides --grid)", n[:1], n[1:]))
	}
	xnum := fs.Int("xnum", 0, "x resolution in points (overrides --grid)")
	ynum := fs.Int("ynum", 0, "y resolution in points (overrides --grid)")
	oneD := fs.Bool("1d", false, "a 1-D slice along x only")
	fs.StringVar(&j.Norm, "norm", "", "direction normalisation: filter (Li et al.), dim0 (the official code) or none (default filter; none for --eigvecs)")
	fs.Uint64Var(&j.Seed, "seed", 0, "seed of the random directions")
	fs.Uint64Var(&j.SubsetSeed, "subset-seed", 0, "seed of the evaluation subset and of its augmentation")
	fs.IntVar(&j.Images, "images", 1000, "number of training examples evaluated at each point (stratified subset)")
	fs.IntVar(&j.Batch, "batch", 50, "evaluation batch size (small batches run faster on CPU; the numbers depend on it in the last bits)")
	augment := augmentFlag("none")
	fs.Var(&augment, "augment", "evaluate on augmented images, made once: bare or =recipe for the checkpoint's training augmentation, =paper for the paper's, =none (default)")
	wd := fs.Float64("wd", 0, "weight decay wd of the plotted loss NLL + (wd/2)·Σ‖w‖² (default: the checkpoint's training weight decay, else 0)")
	fs.StringVar(&j.DirFrom, "dir-from", "", "checkpoint A: x runs along the line from A (x=0) to the checkpoint (x=1)")
	fs.StringVar(&j.Eigvecs, "eigvecs", "", "safetensors file of flat direction vectors eigvec.0, eigvec.1 (e.g. top Hessian eigenvectors)")
	fs.BoolVar(&j.Move1D, "move-1d", false, "let tensors of rank < 2 (biases, norm scales and shifts) move too")
	fs.BoolVar(&j.MovePos, "move-pos", false, "let position embeddings and relative-position tables move too")
	shardS := fs.String("shard", "", "evaluate only shard I/N of the points (default: from Slurm or Kubernetes, else all)")
	fs.BoolVar(&o.merge, "merge", false, "merge the shard journals in --out and write the outputs")
	fs.IntVar(&o.threads, "threads", 0, "parallel workers, one libtorch thread each (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&o.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&j.Dataset, "dataset", "", "dataset (default: the checkpoint's)")
	fs.StringVar(&e.DataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the official binary files)")
	fs.StringVar(&j.Split, "split", "train", "split to evaluate on: train (the paper's) or test")
	fs.StringVar(&e.Out, "out", "", "output folder (required)")
	fs.Float64Var(&f.Clip, "clip", 0, "cap the figures' value minus its minimum at this level: colours and heights saturate there (0: none)")
	clipMode := fs.String("clip-mode", "cap", "cap (draw values above --clip at --clip) or drop (leave those points out, as the paper's code does)")
	fs.BoolVar(&f.SideBySide, "side-by-side", false, "with several checkpoints, also draw them side by side on one colour scale")
	fs.BoolVar(&f.Plots, "plots", true, "render PNG figures")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: landscape [flags] CHECKPOINT [NAME=CHECKPOINT ...]\n(go doc github.com/vitprobe/vitprobe/cmd/landscape for the manual)")
	}
	ckpts, err := cli.ParseArgs(fs, args)
	switch {
	case err != nil:
		return nil, err
	case len(ckpts) == 0:
		return nil, cli.Usagef("no checkpoint given (usage: landscape [flags] CHECKPOINT [NAME=CHECKPOINT ...])")
	case e.Out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case *shardS != "" && o.merge:
		return nil, cli.Usagef("--merge reads every shard's journal: give no --shard")
	case f.Clip < 0 || math.IsNaN(f.Clip) || math.IsInf(f.Clip, 0):
		return nil, cli.Usagef("--clip %v: want a positive number, or 0 for none", f.Clip)
	case *clipMode != "cap" && *clipMode != "drop":
		return nil, cli.Usagef("--clip-mode %q: want cap or drop", *clipMode)
	}
	f.ClipDrop = *clipMode == "drop"
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if j.Grid, err = grid(*gridS, axis, *xnum, *ynum, *oneD, set); err != nil {
		return nil, err
	}
	if set["wd"] {
		j.WeightDecay = wd
	}
	if augment != "none" {
		j.Augment = string(augment)
	}
	if err := j.Validate(); err != nil && !o.merge {
		return nil, &cli.UsageError{Err: err}
	}
	if !o.merge {
		if e.Shard, err = cli.ResolveShard(*shardS); err != nil {
			return nil, err
		}
	}
	if o.refs, err = models.ParseRefs(ckpts); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	return o, nil
}

// grid makes the grid of --grid and the axis flags that were set.
func grid(s string, axis map[string]*float64, xnum, ynum int, oneD bool, set map[string]bool) (landscape.Grid, error) {
	a, err := landscape.ParseAxis(s)
	if err != nil {
		return landscape.Grid{}, cli.Usagef("--grid %s: %v", s, err)
	}
	g := landscape.Grid{X: a, Y: a}
	for name, v := range map[string]*float64{"xmin": &g.X.Min, "xmax": &g.X.Max, "ymin": &g.Y.Min, "ymax": &g.Y.Max} {
		if set[name] {
			*v = *axis[name]
		}
	}
	if set["xnum"] {
		g.X.N = xnum
	}
	if set["ynum"] {
		g.Y.N = ynum
	}
	if oneD {
		if set["ymin"] || set["ymax"] || set["ynum"] {
			return g, cli.Usagef("--1d takes no y range (--ymin, --ymax, --ynum)")
		}
		g.Y = landscape.Axis{}
	}
	if err := g.Validate(); err != nil {
		return g, cli.Usagef("%s", strings.TrimPrefix(err.Error(), "landscape: "))
	}
	return g, nil
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

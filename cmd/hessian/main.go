// Command hessian computes Hessian spectra of vitprobe checkpoints as Park &
// Kim, "How Do Vision Transformers Work?" (ICLR 2022, §2) do with
// PyHessian: the minibatch max-eigenvalue spectrum
// (the top-k eigenvalues of the Hessian of each of N minibatches, pooled
// and drawn as one density per model), its summaries NEP (share of
// negative eigenvalues) and APE (mean of the positive ones), and on request
// the trace (Hutchinson), the eigenvalue density (stochastic Lanczos
// quadrature) and the top-k eigenvalues of the Hessian over all the
// minibatches together.
//
// Usage:
//
//	hessian [flags] [label=]checkpoint ...
//	hessian --merge --out DIR [journal ...]
//
// A checkpoint is a vitprobe checkpoint (the .json sidecar or the
// .safetensors weights beside it, as cmd/train writes them), given as an
// argument or with --ckpt; "label=path" names its curve (default: the
// model's name, made unique with the training phase).
//
// An exported PyTorch model, the .pt file that python/vitprobe_export.py
// writes (or its .json sidecar), is accepted wherever a checkpoint is, as
// "path.pt" or "label=path.pt"; its minibatches come from --data, an image
// folder (one sub-folder per class; its train/ part when it has train/ and
// val/) or a safetensors file with x and y, resized and normalised as the
// sidecar says (docs/torchscript.md).
//
// # What is computed
//
// For every checkpoint, N minibatches (--batches) of --batch-size training
// examples are drawn with --seed (the same examples for every checkpoint;
// from the checkpoint's training subset when it was trained on a
// fraction), augmented with the checkpoint's training augmentation if
// --augment is given (label smoothing, mixup, CutMix, crops: the
// "augmented data" of the paper). The loss is the training NLL (against
// soft targets when the augmentation makes them) in eval mode, plus the
// L2 term of the weight decay wd, (wd/2)·Σ‖w‖² over the trainable tensors
// (--wd; by default the weight decay the checkpoint was trained with, else
// 0: see models/meta), which adds wd to every eigenvalue; the JSON says
// which wd was used and why. It is the project's one definition of the
// regularised loss: landscape plots the same (and the official code's
// NLL + wd·Σ‖w‖ beside it). The top --k
// eigenvalues of each minibatch's Hessian are found by power iteration
// with deflation at PyHessian's defaults (--method power: up to 100
// products per eigenvalue, relative tolerance 1e-3; power iteration finds
// the eigenvalues of largest magnitude, so a negative "max eigenvalue" is
// a minibatch whose dominant curvature is negative) or by Lanczos
// (--method lanczos: same eigenvalues, 1.6 to 2.5 times fewer products,
// tolerance 1e-6).
//
// --trace, --density and --full work on the Hessian of the mean loss over
// the first --full-batches minibatches (default: all of them): each of its
// products costs one product per minibatch. Their defaults are
// PyHessian's: Hutchinson with up to 100 Rademacher vectors and tolerance
// 1e-3, SLQ with 100 Lanczos steps and one vector.
//
// # Using the cores
//
// The minibatch spectra are computed --workers at a time (default: one
// per core, or $VITPROBE_THREADS), each on its own copy of the model with
// one libtorch thread: at the paper's batch of 16 a product of a small
// model does not fill two cores (two threads on one vit-mini product take
// longer than one here), while two minibatches at once take the time of
// one. The results reach the journal in batch order, and a batch's
// eigenvalues do not depend on --workers; --workers 1 computes one
// minibatch at a time on --threads libtorch threads (for a large model
// whose products do fill the cores, or to hold one graph in memory
// instead of one per worker). --trace, --density and --full deal their
// minibatches to as many workers, each summing its minibatches'
// products (their last digits depend on --workers: the sums are grouped
// by worker); with --workers 1 they run on --threads threads.
//
// # Outputs (in --out)
//
//	hessian.json      every eigenvalue with its batch index, residual and
//	                  product count, per model the summary (NEP, APE,
//	                  quantiles), trace, density quadrature, full top-k,
//	                  the settings and the provenance (command, versions,
//	                  checkpoint hashes)
//	eigenvalues.csv   one row per eigenvalue: label, batch, rank, value,
//	                  residual, converged
//	spectrum.png      the max-eigenvalue spectra of all checkpoints overlaid
//	                  (kernel density on a symmetric-log axis, NEP and APE
//	                  in the legend, each eigenvalue as a rug mark)
//	density.png       the SLQ eigenvalue densities (with --density)
//	summary.html      the tables (NEP, APE, quantiles, trace, top-k) with
//	                  the figures
//	journal*.jsonl    the record of finished work
//
// Outputs are written atomically once every batch is done, hessian.json
// last; nothing is written for a run that fails.
//
// # Interrupting, resuming, sharding
//
// Each minibatch's result is appended to the journal as soon as it is
// computed. Ctrl-C stops at the next Hessian-vector product (exit status
// 130); running the same command again skips every journaled batch (also
// after a crash or kill -9). A journal written with other settings is an
// error, never mixed in; --resume=false refuses to touch an existing one.
//
// --shard i/n (or a Slurm job array, or a Kubernetes Indexed Job with
// VITPROBE_SHARD_COUNT set) computes only the minibatches b with
// b mod n = i, and the trace, density and full top-k of checkpoints c with
// c mod n = i, into journal-shard-i-of-n.jsonl; when every shard is done,
// hessian --merge --out DIR (the shards' journals copied into DIR, or named
// as arguments) writes the same outputs as a single run, number for number.
//
// Errors (a missing or corrupt checkpoint, an unknown model, an empty data
// set, --k larger than a model's parameter count, a diverged model whose
// loss or Hessian-vector product is not finite, named by batch) stop the
// command with a one-line message and status 1; flag mistakes give status 2.
//
// # Examples
//
// The paper's protocol on three trained mini models, one plot:
//
//	hessian --out runs/spectra --batches 40 \
//	    resnet=runs/resnet-mini/final.json vit=runs/vit-mini/final.json alternet=runs/alternet-mini/final.json
//
// Early against late phase of one run, with augmented data, Lanczos:
//
//	hessian --out runs/phases --augment --method lanczos \
//	    warmup=runs/vit-mini/warmup.json final=runs/vit-mini/final.json
//
// Trace, density and top-5 of the Hessian over 8 minibatches of 64:
//
//	hessian --out runs/full --batches 8 --batch-size 64 --trace --density --full runs/vit-mini/final.json
//
// A Slurm job array of 4, then the merge:
//
//	sbatch --array=0-3 --wrap 'hessian --out runs/big --batches 400 runs/vit-ti/final.json'
//	hessian --merge --out runs/big
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
)

func main() { torchcli.Main("hessian", run) }

// ckptFlag collects repeated --ckpt values.
type ckptFlag []string

func (c *ckptFlag) String() string     { return strings.Join(*c, ",") }
func (c *ckptFlag) Set(v string) error { *c = append(*c, v); return nil }

// options are the parsed command line.
type options struct {
	job     jobs.HessianOptions
	args    []string // checkpoints, or journals with --merge
	threads int
	workers int
	device  string
	dataDir string
	out     string
	shard   shard.Shard
	merge   bool
	resume  bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	job := &jobs.Hessian{Env: jobs.Env{Out: o.out, Shard: o.shard, DataDir: o.dataDir, Log: stderr,
		Command: append([]string{"hessian"}, args...)}, NoResume: !o.resume}
	if !o.merge {
		if job.Workers, err = torchcli.Workers(o.workers, gotch.CPU); err != nil {
			return err
		}
	}
	res, err := torchcli.RunSharded(ctx, "hessian", job, &job.Env, o.job, o.merge, o.args, o.threads, o.device, stdout)
	if err != nil || res == nil {
		return err
	}
	for _, m := range res.Models {
		fmt.Fprintf(stdout, "%s: NEP %.1f%%, APE %s over %d eigenvalues (%d minibatches, %d products, wd %g from %s)\n",
			m.Label, 100*m.Summary.NEP, jobs.FormatValue(m.Summary.APE), m.Summary.N, len(m.Batches), m.Products,
			m.WeightDecay, m.WeightDecaySource)
	}
	figures := "spectrum.png"
	if res.Settings.Density {
		figures += ", density.png"
	}
	fmt.Fprintf(stdout, "wrote %s (hessian.json, eigenvalues.csv, %s, summary.html)\n", o.out, figures)
	return nil
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("hessian", flag.ContinueOnError)
	var ck ckptFlag
	o := &options{}
	j := &o.job
	var wd float64
	fs.Var(&ck, "ckpt", "checkpoint `[label=]path` (repeatable; also positional arguments)")
	fs.IntVar(&j.Batches, "batches", 20, "number of minibatches N")
	fs.IntVar(&j.BatchSize, "batch-size", 16, "minibatch size (the paper: 16)")
	fs.IntVar(&j.K, "k", 5, "eigenvalues per minibatch (the paper: top 5)")
	fs.StringVar(&j.Method, "method", "power", "eigenvalue method: power (PyHessian's power iteration with deflation) or lanczos")
	fs.Float64Var(&j.Tol, "tol", 0, "relative tolerance (0: the method's default, power 1e-3, lanczos 1e-6)")
	fs.IntVar(&j.MaxIter, "max-iter", 0, "power: products per eigenvalue (0: 100); lanczos: Krylov steps (0: max(100, 4k))")
	fs.Float64Var(&wd, "wd", 0, "weight decay wd of the loss NLL + (wd/2)·Σ‖w‖², shifting every eigenvalue by wd (default: the checkpoint's training weight decay, else 0)")
	fs.BoolVar(&j.Augment, "augment", false, "augment the minibatches with the checkpoint's training augmentation (label smoothing, mixup, CutMix, crops)")
	fs.BoolVar(&j.Trace, "trace", false, "also estimate the trace of the Hessian over the minibatches (Hutchinson)")
	fs.BoolVar(&j.Density, "density", false, "also estimate its eigenvalue density (stochastic Lanczos quadrature)")
	fs.BoolVar(&j.Full, "full", false, "also compute its top-k eigenvalues (with --method)")
	fs.IntVar(&j.FullBatches, "full-batches", 0, "minibatches in the Hessian of --trace/--density/--full (0: all)")
	fs.BoolVar(&j.Retain, "retain", false, "keep every minibatch's graph for --trace/--density/--full (faster, memory for all graphs)")
	fs.IntVar(&j.TraceSamples, "trace-samples", 100, "Hutchinson: maximum number of Rademacher vectors (tolerance 1e-3 as PyHessian)")
	fs.IntVar(&j.SLQSteps, "slq-steps", 100, "SLQ: Lanczos steps per vector")
	fs.IntVar(&j.SLQVectors, "slq-vectors", 1, "SLQ: number of start vectors")
	fs.StringVar(&j.Curvature, "curvature", "hessian", "matrix of the minibatch spectra: hessian, ggn (generalised Gauss-Newton) or fisher (empirical Fisher)")
	fs.StringVar(&j.Params, "params", "", "restrict the matrix to the parameters whose names match this regular expression (e.g. 'blocks\\.3\\.attn'), the others fixed")
	fs.Uint64Var(&j.Seed, "seed", 0, "random seed (minibatches, augmentation, start vectors)")
	fs.IntVar(&o.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.IntVar(&o.workers, "workers", 0, "minibatch spectra computed at once, one libtorch thread each, and the workers of --trace/--density/--full (0: one per core, or $VITPROBE_THREADS; 1: one at a time on --threads threads)")
	fs.StringVar(&o.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&o.dataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
	fs.StringVar(&j.Dataset, "dataset", "", "dataset (default: the one each checkpoint was trained on)")
	fs.StringVar(&o.out, "out", "", "output folder (required)")
	shardFlag := fs.String("shard", "", "compute only shard `i/n` of the work (default: from Slurm/Kubernetes, else all)")
	fs.BoolVar(&o.merge, "merge", false, "merge the shard journals in --out (or given as arguments) into the outputs")
	fs.BoolVar(&o.resume, "resume", true, "resume from a journal in --out written with the same settings (false: refuse to touch an existing journal)")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: hessian [flags] [label=]checkpoint ...\n       hessian --merge --out DIR [journal ...]\n\nMinibatch Hessian max-eigenvalue spectra (Park & Kim 2022) of vitprobe checkpoints; see go doc ./cmd/hessian.")
	}
	// Flags may follow the checkpoints: parse, take a positional
	// argument, parse the rest, until none are left.
	positional, err := cli.ParseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "wd" {
			j.WeightDecay = &wd
		}
	})
	o.args = append([]string(ck), positional...)
	switch {
	case o.out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case o.merge && len(ck) > 0:
		return nil, cli.Usagef("--merge takes journals, not --ckpt")
	case o.merge:
		return o, nil
	case len(o.args) == 0:
		return nil, cli.Usagef("no checkpoint given (arguments or --ckpt)")
	case o.threads < 0:
		return nil, cli.Usagef("--threads %d: want 0 (all cores) or a positive count", o.threads)
	case o.workers < 0:
		return nil, cli.Usagef("--workers %d: want 0 (one per core) or a positive count", o.workers)
	}
	if err := j.Validate(); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	o.shard, err = cli.ResolveShard(*shardFlag)
	return o, err
}

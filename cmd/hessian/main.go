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
// (--wd; by default the weight decay the checkpoint was trained with,
// else the paper's 0.05, as cmd/landscape), which adds wd to every
// eigenvalue; the JSON says which wd was used and why. It is the
// project's one definition of the regularised loss: cmd/landscape plots
// the same (and the official code's NLL + wd·Σ‖w‖ beside it). The top --k
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
	"math"
	"os"
	"strings"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/shard"
)

func main() { cli.Main("hessian", run) }

// ckptFlag collects repeated --ckpt values.
type ckptFlag []string

func (c *ckptFlag) String() string     { return strings.Join(*c, ",") }
func (c *ckptFlag) Set(v string) error { *c = append(*c, v); return nil }

// options are the parsed command line.
type options struct {
	args         []string // the command line, for provenance
	ckpts        []string
	batches      int
	batchSize    int
	k            int
	method       string
	tol          float64
	maxIter      int
	wd           float64
	wdSet        bool
	augment      bool
	trace        bool
	density      bool
	full         bool
	fullBatches  int
	retain       bool
	traceSamples int
	slqSteps     int
	slqVectors   int
	seed         uint64
	threads      int
	device       string
	dataDir      string
	dataset      string
	out          string
	shard        shard.Shard
	merge        bool
	resume       bool
	stderr       io.Writer
	stdout       io.Writer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	o.stdout, o.stderr = stdout, stderr
	if o.merge {
		return runMerge(o)
	}
	return runCompute(ctx, o)
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("hessian", flag.ContinueOnError)
	var ck ckptFlag
	o := &options{args: append([]string{"hessian"}, args...)}
	fs.Var(&ck, "ckpt", "checkpoint `[label=]path` (repeatable; also positional arguments)")
	fs.IntVar(&o.batches, "batches", 20, "number of minibatches N")
	fs.IntVar(&o.batchSize, "batch-size", 16, "minibatch size (the paper: 16)")
	fs.IntVar(&o.k, "k", 5, "eigenvalues per minibatch (the paper: top 5)")
	fs.StringVar(&o.method, "method", "power", "eigenvalue method: power (PyHessian's power iteration with deflation) or lanczos")
	fs.Float64Var(&o.tol, "tol", 0, "relative tolerance (0: the method's default, power 1e-3, lanczos 1e-6)")
	fs.IntVar(&o.maxIter, "max-iter", 0, "power: products per eigenvalue (0: 100); lanczos: Krylov steps (0: max(100, 4k))")
	fs.Float64Var(&o.wd, "wd", 0, "weight decay wd of the loss NLL + (wd/2)·Σ‖w‖², shifting every eigenvalue by wd (default: the checkpoint's training weight decay, else the paper's 0.05)")
	fs.BoolVar(&o.augment, "augment", false, "augment the minibatches with the checkpoint's training augmentation (label smoothing, mixup, CutMix, crops)")
	fs.BoolVar(&o.trace, "trace", false, "also estimate the trace of the Hessian over the minibatches (Hutchinson)")
	fs.BoolVar(&o.density, "density", false, "also estimate its eigenvalue density (stochastic Lanczos quadrature)")
	fs.BoolVar(&o.full, "full", false, "also compute its top-k eigenvalues (with --method)")
	fs.IntVar(&o.fullBatches, "full-batches", 0, "minibatches in the Hessian of --trace/--density/--full (0: all)")
	fs.BoolVar(&o.retain, "retain", false, "keep every minibatch's graph for --trace/--density/--full (faster, memory for all graphs)")
	fs.IntVar(&o.traceSamples, "trace-samples", 100, "Hutchinson: maximum number of Rademacher vectors (tolerance 1e-3 as PyHessian)")
	fs.IntVar(&o.slqSteps, "slq-steps", 100, "SLQ: Lanczos steps per vector")
	fs.IntVar(&o.slqVectors, "slq-vectors", 1, "SLQ: number of start vectors")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (minibatches, augmentation, start vectors)")
	fs.IntVar(&o.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&o.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&o.dataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
	fs.StringVar(&o.dataset, "dataset", "", "dataset (default: the one each checkpoint was trained on)")
	fs.StringVar(&o.out, "out", "", "output folder (required)")
	shardFlag := fs.String("shard", "", "compute only shard `i/n` of the work (default: from Slurm/Kubernetes, else all)")
	fs.BoolVar(&o.merge, "merge", false, "merge the shard journals in --out (or given as arguments) into the outputs")
	fs.BoolVar(&o.resume, "resume", true, "resume from a journal in --out written with the same settings (false: refuse to touch an existing journal)")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: hessian [flags] [label=]checkpoint ...\n       hessian --merge --out DIR [journal ...]\n\nMinibatch Hessian max-eigenvalue spectra (Park & Kim 2022) of vitprobe checkpoints; see go doc ./cmd/hessian.")
	}
	// Flags may follow the checkpoints: parse, take a positional
	// argument, parse the rest, until none are left.
	var positional []string
	for rest := args; ; {
		if err := cli.ParseFlags(fs, rest, true); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "wd" {
			o.wdSet = true
		}
	})
	o.ckpts = append([]string(ck), positional...)
	if o.out == "" {
		return nil, cli.Usagef("--out is required (the output folder)")
	}
	if o.merge {
		if len(ck) > 0 {
			return nil, cli.Usagef("--merge takes journals, not --ckpt")
		}
		return o, nil
	}
	switch {
	case len(o.ckpts) == 0:
		return nil, cli.Usagef("no checkpoint given (arguments or --ckpt)")
	case o.batches < 1:
		return nil, cli.Usagef("--batches %d: want at least 1", o.batches)
	case o.batchSize < 1:
		return nil, cli.Usagef("--batch-size %d: want at least 1", o.batchSize)
	case o.k < 1:
		return nil, cli.Usagef("--k %d: want at least 1", o.k)
	case o.method != "power" && o.method != "lanczos":
		return nil, cli.Usagef("--method %q: want power or lanczos", o.method)
	case math.IsNaN(o.tol) || math.IsInf(o.tol, 0) || o.tol < 0:
		return nil, cli.Usagef("--tol %v: want a finite number >= 0 (0: the method's default)", o.tol)
	case o.maxIter < 0:
		return nil, cli.Usagef("--max-iter %d: want >= 0 (0: the method's default)", o.maxIter)
	case o.method == "lanczos" && o.maxIter > 0 && o.maxIter < o.k:
		return nil, cli.Usagef("--max-iter %d: Lanczos needs at least --k = %d steps", o.maxIter, o.k)
	case math.IsNaN(o.wd) || math.IsInf(o.wd, 0) || o.wd < 0:
		return nil, cli.Usagef("--wd %v: want a finite number >= 0", o.wd)
	case o.fullBatches < 0 || o.fullBatches > o.batches:
		return nil, cli.Usagef("--full-batches %d: want 0 (all) to --batches = %d", o.fullBatches, o.batches)
	case o.traceSamples < 2:
		return nil, cli.Usagef("--trace-samples %d: want at least 2", o.traceSamples)
	case o.slqSteps < 1 || o.slqVectors < 1:
		return nil, cli.Usagef("--slq-steps %d, --slq-vectors %d: want at least 1 each", o.slqSteps, o.slqVectors)
	case o.threads < 0:
		return nil, cli.Usagef("--threads %d: want 0 (all cores) or a positive count", o.threads)
	}
	if o.fullBatches == 0 {
		o.fullBatches = o.batches
	}
	s, err := shard.Resolve(*shardFlag, os.Getenv)
	if err != nil {
		if *shardFlag != "" {
			return nil, &cli.UsageError{Err: fmt.Errorf("--shard: %w", err)}
		}
		return nil, err
	}
	o.shard = s
	return o, nil
}

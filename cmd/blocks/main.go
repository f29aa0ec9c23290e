// Command blocks computes per-block curvature spectra of vitprobe
// checkpoints: for every block of a model (the stem, each residual block,
// each MSA and MLP sub-block of a ViT block, the head) the top eigenvalues
// and the trace of the curvature matrix of the block's parameters alone
// (the others held fixed) on each of N minibatches, drawn against the
// block's normalised depth with MSA blocks shaded as in Park & Kim, "How
// Do Vision Transformers Work?" (ICLR 2022), and NEP (share of negative
// eigenvalues) and APE (mean of the positive ones) per block kind.
//
// Usage:
//
//	blocks --out DIR [flags] [label=]checkpoint ...
//	blocks --merge --out DIR [journal ...]
//
// A checkpoint is a vitprobe checkpoint (the .json sidecar or the
// .safetensors weights beside it), given as "path" or "label=path", as
// for cmd/hessian.
//
// # What is computed
//
// N minibatches (--batches) of --batch-size training examples are drawn
// with --seed (the same examples for every checkpoint). The matrix
// (--curvature) is the Hessian of the training NLL in eval mode, the
// generalised Gauss-Newton matrix (ggn) or the empirical Fisher (fisher),
// plus the L2 term of the weight decay (--wd; by default the checkpoint's
// training weight decay), restricted to one block's parameters: its top
// --k eigenvalues by magnitude (Lanczos, relative accuracy 1e-4), its
// Hutch++ trace (--trace-products; 0: none) and with --density its
// eigenvalue density (stochastic Lanczos quadrature, --slq-steps steps).
// --params keeps only the blocks whose names match a regular expression
// ("attn", "^layer4", "head").
//
// # Outputs (in --out)
//
//	blocks.json     per model and block: name, kind, depth, size, per
//	                minibatch the top-k values, residuals, trace (mean and
//	                standard error), density; the block's summary (NEP,
//	                APE, quantiles) and mean trace; per block kind NEP and
//	                APE; the settings and the provenance
//	blocks.csv      one row per model, block, minibatch and rank
//	blocks.png      the per-block figure against normalised depth
//	blocks-journal*.jsonl  the record of finished work
//
// Outputs are written atomically once every block is done, blocks.json
// last; nothing is written for a run that fails.
//
// # Using the cores
//
// The (block, minibatch) pieces of work are computed --workers at a time
// (default: one per core, or $VITPROBE_THREADS), each on its own copy of
// the model with one libtorch thread, and reach the journal in order; a
// piece's numbers are those of --workers 1 --threads 1, whatever the
// number of workers (and so of a resumed or sharded run's last piece).
// --workers 1 computes one at a time on --threads libtorch threads.
//
// # Interrupting, resuming, sharding
//
// Each (model, block, minibatch) is appended to the journal as soon as it
// is computed. Ctrl-C stops at the next product (exit status 130); running
// the same command again skips every journaled piece of work. A journal
// written with other settings is an error, never mixed in.
//
// --shard i/n (or a Slurm job array) computes only the pieces of work
// whose number is i mod n, into blocks-journal-shard-i-of-n.jsonl; blocks
// --merge --out DIR then writes the outputs of a single run, number for
// number.
//
// Errors (a missing or corrupt checkpoint, an unknown curvature, a
// --params that matches no block, a diverged model) stop the command with
// a one-line message and status 1, or 2 for flag mistakes.
//
// # Example
//
//	blocks --out runs/blocks --batches 4 \
//	    resnet=runs/resnet-mini/final.json vit=runs/vit-mini/final.json alternet=runs/alternet-mini/final.json
package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sugarme/gotch"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
)

func main() { torchcli.Main("blocks", run) }

// options are the parsed command line.
type options struct {
	job     jobs.BlocksOptions
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
	job := &jobs.Blocks{Env: jobs.Env{Out: o.out, Shard: o.shard, DataDir: o.dataDir, Log: stderr,
		Command: append([]string{"blocks"}, args...)}, NoResume: !o.resume}
	if !o.merge {
		if job.Workers, err = torchcli.Workers(o.workers, gotch.CPU); err != nil {
			return err
		}
	}
	res, err := torchcli.RunSharded(ctx, "blocks", job, &job.Env, o.job, o.merge, o.args, o.threads, o.device, stdout)
	if err != nil || res == nil {
		return err
	}
	for _, m := range res.Models {
		fmt.Fprintf(stdout, "%s: %d blocks, %d products, wd %g from %s\n", m.Label, len(m.Blocks), m.Products, m.WeightDecay, m.WeightDecaySource)
		for _, k := range m.Kinds {
			fmt.Fprintf(stdout, "  %-4s %2d blocks: NEP %5.1f%%, APE %s over %d eigenvalues\n", k.Kind, k.Blocks, 100*k.NEP,
				jobs.FormatValue(k.APE), k.N)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (blocks.json, blocks.csv, blocks.png)\n", o.out)
	return nil
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("blocks", flag.ContinueOnError)
	o := &options{}
	j := &o.job
	var wd float64
	var density bool
	fs.StringVar(&j.Curvature, "curvature", "hessian", "matrix: hessian, ggn (generalised Gauss-Newton) or fisher (empirical Fisher)")
	fs.IntVar(&j.Batches, "batches", 4, "number of minibatches N")
	fs.IntVar(&j.BatchSize, "batch-size", 16, "minibatch size (the paper: 16)")
	fs.IntVar(&j.K, "k", 5, "top eigenvalues per block and minibatch")
	fs.IntVar(&j.TraceProducts, "trace-products", 30, "Hutch++ products of each block's trace per minibatch (0: no trace)")
	fs.BoolVar(&density, "density", false, "also estimate each block's eigenvalue density per minibatch (stochastic Lanczos quadrature)")
	fs.IntVar(&j.SLQSteps, "slq-steps", 50, "--density: Lanczos steps (one start vector)")
	fs.StringVar(&j.Params, "params", "", "only the blocks whose names match this regular expression (e.g. 'attn', '^layer4')")
	fs.Float64Var(&wd, "wd", 0, "L2 coefficient added to the loss, shifting every eigenvalue by wd (default: the checkpoint's training weight decay, else 0)")
	fs.Uint64Var(&j.Seed, "seed", 0, "random seed (minibatches, start vectors)")
	fs.IntVar(&o.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.IntVar(&o.workers, "workers", 0, "(block, minibatch) pieces computed at once, one libtorch thread each (0: one per core, or $VITPROBE_THREADS; 1: one at a time on --threads threads)")
	fs.StringVar(&o.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&o.dataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
	fs.StringVar(&j.Dataset, "dataset", "", "dataset (default: the one each checkpoint was trained on)")
	fs.StringVar(&o.out, "out", "", "output folder (required)")
	shardFlag := fs.String("shard", "", "compute only shard `i/n` of the work (default: from Slurm/Kubernetes, else all)")
	fs.BoolVar(&o.merge, "merge", false, "merge the shard journals in --out (or given as arguments) into the outputs")
	fs.BoolVar(&o.resume, "resume", true, "resume from a journal in --out written with the same settings (false: refuse to touch an existing journal)")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: blocks --out DIR [flags] [label=]checkpoint ...\n       blocks --merge --out DIR [journal ...]\n\nPer-block curvature spectra against depth, NEP and APE per block kind; see go doc ./cmd/blocks.")
	}
	positional, err := cli.ParseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "wd" {
			j.WeightDecay = &wd
		}
	})
	if !density {
		j.SLQSteps = 0
	} else if j.SLQSteps < 1 {
		return nil, cli.Usagef("--slq-steps %d: want at least 1", j.SLQSteps)
	}
	o.args = positional
	switch {
	case o.out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case o.merge:
		return o, nil
	case len(o.args) == 0:
		return nil, cli.Usagef("no checkpoint given")
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

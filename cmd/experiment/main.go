// Command experiment runs the paper's further experiments on the mini
// models (package experiments): data size, smoothing, local attention,
// trajectories, pre-training then fine-tuning, and the build-up rule, and
// writes one report with every claim's verdict.
//
// Usage:
//
//	experiment --out DIR [--only LIST] [--tiny] [flags]
//
// Every run and measurement is kept in DIR (runs/, one folder per
// training configuration) and reused: a second call, or an experiment
// needing a run another one made, finds it done; an interrupted call
// (Ctrl-C, kill -9) continues where it stopped. Several processes may work
// in the same DIR (say --only datasize and --only buildup, one thread
// each): every run is locked while it is trained or measured.
//
// DIR receives index.html (the findings, a section per experiment with its
// figures and tables, the time spent), findings.json, timings.tsv and a
// folder per experiment (result.json and the PNGs). The report covers
// every experiment that has run in DIR, not only those of this call.
//
// --tiny is a smoke test of every experiment in a few minutes (a dozen
// steps per run, the smallest spectra a verdict accepts); its verdicts
// mean nothing.
//
// Examples:
//
//	experiment --out runs/exp --tiny
//	experiment --out runs/exp --only datasize,smoothing --threads 1
//	experiment --out runs/exp --only buildup --steps 300
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/experiments"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/train"
)

func main() { torchcli.Main("experiment", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	var (
		out        = fs.String("out", "", "folder of the runs, results and report (required)")
		only       = fs.String("only", "", "comma-separated experiments to run: "+strings.Join(experiments.Names, ", ")+" (default all)")
		tiny       = fs.Bool("tiny", false, "smoke-test sizes: every experiment in minutes, verdicts meaningless")
		steps      = fs.Int("steps", 0, "training steps per run (default: 300, tiny 12)")
		batch      = fs.Int("batch", 0, "batch size (default: 64, tiny 32)")
		lr         = fs.Float64("lr", 0, "peak learning rate (default 1e-3)")
		hbatches   = fs.Int("hessian-batches", 0, "minibatches of each Hessian spectrum (default: 8, tiny 5)")
		directions = fs.Int("directions", -1, "landscape slices per run (default: 3, tiny 2; 0 none)")
		dataDir    = fs.String("data", "", "dataset folder (MNIST: found by itself)")
		threads    = fs.Int("threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	)
	fs.Usage = func() { cli.Usage(stderr, fs, "usage: experiment --out DIR [--only LIST] [--tiny] [flags]") }
	if err := cli.ParseFlags(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--out is required (the folder of the runs and the report)")
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	lab := &experiments.Lab{Dir: *out, DataDir: *dataDir, Log: stderr,
		Budget: experiments.DefaultBudget(), MeasureSpec: experiments.DefaultMeasure()}
	plans := experiments.DefaultPlans()
	if *tiny {
		lab.Budget, lab.MeasureSpec, plans = experiments.TinyBudget(), experiments.TinyMeasure(), experiments.TinyPlans()
	}
	if *steps != 0 {
		lab.Budget.Steps = *steps
	}
	if *batch != 0 {
		lab.Budget.Batch = *batch
	}
	if *lr != 0 {
		lab.Budget.LR = *lr
	}
	if *hbatches != 0 {
		lab.MeasureSpec.Batches = *hbatches
	}
	if *directions >= 0 {
		lab.MeasureSpec.Directions = *directions
	}
	if err := lab.Budget.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	if err := lab.MeasureSpec.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	n, _, err := torchcli.Setup(*threads, "cpu")
	if err != nil {
		return err
	}
	lab.Threads = n
	t0 := time.Now()
	parts, err := experiments.RunAll(ctx, lab, plans, names)
	if errors.Is(err, train.ErrInterrupted) || errors.Is(err, context.Canceled) {
		return cli.ErrInterrupted
	}
	if err != nil {
		var ue *experiments.UnknownError
		if errors.As(err, &ue) {
			return &cli.UsageError{Err: err}
		}
		return err
	}
	all, err := experiments.WithSaved(lab.Dir, parts)
	if err != nil {
		return err
	}
	path, err := experiments.WriteReport(lab, all)
	if err != nil {
		return err
	}
	for _, p := range parts {
		for _, f := range p.Findings() {
			fmt.Fprintf(stdout, "%-13s %-14s %s\n", p.Name(), f.Verdict, f.Claim)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (%.1f min)\n", path, time.Since(t0).Minutes())
	return nil
}

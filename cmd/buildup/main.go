// Command buildup runs the paper's build-up rule for AlterNet (package
// buildup): from a convolutional network, MSA blocks replace
// convolutional blocks one at a time from the end of the last stage,
// alternately, a replacement kept only when validation accuracy improves
// by more than the seed-to-seed noise, else the rule moves to the end of
// the previous stage. Every candidate is trained from each seed on the
// same budget and validation split.
//
// Usage:
//
//	buildup --out DIR [flags]
//
// It prints the trial log (candidate, validation accuracy per seed, mean
// and standard error, difference to the current pattern, kept or not) and
// the architecture it arrives at as a preset string, which train and every
// analysis accept:
//
//	train --model 'alternet-mini:C,CC,CC,CMCM' --out runs/final
//
// DIR keeps the runs (runs/), the journal of scores (buildup/journal.jsonl:
// a stopped run resumes without retraining anything), buildup/result.json,
// the Fig. 12a plot buildup/fig12a-buildup.png and index.html. It shares
// the folder layout of the experiment command, so the two can use one DIR.
//
// Examples:
//
//	buildup --out runs/buildup
//	buildup --out runs/buildup --start C,CC,CC,CCCC --seeds 0,1,2 --steps 300 --z 2
//	buildup --out /tmp/b --tiny
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/experiments"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/train"
)

func main() { torchcli.Main("buildup", run) }

func ints[T int | uint64](s string, parse func(string) (T, error)) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a non-negative integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := experiments.DefaultBuildUpPlan()
	fs := flag.NewFlagSet("buildup", flag.ContinueOnError)
	var (
		out        = fs.String("out", "", "folder of the runs, the journal and the results (required)")
		base       = fs.String("base", def.Base, "AlterNet-family preset whose widths, heads and window the patterns use")
		start      = fs.String("start", def.Start, "pattern to start from, stages joined by commas (C convolution, M MSA)")
		heads      = fs.String("heads", "", "MSA heads per stage, e.g. 1,2,4,8 (default: the base's)")
		dataset    = fs.String("dataset", def.Dataset, "dataset")
		fraction   = fs.Float64("fraction", def.Fraction, "stratified share of the training split (after the validation split) each candidate trains on")
		validation = fs.Float64("validation", def.Validation, "stratified share of the training split held out for validation")
		seedList   = fs.String("seeds", "0,1", "seeds every candidate is trained with (at least two)")
		z          = fs.Float64("z", def.Z, "margin: a candidate is kept when better by more than Z standard errors of the difference")
		minStage   = fs.Int("min-stage", 1, "earliest stage (from 1) that may receive an MSA block")
		maxTrials  = fs.Int("max-trials", def.MaxTrials, "at most this many candidates (0: until the rule stops)")
		tiny       = fs.Bool("tiny", false, "smoke-test sizes (a dozen steps per run, two candidates)")
		steps      = fs.Int("steps", 0, "training steps per run (default: 300, tiny 12)")
		batch      = fs.Int("batch", 0, "batch size (default: 64, tiny 32)")
		lr         = fs.Float64("lr", 0, "peak learning rate (default 1e-3)")
		dataDir    = fs.String("data", "", "dataset folder (MNIST: found by itself)")
		threads    = fs.Int("threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	)
	fs.Usage = func() { cli.Usage(stderr, fs, "usage: buildup --out DIR [flags]") }
	if err := cli.ParseFlags(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--out is required")
	}
	p := def
	lab := &experiments.Lab{Dir: *out, DataDir: *dataDir, Log: stderr, Budget: experiments.DefaultBudget(), MeasureSpec: experiments.DefaultMeasure()}
	if *tiny {
		lab.Budget, lab.MeasureSpec = experiments.TinyBudget(), experiments.TinyMeasure()
		p = experiments.TinyPlans().BuildUp
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if p.Seeds, err = ints(*seedList, func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }); err != nil {
		return cli.Usagef("--seeds: %v", err)
	}
	if p.Heads, err = ints(*heads, strconv.Atoi); err != nil {
		return cli.Usagef("--heads: %v", err)
	}
	p.Base, p.Start, p.Dataset, p.Z, p.MinStage = *base, *start, *dataset, *z, *minStage-1
	if set["fraction"] || !*tiny {
		p.Fraction = *fraction
	}
	if set["validation"] || !*tiny {
		p.Validation = *validation
	}
	if set["max-trials"] || !*tiny {
		p.MaxTrials = *maxTrials
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
	if err := lab.Budget.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	switch {
	case len(p.Seeds) < 2:
		return cli.Usagef("--seeds: give at least two, to measure the seed-to-seed noise")
	case !(p.Z > 0):
		return cli.Usagef("--z %v: want a positive number of standard errors", p.Z)
	case p.MinStage < 0:
		return cli.Usagef("--min-stage %d: stages count from 1", *minStage)
	case !(p.Validation > 0 && p.Validation < 1):
		return cli.Usagef("--validation %v: want a share in (0, 1)", p.Validation)
	case !(p.Fraction > 0 && p.Fraction <= 1):
		return cli.Usagef("--fraction %v: want a share in (0, 1]", p.Fraction)
	}
	n, _, err := torchcli.Setup(*threads, "cpu")
	if err != nil {
		return err
	}
	lab.Threads = n
	res, err := experiments.BuildUp(ctx, lab, p)
	if errors.Is(err, train.ErrInterrupted) || errors.Is(err, context.Canceled) {
		return cli.ErrInterrupted
	}
	if err != nil {
		return err
	}
	t := res.TrialTable()
	fmt.Fprintln(stdout, strings.Join(t.Header[:8], " | "))
	for _, row := range t.Rows {
		fmt.Fprintln(stdout, strings.Join(row[:8], " | "))
	}
	fmt.Fprintf(stdout, "final pattern: %s\npreset: %s\n%s\n", res.Result.Final, res.Preset, res.Describe)
	all, err := experiments.WithSaved(lab.Dir, []experiments.Part{res})
	if err != nil {
		return err
	}
	path, err := experiments.WriteReport(lab, all)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}

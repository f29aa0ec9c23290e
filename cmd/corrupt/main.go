// Command corrupt measures robustness to common corruptions (paper Fig.
// 12b, after ImageNet-C): the accuracy of one or more checkpoints on test
// images corrupted in Go by Gaussian, shot and impulse noise, defocus and
// motion blur, brightness, contrast, an elastic transform and pixelation,
// each at severities 1 to 5, and each model's corruption error (CE, mCE)
// relative to a baseline model's. docs/representation.md gives the
// definitions and parameters.
//
// Usage:
//
//	corrupt --out DIR [flags] CHECKPOINT...
//
// A CHECKPOINT is a checkpoint sidecar (.json), its weights, their base
// path or a run folder of cmd/train; "name=PATH" labels it. The images are
// the first --images of the test split; every image's corruption is drawn
// from --seed and its index, so every model sees the same corrupted
// images. The baseline of the CE is --baseline (a checkpoint's name), by
// default the first ResNet among the checkpoints, else the first.
//
// Output (in --out): corrupt.json (every accuracy with per-image outcomes,
// the CE summary, provenance), corrupt.csv (accuracy per model, corruption
// and severity), mce.csv (CE per model and corruption, mCE), corrupt.png
// (accuracy against severity), sheet.png (test image --sheet under every
// corruption and severity), findings.json (AlterNet against the baseline,
// when an AlterNet is among the checkpoints) and journals/NAME.jsonl, so
// that a stopped run resumes per (corruption, severity).
//
// On a cluster, --shard i/n (or the task index of a Slurm job array or a
// Kubernetes Indexed Job) evaluates only every n-th condition and writes
// journals/NAME.shard-i-of-n.jsonl; a last run without --shard reads those
// journals, evaluates whatever no shard finished and writes the outputs.
//
// Examples:
//
//	corrupt --out runs/corrupt runs/resnet-mini runs/vit-mini runs/alternet-mini
//	corrupt --out runs/c --images 2000 --corruptions contrast,pixelate --severities 3,5 runs/*/final.json
//	corrupt --out runs/c --shard 0/4 runs/vit-mini    # and 1/4, 2/4, 3/4, then without --shard
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/results"
)

func main() { torchcli.Main("corrupt", run) }

type config struct {
	ckptarg.Common
	baseline       string
	workers, sheet int
	seed           uint64
	shard          shard.Shard
	conds          []data.Corruption
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("corrupt", flag.ContinueOnError)
	c := &config{}
	c.Register(fs, 10000, 250, "images per forward pass")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the corruptions")
	names := fs.String("corruptions", strings.Join(data.CorruptionNames(), ","), "corruptions, comma-separated")
	sevs := fs.String("severities", "1,2,3,4,5", "severities, comma-separated")
	fs.StringVar(&c.baseline, "baseline", "", "name of the checkpoint whose errors normalise the CE (default: the first ResNet, else the first)")
	fs.IntVar(&c.sheet, "sheet", 0, "test image of the contact sheet (-1: none)")
	shardFlag := fs.String("shard", "", "evaluate shard i/n of the (corruption, severity) conditions only (also from Slurm/Kubernetes variables); a run without it assembles the shards' journals")
	fs.IntVar(&c.workers, "workers", 0, "goroutines that corrupt the images (0: all cores)")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	var err error
	if c.shard, err = shard.Resolve(*shardFlag, os.Getenv); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	for _, n := range strings.Split(*names, ",") {
		for _, s := range strings.Split(*sevs, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			cond := data.Corruption{Name: strings.TrimSpace(n), Severity: v}
			if err != nil || cond.Validate() != nil {
				return nil, cli.Usagef("--corruptions %q --severities %q: %v is not a corruption (known: %s; severities 1 to 5)", *names, *sevs, cond, strings.Join(data.CorruptionNames(), ", "))
			}
			c.conds = append(c.conds, cond)
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	in, err := c.Open()
	if err != nil {
		return err
	}
	cks, dataset, ds, threads, dev := in.Checkpoints, in.Dataset, in.Test, in.Threads, in.Device
	base, alter := pick(cks, c.baseline)
	if base == "" {
		return cli.Usagef("--baseline %q is not the name of a checkpoint", c.baseline)
	}
	if c.Images > ds.Len() || c.sheet >= ds.Len() {
		return cli.Usagef("--images %d, --sheet %d: the %s test split has %d images", c.Images, c.sheet, dataset, ds.Len())
	}
	if err := os.MkdirAll(filepath.Join(c.Out, "journals"), 0o755); err != nil {
		return err
	}
	out := results.Corruption{Provenance: prov.New("corrupt", append([]string{"corrupt"}, args...), c.seed, threads), Dataset: dataset}
	var names []string
	var rs []*analysis.CorruptionResult
	for _, ck := range cks {
		out.Provenance.Inputs = append(out.Provenance.Inputs, prov.Input{Path: ck.Path, SHA256: ck.SidecarSHA256})
		t0 := time.Now()
		r, err := c.evalModel(ctx, ck, ds, dataset, dev, stderr)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "corrupt: interrupted; finished conditions are kept in %s\n", filepath.Join(c.Out, "journals"))
			return cli.ErrInterrupted
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ck.Name, err)
		}
		if r == nil { // a shard: its journal is the output
			fmt.Fprintf(stdout, "%s: shard %v done (%s)\n", ck.Name, c.shard, time.Since(t0).Round(time.Second/10))
			continue
		}
		out.Models = append(out.Models, results.CorruptionEntry{Name: ck.Name, Checkpoint: ck.Path, Seconds: time.Since(t0).Seconds(), CorruptionResult: r})
		names, rs = append(names, ck.Name), append(rs, r)
	}
	if c.shard.Count > 1 {
		return nil
	}
	if out.Summary, err = analysis.SummarizeCorruptions(names, rs, base); err != nil {
		return err
	}
	var found []findings.Finding
	for i, n := range names {
		if n == alter && alter != base {
			found = append(found, findings.AlterNetCorruptionRobustness(findings.CorruptionOutcomesOf(rs[i]), findings.CorruptionOutcomesOf(rs[index(names, base)])))
		}
	}
	if err := write(c, out, found, names, rs, ds); err != nil {
		return err
	}
	printSummary(stdout, out.Summary, found)
	fmt.Fprintf(stdout, "corrupt: corrupt.json, corrupt.csv, mce.csv, corrupt.png, findings.json in %s (%s)\n", c.Out, time.Since(start).Round(time.Second/10))
	return nil
}

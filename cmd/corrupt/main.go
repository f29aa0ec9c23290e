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
)

func main() { cli.Main("corrupt", run) }

type config struct {
	out, dataset, dataDir, device, baseline string
	images, batch, threads, workers, sheet  int
	seed                                    uint64
	shard                                   shard.Shard
	conds                                   []data.Corruption
	args                                    []string
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("corrupt", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.out, "out", "", "output folder (required)")
	fs.IntVar(&c.images, "images", 10000, "test images: the first N of the test split")
	fs.IntVar(&c.batch, "batch", 250, "images per forward pass")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the corruptions")
	names := fs.String("corruptions", strings.Join(data.CorruptionNames(), ","), "corruptions, comma-separated")
	sevs := fs.String("severities", "1,2,3,4,5", "severities, comma-separated")
	fs.StringVar(&c.baseline, "baseline", "", "name of the checkpoint whose errors normalise the CE (default: the first ResNet, else the first)")
	fs.IntVar(&c.sheet, "sheet", 0, "test image of the contact sheet (-1: none)")
	shardFlag := fs.String("shard", "", "evaluate shard i/n of the (corruption, severity) conditions only (also from Slurm/Kubernetes variables); a run without it assembles the shards' journals")
	fs.IntVar(&c.workers, "workers", 0, "goroutines that corrupt the images (0: all cores)")
	fs.StringVar(&c.dataset, "dataset", "", "dataset (default: the checkpoints')")
	fs.StringVar(&c.dataDir, "data", "", "dataset folder (MNIST: found by itself)")
	fs.IntVar(&c.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.Usage = func() {}
	if err := cli.ParseFlags(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Usage(stderr, fs, "usage: corrupt --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/corrupt` for the manual.")
		}
		return nil, err
	}
	c.args = fs.Args()
	switch {
	case c.out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case len(c.args) == 0:
		return nil, cli.Usagef("no checkpoint given (usage: corrupt --out DIR [flags] CHECKPOINT...)")
	case c.images < 1 || c.batch < 1:
		return nil, cli.Usagef("--images %d, --batch %d: want at least 1", c.images, c.batch)
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

// output is corrupt.json.
type output struct {
	Provenance prov.Provenance             `json:"provenance"`
	Dataset    string                      `json:"dataset"`
	Models     []model                     `json:"models"`
	Summary    *analysis.CorruptionSummary `json:"summary"`
}

type model struct {
	Name       string  `json:"name"`
	Checkpoint string  `json:"checkpoint"`
	Seconds    float64 `json:"seconds"`
	*analysis.CorruptionResult
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	cks, err := ckptarg.Resolve(c.args)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	dataset, err := ckptarg.Dataset(cks, c.dataset)
	if err != nil {
		return &cli.UsageError{Err: err}
	}
	base, alter := pick(cks, c.baseline)
	if base == "" {
		return cli.Usagef("--baseline %q is not the name of a checkpoint", c.baseline)
	}
	threads, dev, err := cli.Setup(c.threads, c.device)
	if err != nil {
		return err
	}
	ds, err := data.Load(dataset, c.dataDir, data.Test)
	if err != nil {
		return err
	}
	if c.images > ds.Len() || c.sheet >= ds.Len() {
		return cli.Usagef("--images %d, --sheet %d: the %s test split has %d images", c.images, c.sheet, dataset, ds.Len())
	}
	if err := os.MkdirAll(filepath.Join(c.out, "journals"), 0o755); err != nil {
		return err
	}
	out := output{Provenance: prov.New("corrupt", append([]string{"corrupt"}, args...), c.seed, threads), Dataset: dataset}
	var names []string
	var rs []*analysis.CorruptionResult
	for _, ck := range cks {
		out.Provenance.Inputs = append(out.Provenance.Inputs, prov.Input{Path: ck.Path, SHA256: ck.SidecarSHA256})
		t0 := time.Now()
		r, err := c.evalModel(ctx, ck, ds, dataset, dev, stderr)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "corrupt: interrupted; finished conditions are kept in %s\n", filepath.Join(c.out, "journals"))
			return cli.ErrInterrupted
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ck.Name, err)
		}
		if r == nil { // a shard: its journal is the output
			fmt.Fprintf(stdout, "%s: shard %v done (%s)\n", ck.Name, c.shard, time.Since(t0).Round(time.Second/10))
			continue
		}
		out.Models = append(out.Models, model{Name: ck.Name, Checkpoint: ck.Path, Seconds: time.Since(t0).Seconds(), CorruptionResult: r})
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
			found = append(found, findings.AlterNetCorruptionRobustness(rs[i].Outcomes(), rs[index(names, base)].Outcomes()))
		}
	}
	if err := write(c, out, found, names, rs, ds); err != nil {
		return err
	}
	printSummary(stdout, out.Summary, found)
	fmt.Fprintf(stdout, "corrupt: corrupt.json, corrupt.csv, mce.csv, corrupt.png, findings.json in %s (%s)\n", c.out, time.Since(start).Round(time.Second/10))
	return nil
}

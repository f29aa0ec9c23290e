// Command lesion runs the paper's lesion study (Fig. 10b) on one or more
// checkpoints: for every residual block, the test accuracy and NLL of the
// model with that block's residual branch set to zero, so that the
// block's input passes through unchanged. docs/representation.md gives
// the definitions.
//
// Usage:
//
//	lesion --out DIR [flags] CHECKPOINT...
//
// A CHECKPOINT is a checkpoint sidecar (.json), its weights, their base
// path or a run folder of cmd/train; "name=PATH" labels it. The images are
// the first --images of the test split, normalised as in training; the
// models run in eval mode.
//
// Not every layer can be lesioned: the stem and the head are not residual,
// and a block whose shortcut is a projection (a down-sampling block, or
// one that changes the width) would be reduced to that projection, not to
// the identity. Those blocks are skipped and listed with the reason,
// unless --projection asks for them too (drawn hollow).
//
// Output (in --out): lesion.json (every number, per-image outcomes for
// resampling, the provenance), lesion.csv, lesion.png (accuracy drop and
// NLL increase against depth, MSA blocks shaded grey, down-sampling blue),
// findings.json (the claim that removing an MSA block at the end of a
// stage costs more than removing a Conv block, decided for each model that
// has both) and journals/NAME.jsonl: each evaluation as it finishes, so
// that a stopped run resumes.
//
// Examples:
//
//	lesion --out runs/lesion runs/resnet-mini runs/vit-mini runs/alternet-mini
//	lesion --out runs/lesion --images 2000 --projection runs/alternet-mini
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
)

func main() { cli.Main("lesion", run) }

type config struct {
	out, dataset, dataDir, device string
	images, batch, threads        int
	projection                    bool
	args                          []string
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("lesion", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.out, "out", "", "output folder (required)")
	fs.IntVar(&c.images, "images", 10000, "test images: the first N of the test split")
	fs.IntVar(&c.batch, "batch", 250, "images per forward pass")
	fs.BoolVar(&c.projection, "projection", false, "also lesion blocks whose shortcut is a projection")
	fs.StringVar(&c.dataset, "dataset", "", "dataset (default: the checkpoints')")
	fs.StringVar(&c.dataDir, "data", "", "dataset folder (MNIST: found by itself)")
	fs.IntVar(&c.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.Usage = func() {}
	if err := cli.ParseFlags(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Usage(stderr, fs, "usage: lesion --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/lesion` for the manual.")
		}
		return nil, err
	}
	c.args = fs.Args()
	switch {
	case c.out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case len(c.args) == 0:
		return nil, cli.Usagef("no checkpoint given (usage: lesion --out DIR [flags] CHECKPOINT...)")
	case c.images < 1 || c.batch < 1:
		return nil, cli.Usagef("--images %d, --batch %d: want at least 1", c.images, c.batch)
	}
	return c, nil
}

// model is one checkpoint's study in lesion.json.
type model struct {
	Name       string  `json:"name"`
	Checkpoint string  `json:"checkpoint"`
	Seconds    float64 `json:"seconds"`
	*analysis.LesionResult
}

// output is lesion.json.
type output struct {
	Provenance prov.Provenance `json:"provenance"`
	Dataset    string          `json:"dataset"`
	Models     []model         `json:"models"`
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
	threads, dev, err := cli.Setup(c.threads, c.device)
	if err != nil {
		return err
	}
	ds, err := data.Load(dataset, c.dataDir, data.Test)
	if err != nil {
		return err
	}
	if c.images > ds.Len() {
		return cli.Usagef("--images %d: the %s test split has %d images", c.images, dataset, ds.Len())
	}
	if err := os.MkdirAll(filepath.Join(c.out, "journals"), 0o755); err != nil {
		return err
	}
	out := output{Provenance: prov.New("lesion", append([]string{"lesion"}, args...), 0, threads), Dataset: dataset}
	var figs []reports.LesionModel
	var found []findings.Finding
	for _, ck := range cks {
		out.Provenance.Inputs = append(out.Provenance.Inputs, prov.Input{Path: ck.Path, SHA256: ck.SidecarSHA256})
		t0 := time.Now()
		m, err := ck.Load(dev)
		if err != nil {
			return err
		}
		var bar *progress.Bar
		opt := analysis.LesionOptions{Batch: c.batch, Projection: c.projection, Inputs: ck.Inputs(dataset),
			Journal: filepath.Join(c.out, "journals", ckptarg.FileName(ck.Name)+".jsonl"),
			Progress: func(done, total int) {
				if bar == nil {
					bar = progress.New(stderr, ck.Name, "passes", total, 0)
				}
				bar.Add(1, "")
			}}
		r, err := analysis.Lesion(ctx, m, ds, ds.Indices()[:c.images], opt)
		m.Close()
		if bar != nil {
			bar.Finish("")
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "lesion: interrupted; finished evaluations are kept in %s\n", filepath.Join(c.out, "journals"))
				return cli.ErrInterrupted
			}
			return fmt.Errorf("%s: %w", ck.Name, err)
		}
		out.Models = append(out.Models, model{Name: ck.Name, Checkpoint: ck.Path, Seconds: time.Since(t0).Seconds(), LesionResult: r})
		figs = append(figs, r.Figure(ck.Name))
		var own *findings.Finding
		if f, ok := finding(r); ok {
			found = append(found, f)
			own = &found[len(found)-1]
		}
		printModel(stdout, ck.Name, r, own)
	}
	for name, v := range map[string]any{"lesion.json": out, "findings.json": found} {
		js, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(c.out, name), append(js, '\n')); err != nil {
			return err
		}
	}
	names := make([]string, len(out.Models))
	rs := make([]*analysis.LesionResult, len(out.Models))
	for i, m := range out.Models {
		names[i], rs[i] = m.Name, m.LesionResult
	}
	if err := atomicfile.WriteFile(filepath.Join(c.out, "lesion.csv"), analysis.LesionCSV(names, rs)); err != nil {
		return err
	}
	if err := reports.LesionFigure(figs, filepath.Join(c.out, "lesion.png")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lesion: lesion.json, lesion.csv, lesion.png and findings.json in %s (%s)\n", c.out, time.Since(start).Round(time.Second/10))
	return nil
}

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
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

func main() { torchcli.Main("lesion", run) }

type config struct {
	ckptarg.Common
	projection bool
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("lesion", flag.ContinueOnError)
	c := &config{}
	c.Register(fs, 10000, 250, "images per forward pass")
	fs.BoolVar(&c.projection, "projection", false, "also lesion blocks whose shortcut is a projection")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
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
	if err := os.MkdirAll(filepath.Join(c.Out, "journals"), 0o755); err != nil {
		return err
	}
	out := results.Lesion{Provenance: prov.New("lesion", append([]string{"lesion"}, args...), 0, threads), Dataset: dataset}
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
		opt := analysis.LesionOptions{Batch: c.Batch, Projection: c.projection, Inputs: ck.Inputs(dataset),
			Journal: filepath.Join(c.Out, "journals", ckptarg.FileName(ck.Name)+".jsonl"),
			Progress: func(done, total int) {
				if bar == nil {
					bar = progress.New(stderr, ck.Name, "passes", total, 0)
				}
				bar.Add(1, "")
			}}
		r, err := analysis.Lesion(ctx, m, ds, ds.Indices()[:c.Images], opt)
		m.Close()
		if bar != nil {
			bar.Finish("")
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "lesion: interrupted; finished evaluations are kept in %s\n", filepath.Join(c.Out, "journals"))
				return cli.ErrInterrupted
			}
			return fmt.Errorf("%s: %w", ck.Name, err)
		}
		out.Models = append(out.Models, results.LesionEntry{Name: ck.Name, Checkpoint: ck.Path, Seconds: time.Since(t0).Seconds(), LesionResult: r})
		figs = append(figs, jobs.LesionFigureModel(r, ck.Name))
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
		if err := atomicfile.WriteFile(filepath.Join(c.Out, name), append(js, '\n')); err != nil {
			return err
		}
	}
	names := make([]string, len(out.Models))
	rs := make([]*analysis.LesionResult, len(out.Models))
	for i, m := range out.Models {
		names[i], rs[i] = m.Name, m.LesionResult
	}
	if err := atomicfile.WriteFile(filepath.Join(c.Out, "lesion.csv"), analysis.LesionCSV(names, rs)); err != nil {
		return err
	}
	fig, err := reports.LesionFigure(figs)
	if err == nil {
		err = fig.Save(filepath.Join(c.Out, "lesion.png"))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lesion: lesion.json, lesion.csv, lesion.png and findings.json in %s (%s)\n", c.Out, time.Since(start).Round(time.Second/10))
	return nil
}

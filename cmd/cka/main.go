// Command cka measures how similar the layers of one or more models are
// (paper Fig. 10a): the minibatch linear CKA (Nguyen, Raghu & Kornblith
// 2021) with the unbiased HSIC of Song et al. (2012), between every pair of
// layers of every model and of every pair of models, on the same test
// images. docs/representation.md gives the definitions.
//
// Usage:
//
//	cka --out DIR [flags] CHECKPOINT...
//
// A CHECKPOINT is a checkpoint sidecar (.json), its weights, their base
// path or a run folder of cmd/train (its final checkpoint); "name=PATH"
// labels it. Every layer's output is flattened per image (feature maps as
// C·H·W values, ViT tokens without the class token, the logits unless
// --no-head); the images are the first --images of the test split,
// normalised as in training, in minibatches of --batch.
//
// Output (in --out): cka.json (every value with its jackknife standard
// error over the minibatches, the layers, the provenance), cka.csv (one
// row per pair of layers), cka-A-B.png (a heat map per pair of models,
// and per model against itself) and cka.journal.jsonl: each minibatch's
// HSIC values, so that a run stopped by Ctrl-C or kill resumes where it
// stopped.
//
// Examples:
//
//	cka --out runs/cka runs/resnet-mini runs/vit-mini runs/alternet-mini
//	cka --out runs/cka --images 5000 --batch 256 ViT=runs/vit-mini/final.json
//	cka --out runs/cka-biased --estimator biased --batch 32 runs/vit-mini
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
	"github.com/vitprobe/vitprobe/cka"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/reports"
)

func main() { torchcli.Main("cka", run) }

type config struct {
	ckptarg.Common
	estimator string
	noHead    bool
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("cka", flag.ContinueOnError)
	c := &config{}
	c.Register(fs, 2000, 100, "images per minibatch (at least 4)")
	fs.StringVar(&c.estimator, "estimator", "unbiased", "HSIC estimator: unbiased (Song et al. 2012) or biased")
	fs.BoolVar(&c.noHead, "no-head", false, "leave the logits out")
	if err := c.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	switch {
	case c.Batch < cka.MinBatch:
		return nil, cli.Usagef("--batch %d: want at least %d images per minibatch (the unbiased HSIC needs 4)", c.Batch, cka.MinBatch)
	case c.Images < c.Batch:
		return nil, cli.Usagef("--images %d: want at least one minibatch of --batch %d", c.Images, c.Batch)
	}
	if _, err := cka.ParseEstimator(c.estimator); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	return c, nil
}

// output is cka.json.
type output struct {
	Provenance prov.Provenance `json:"provenance"`
	Dataset    string          `json:"dataset"`
	Seconds    float64         `json:"seconds"`
	*analysis.CKAResult
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
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	pv := prov.New("cka", append([]string{"cka"}, args...), 0, threads)
	est, _ := cka.ParseEstimator(c.estimator)
	opt := analysis.CKAOptions{Batch: c.Batch, Estimator: est, NoHead: c.noHead, Journal: filepath.Join(c.Out, "cka.journal.jsonl"),
		Inputs: map[string]string{"dataset": dataset}}
	var ms []analysis.CKAModel
	for _, ck := range cks {
		m, err := ck.Load(dev)
		if err != nil {
			return err
		}
		defer m.Close()
		ms = append(ms, analysis.CKAModel{Name: ck.Name, Model: m})
		opt.Inputs[ck.Name] = ck.Checkpoint.WeightsSHA256
		pv.Inputs = append(pv.Inputs, prov.Input{Path: ck.Path, SHA256: ck.SidecarSHA256})
	}
	var bar *progress.Bar
	opt.Progress = func(done, total int) {
		if bar == nil {
			bar = progress.New(stderr, "cka", "minibatches", total, done-1)
		}
		bar.Add(1, "")
	}
	res, err := analysis.CKA(ctx, ms, ds, ds.Indices()[:c.Images], opt)
	if bar != nil {
		bar.Finish("")
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "cka: interrupted; the finished minibatches are kept in %s\n", opt.Journal)
			return cli.ErrInterrupted
		}
		return err
	}
	js, err := json.MarshalIndent(output{Provenance: pv, Dataset: dataset, Seconds: time.Since(start).Seconds(), CKAResult: res}, "", "  ")
	if err != nil {
		return fmt.Errorf("cka.json: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.Out, "cka.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(c.Out, "cka.csv"), res.CSV()); err != nil {
		return err
	}
	for _, m := range jobs.CKAHeatMaps(res) {
		path := filepath.Join(c.Out, fmt.Sprintf("cka-%s-%s.png", ckptarg.FileName(m.A), ckptarg.FileName(m.B)))
		fig, err := reports.CKAHeatmap(m)
		if err == nil {
			err = fig.Save(path)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", path)
	}
	fmt.Fprintf(stdout, "cka: %d pairs of models, %d images in %d minibatches, in %s (%s)\n", len(res.Pairs), res.Images, res.Batches,
		c.Out, time.Since(start).Round(time.Second/10))
	return nil
}

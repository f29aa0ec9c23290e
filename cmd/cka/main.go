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
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
)

func main() { cli.Main("cka", run) }

type config struct {
	out, estimator, dataset, dataDir, device string
	images, batch, threads                   int
	noHead                                   bool
	args                                     []string
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("cka", flag.ContinueOnError)
	c := &config{}
	fs.StringVar(&c.out, "out", "", "output folder (required)")
	fs.IntVar(&c.images, "images", 2000, "test images: the first N of the test split")
	fs.IntVar(&c.batch, "batch", 100, "images per minibatch (at least 4)")
	fs.StringVar(&c.estimator, "estimator", "unbiased", "HSIC estimator: unbiased (Song et al. 2012) or biased")
	fs.BoolVar(&c.noHead, "no-head", false, "leave the logits out")
	fs.StringVar(&c.dataset, "dataset", "", "dataset (default: the checkpoints')")
	fs.StringVar(&c.dataDir, "data", "", "dataset folder (MNIST: found by itself)")
	fs.IntVar(&c.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.Usage = func() {}
	if err := cli.ParseFlags(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Usage(stderr, fs, "usage: cka --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/cka` for the manual.")
		}
		return nil, err
	}
	c.args = fs.Args()
	switch {
	case c.out == "":
		return nil, cli.Usagef("--out is required (the output folder)")
	case len(c.args) == 0:
		return nil, cli.Usagef("no checkpoint given (usage: cka --out DIR [flags] CHECKPOINT...)")
	case c.batch < cka.MinBatch:
		return nil, cli.Usagef("--batch %d: want at least %d images per minibatch (the unbiased HSIC needs 4)", c.batch, cka.MinBatch)
	case c.images < c.batch:
		return nil, cli.Usagef("--images %d: want at least one minibatch of --batch %d", c.images, c.batch)
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
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	pv := prov.New("cka", append([]string{"cka"}, args...), 0, threads)
	est, _ := cka.ParseEstimator(c.estimator)
	opt := analysis.CKAOptions{Batch: c.batch, Estimator: est, NoHead: c.noHead, Journal: filepath.Join(c.out, "cka.journal.jsonl"),
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
	res, err := analysis.CKA(ctx, ms, ds, ds.Indices()[:c.images], opt)
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
	if err := atomicfile.WriteFile(filepath.Join(c.out, "cka.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(c.out, "cka.csv"), res.CSV()); err != nil {
		return err
	}
	for _, m := range res.HeatMaps() {
		path := filepath.Join(c.out, fmt.Sprintf("cka-%s-%s.png", ckptarg.FileName(m.A), ckptarg.FileName(m.B)))
		if err := reports.CKAHeatmap(m, path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", path)
	}
	fmt.Fprintf(stdout, "cka: %d pairs of models, %d images in %d minibatches, in %s (%s)\n", len(res.Pairs), res.Images, res.Batches,
		c.out, time.Since(start).Round(time.Second/10))
	return nil
}

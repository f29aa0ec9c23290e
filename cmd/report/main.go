// Command report writes the front page of a demo or study folder:
// OUT/index.html, which opens with a findings table (each claim of Park &
// Kim (ICLR 2022) as the paper states it, the numbers measured with their
// intervals, and a verdict decided by package findings with its criterion
// printed beside it; the criteria file's SHA-256 above it), then, for a
// demo, summarises training, Hessian spectra, loss landscapes, the Fourier
// analysis and the representation probes and links every plot and report
// the other commands wrote.
//
// A study folder (make study) holds one demo-like folder per training seed,
// seed-N/; its page gives the findings pooled over the seeds with a
// hierarchical bootstrap, the per-seed table and every number's interval.
// A demo folder is one seed: its table is that seed's own.
//
// Usage:
//
//	report --out DIR
//
// DIR is the demo's output folder (scripts/demo.sh): train/MODEL/ (cmd/train
// runs), hessian/ (cmd/hessian), landscape/ (cmd/landscape), fourier/
// (cmd/fourier), cka/, lesion/, corrupt/ and timings.tsv (stage times);
// every hessian*/hessian.json, fourier*/results.json and
// landscape*/[NAME/]landscape.json is read for the findings (the Fourier
// and noise claims need fourier --per-image). Missing parts are reported
// as missing, never invented; the findings they would decide are
// "inconclusive" with the reason. A model's family (ResNet, ViT, AlterNet),
// which the claims compare, is read from its checkpoint's spec. The page is
// written atomically, then findings.md (the findings as Markdown tables)
// and findings.json (every verdict and number). The work is done by
// reports.CollectDemo and findings.Decide;
// this command needs no libtorch (it builds with CGO_ENABLED=0).
//
// Example:
//
//	report --out demo-out
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/reports"
)

func main() { cli.Main("report", run) }

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "the demo's or study's output folder (required)")
	fs.Usage = func() { cli.Usage(stderr, fs, "usage: report --out DIR") }
	if err := cli.ParseFlags(fs, args, false); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--out is required (the demo's output folder)")
	}
	d, err := reports.CollectDemo(*out)
	if err != nil {
		return err
	}
	page, err := d.Write()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (%s; criteria SHA-256 %s)\n", filepath.Join(*out, "index.html"), page, d.Report.CriteriaSHA256)
	return nil
}

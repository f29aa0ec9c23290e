// Command report writes the demo's front page: OUT/index.html, which opens
// with a findings table (each claim of Park & Kim (ICLR 2022), the numbers
// measured in this run, and a verdict decided by package findings with its
// criterion printed beside it), then summarises training, Hessian spectra,
// loss landscapes and the Fourier analysis, and links every plot and
// report the other commands wrote.
//
// Usage:
//
//	report --out DIR
//
// DIR is the demo's output folder (scripts/demo.sh): train/MODEL/ (cmd/train
// runs), hessian/ (cmd/hessian), landscape/ (cmd/landscape), fourier/
// (cmd/fourier) and timings.tsv (stage times). Missing parts are reported
// as missing, never invented; the findings they would decide are
// "inconclusive" with the reason. A model's family (ResNet, ViT, AlterNet),
// which the claims compare, is read from its checkpoint's spec. The page is
// written atomically, then findings.json beside it (every verdict and
// number). The work is done by reports.CollectDemo and findings.Decide;
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
	out := fs.String("out", "", "the demo's output folder (required)")
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
	fmt.Fprintf(stdout, "report: %s (%d findings: %s)\n", filepath.Join(*out, "index.html"), len(d.Findings), page)
	return nil
}

// Command fourier measures what Park & Kim's §4-5 measure on one or more
// checkpoints and writes one HTML report: the relative log amplitude of
// every layer's feature maps (Fig. 2a and Fig. 8), the feature-map
// variance (Fig. 9) and the accuracy under noise of a given frequency band
// (Fig. 2b), with tables of every plotted number, CSV and JSON of the same
// numbers, and the provenance of the run.
//
// Usage:
//
//	fourier [flags] CHECKPOINT...
//
// A CHECKPOINT is a checkpoint sidecar (.json), its weights (.safetensors),
// their common base path, or a run folder of cmd/train (its final
// checkpoint is used). "name=CHECKPOINT" labels it in the report; by
// default a checkpoint is named after its model preset, with the training
// phase added when two would share a name.
//
// The images are the first --images images of the test split of the
// checkpoints' dataset (MNIST for the mini presets; --dataset and --data
// for others), normalised as in training, without augmentation. The model
// runs in eval mode.
//
// An exported PyTorch model, the .pt file that python/vitprobe_export.py
// writes, is accepted as a CHECKPOINT; its images come from --data, an
// image folder (one sub-folder per class; its val/ or test/ part when it
// has train/ and one of those) or a safetensors file with x and y, resized
// and normalised as its sidecar says, and every layer the sidecar lists is
// measured (docs/torchscript.md). One report compares models measured on
// the same images.
//
// What is measured (docs/methods.md §4-5; the analysis package documents the
// details):
//
//   - Relative log amplitude: for each spatial layer (feature maps, or
//     ViT tokens without the class token as an n×n grid), the 2-D FFT of
//     every map, log(|F| + 1e-6) averaged over images and channels, and
//     along the half diagonal minus its value at frequency 0. The paper's
//     half diagonal ends at π − 2π/n for even n; --nyquist adds the point
//     at π.
//   - Feature-map variance: the unbiased variance over positions of every
//     map, averaged over images and channels.
//   - Frequency-band noise: x + IFFT(FFT(δ)·M_f) on the normalised images,
//     M_f a ring of width --band-width·π (Chebyshev radius by default) at
//     each --bands centre f (units of π), δ Gaussian with standard
//     deviation --noise, independent per channel, keyed on (--seed, image
//     index) so batching does not change it. Without --equal-energy the
//     noise energy grows with the ring's area, as in the paper's formula:
//     on 32×32 images a band 0.1π wide holds one or two rings of bins, so
//     neighbouring bands differ up to 3× in energy and 0.9π carries 10× the
//     energy of 0.1π; the report draws each band's noise RMS under the
//     curves. --equal-energy gives every band the per-pixel RMS --noise,
//     which separates the model's frequency sensitivity from the energy
//     (docs/findings.md shows how much it changes the picture). The
//     accuracy change is reported with the standard error of the paired
//     per-image difference.
//
// --per-image also records, per image, each layer's high-frequency Δ log
// amplitude and variance and each noise band's right/wrong outcome (the
// layer's and band's numbers are their means), so that report can give
// intervals by resampling images; results.json grows by about 20 bytes per
// image and layer.
//
// Output (in --out): report.html with fig2a-dlogamp.png, fig8-highfreq.png,
// fig9-variance.png and fig2b-noise.png beside it; layers.csv,
// profiles.csv, noise.csv and kinds.csv (the tables of the report);
// results.json (every number, with provenance), written last;
// models/NAME.jsonl, each checkpoint's journal. Files are written
// atomically. A rerun reuses every checkpoint whose weights and settings
// are unchanged (Ctrl-C or a kill keeps the finished analyses; --fresh
// recomputes) and recomputes the others, saying what changed.
//
// --shard i/n (or a Slurm array task, or a Kubernetes Indexed Job with
// VITPROBE_SHARD_COUNT) measures the checkpoints c with c mod n = i; once
// every shard is done, fourier --merge --out DIR (with the same
// checkpoints, or none for every journal in DIR/models) writes the report.
// The work is done by package jobs (jobs.Fourier).
//
// Examples:
//
//	fourier --out runs/fourier runs/resnet-mini runs/vit-mini runs/alternet-mini
//	fourier --images 2000 --noise 0.5 --nyquist --out rep ResNet=runs/resnet-mini/final.json ViT=runs/vit-mini
//	fourier --no-noise --out early runs/vit-mini/warmup.json runs/vit-mini/final.json
//	fourier --dataset cifar100 --data ~/cifar-100-binary --batch 50 --out rep runs/vit-ti runs/resnet50
//	fourier --bands 0.1,0.3,0.5,0.7,0.9 --equal-energy --noise 0.2 --seed 7 --out rep runs/vit-mini
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/torchcli"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

func main() { torchcli.Main("fourier", run) }

// config is the parsed command line.
type config struct {
	job          jobs.FourierOptions
	env          jobs.Env
	report       jobs.FourierReport
	refs         []models.Ref
	threads      int
	device       string
	fresh, merge bool
}

// bandList is the --bands flag.
type bandList []float64

func (b *bandList) String() string {
	s := make([]string, len(*b))
	for i, v := range *b {
		s[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

func (b *bandList) Set(v string) error {
	var out []float64
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSuffix(f, "π"), 64)
		if err != nil {
			return fmt.Errorf("band %q is not a number (centres in units of π, e.g. 0.1,0.5,0.9)", f)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return errors.New("no band centre given")
	}
	*b = out
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	job := &jobs.Fourier{Env: c.env, Fresh: c.fresh, Report: c.report}
	job.Log, job.Command = stderr, append([]string{"fourier"}, args...)
	var res *results.Fourier
	if c.merge {
		var labels []string
		if labels, err = refLabels(c.refs); err != nil {
			return err
		}
		res, err = job.Merge(job.Out, labels...)
	} else {
		if job.Threads, job.Device, err = torchcli.Setup(c.threads, c.device); err != nil {
			return err
		}
		res, err = job.Run(ctx, c.refs, c.job)
	}
	if err != nil {
		return cli.Stopped(err)
	}
	if res == nil {
		fmt.Fprintf(stdout, "shard %v done; once every shard is done: fourier --merge --out %s\n", job.Shard, job.Out)
		return nil
	}
	page := filepath.Join(job.Out, reports.FourierPage)
	n, err := reports.CheckPageImages(page)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d figure(s), the tables and results.json in %s (%s)\n", page, n, job.Out, time.Since(start).Round(time.Second/10))
	return nil
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("fourier", flag.ContinueOnError)
	c := &config{}
	j, n := &c.job, &c.job.Noise
	bands := bandList(analysis.DefaultNoiseBands())
	fs.StringVar(&c.env.Out, "out", "", "report folder (required)")
	fs.IntVar(&j.Images, "images", 1000, "test images used: the first N of the test split")
	fs.IntVar(&j.Batch, "batch", 100, "images per forward pass")
	fs.Float64Var(&n.Level, "noise", 1, "noise level: standard deviation of δ in normalised input units")
	fs.Var(&bands, "bands", "noise band centres in units of π, comma-separated")
	fs.Float64Var(&n.Width, "band-width", 0.1, "noise band width in units of π")
	metric := fs.String("metric", "chebyshev", "ring radius of the noise bands: chebyshev (max(|fy|,|fx|)) or euclidean")
	fs.BoolVar(&n.EqualEnergy, "equal-energy", false, "scale every band's noise to a per-pixel RMS of --noise")
	fs.BoolVar(&j.Nyquist, "nyquist", false, "add the point at frequency π to the profiles (even map sizes)")
	fs.BoolVar(&j.PerImage, "per-image", false, "also record every image's high-frequency Δ log amplitude and variance per layer, and its right/wrong record per noise band (for intervals over images)")
	fs.Uint64Var(&n.Seed, "seed", 0, "seed of the noise")
	fs.IntVar(&c.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&j.Dataset, "dataset", "", "dataset: mnist, cifar10, cifar100, cifar100-coarse (default: the checkpoints')")
	fs.StringVar(&c.env.DataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
	fs.BoolVar(&j.NoNoise, "no-noise", false, "skip the frequency-noise analysis")
	fs.BoolVar(&j.NoVariance, "no-variance", false, "skip the feature-map variance")
	fs.BoolVar(&j.NoFourier, "no-fourier", false, "skip the relative log amplitude")
	fs.StringVar(&c.report.VarianceScale, "variance-scale", "auto", "y axis of the variance figure: auto, log or linear")
	fs.StringVar(&c.report.Title, "title", "", "report title")
	fs.BoolVar(&c.fresh, "fresh", false, "recompute every model, ignoring results saved by an earlier run")
	shardS := fs.String("shard", "", "measure only shard `i/n` of the checkpoints (default: from Slurm/Kubernetes, else all)")
	fs.BoolVar(&c.merge, "merge", false, "write the report from the checkpoints' journals in --out (after a sharded run)")
	fs.Usage = func() {
		cli.Usage(stderr, fs, "usage: fourier --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/fourier` for the manual.")
	}
	if err := cli.ParseFlags(fs, args, true); err != nil {
		return nil, err
	}
	n.Bands = bands
	switch {
	case c.env.Out == "":
		return nil, cli.Usagef("--out is required (the report folder)")
	case fs.NArg() == 0 && !c.merge:
		return nil, cli.Usagef("no checkpoint given (usage: fourier --out DIR [flags] CHECKPOINT...)")
	case c.report.VarianceScale != "auto" && c.report.VarianceScale != "log" && c.report.VarianceScale != "linear":
		return nil, cli.Usagef("--variance-scale %q: want auto, log or linear", c.report.VarianceScale)
	case *metric != "chebyshev" && *metric != "euclidean":
		return nil, cli.Usagef("--metric %q: want chebyshev or euclidean", *metric)
	}
	if *metric == "euclidean" {
		n.Metric = fourier.Euclidean
	}
	if err := j.Validate(); err != nil && !c.merge {
		return nil, &cli.UsageError{Err: err}
	}
	var err error
	if c.env.Shard, err = cli.ResolveShard(*shardS); err != nil {
		return nil, err
	}
	if c.refs, err = models.ParseRefs(fs.Args()); err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	return c, nil
}

// refLabels are the labels the checkpoints of refs get (read from their
// sidecars, as the run named them).
func refLabels(refs []models.Ref) ([]string, error) {
	rs, err := meta.Resolve(refs)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(rs))
	for i, r := range rs {
		labels[i] = r.Label
	}
	return labels, nil
}

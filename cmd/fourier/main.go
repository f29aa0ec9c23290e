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
// What is measured (paper.md §4-5; the analysis package documents the
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
// layer's and band's numbers are their means), so that cmd/report can give
// intervals by resampling images; results.json grows by about 20 bytes per
// image and layer.
//
// Output (in --out): report.html with fig2a-dlogamp.png, fig8-highfreq.png,
// fig9-variance.png and fig2b-noise.png beside it; results.json (every
// number, with provenance); layers.csv, profiles.csv, noise.csv and
// kinds.csv (the tables of the report); models/NAME.json, each model's
// finished results. Files are written atomically. A rerun with the same
// checkpoints and settings reuses the finished models' results (Ctrl-C
// keeps them; --fresh recomputes).
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
)

func main() { cli.Main("fourier", run) }

// config is the parsed command line.
type config struct {
	out                         string
	images, batch               int
	noise, width                float64
	bands                       []float64
	metric                      fourier.Metric
	equalEnergy, nyquist, fresh bool
	perImage                    bool
	noNoise, noVariance, noFFT  bool
	seed                        uint64
	threads                     int
	device, dataDir, dataset    string
	varScale, title             string
	inputs                      []input
}

// input is one checkpoint argument.
type input struct {
	label, path string // label may be empty
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
		f = strings.TrimSpace(f)
		if f == "" {
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

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("fourier", flag.ContinueOnError)
	c := &config{}
	bands := bandList(analysis.DefaultNoiseBands())
	fs.StringVar(&c.out, "out", "", "report folder (required)")
	fs.IntVar(&c.images, "images", 1000, "test images used: the first N of the test split")
	fs.IntVar(&c.batch, "batch", 100, "images per forward pass")
	fs.Float64Var(&c.noise, "noise", 1, "noise level: standard deviation of δ in normalised input units")
	fs.Var(&bands, "bands", "noise band centres in units of π, comma-separated")
	fs.Float64Var(&c.width, "band-width", 0.1, "noise band width in units of π")
	metric := fs.String("metric", "chebyshev", "ring radius of the noise bands: chebyshev (max(|fy|,|fx|)) or euclidean")
	fs.BoolVar(&c.equalEnergy, "equal-energy", false, "scale every band's noise to a per-pixel RMS of --noise")
	fs.BoolVar(&c.nyquist, "nyquist", false, "add the point at frequency π to the profiles (even map sizes)")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the noise")
	fs.IntVar(&c.threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.device, "device", "cpu", "device: cpu, cuda, cuda:N")
	fs.StringVar(&c.dataset, "dataset", "", "dataset: mnist, cifar10, cifar100, cifar100-coarse (default: the checkpoints')")
	fs.StringVar(&c.dataDir, "data", "", "dataset folder (MNIST: found by itself; CIFAR: the folder of the official binary files)")
	fs.BoolVar(&c.noNoise, "no-noise", false, "skip the frequency-noise analysis")
	fs.BoolVar(&c.noVariance, "no-variance", false, "skip the feature-map variance")
	fs.BoolVar(&c.noFFT, "no-fourier", false, "skip the relative log amplitude")
	fs.StringVar(&c.varScale, "variance-scale", "auto", "y axis of the variance figure: auto, log or linear")
	fs.StringVar(&c.title, "title", "", "report title")
	fs.BoolVar(&c.fresh, "fresh", false, "recompute every model, ignoring results saved by an earlier run")
	fs.BoolVar(&c.perImage, "per-image", false, "also record every image's high-frequency Δ log amplitude and variance per layer, and its right/wrong record per noise band (for intervals over images)")
	fs.Usage = func() {} // printed below for -h only: a wrong flag is a one-line error
	if err := cli.ParseFlags(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Usage(stderr, fs, "usage: fourier --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/fourier` for the manual.")
		}
		return nil, err
	}
	c.bands = bands
	switch {
	case c.out == "":
		return nil, cli.Usagef("--out is required (the report folder)")
	case fs.NArg() == 0:
		return nil, cli.Usagef("no checkpoint given (usage: fourier --out DIR [flags] CHECKPOINT...)")
	case c.images < 1:
		return nil, cli.Usagef("--images %d: want at least 1", c.images)
	case c.batch < 1:
		return nil, cli.Usagef("--batch %d: want at least 1 image per batch", c.batch)
	case c.noNoise && c.noVariance && c.noFFT:
		return nil, cli.Usagef("--no-noise, --no-variance and --no-fourier together leave nothing to do")
	case c.varScale != "auto" && c.varScale != "log" && c.varScale != "linear":
		return nil, cli.Usagef("--variance-scale %q: want auto, log or linear", c.varScale)
	}
	switch *metric {
	case "chebyshev":
		c.metric = fourier.Chebyshev
	case "euclidean":
		c.metric = fourier.Euclidean
	default:
		return nil, cli.Usagef("--metric %q: want chebyshev or euclidean", *metric)
	}
	if !c.noNoise {
		if err := analysis.ValidateNoise(c.noiseOptions()); err != nil {
			return nil, &cli.UsageError{Err: err}
		}
	}
	labels := map[string]bool{}
	for _, a := range fs.Args() {
		in := input{path: a}
		if name, path, ok := strings.Cut(a, "="); ok && name != "" {
			if _, err := os.Stat(a); err != nil { // a path that contains "=" stays whole
				in = input{label: name, path: path}
			}
		}
		if in.path == "" {
			return nil, cli.Usagef("checkpoint %q: empty path", a)
		}
		if in.label != "" {
			if labels[in.label] {
				return nil, cli.Usagef("two checkpoints are labelled %q", in.label)
			}
			labels[in.label] = true
		}
		c.inputs = append(c.inputs, in)
	}
	return c, nil
}

func (c *config) noiseOptions() analysis.NoiseOptions {
	return analysis.NoiseOptions{Level: c.noise, Bands: c.bands, Width: c.width, Metric: c.metric,
		EqualEnergy: c.equalEnergy, Seed: c.seed, Batch: c.batch, PerImage: c.perImage}
}

// checkpoint is a resolved input.
type checkpoint struct {
	name, path string // path: the sidecar
	ck         models.Checkpoint
	sidecarSHA string
}

// resolve finds each input's sidecar, reads it and names it.
func resolve(ins []input) ([]*checkpoint, error) {
	var out []*checkpoint
	for _, in := range ins {
		p := in.path
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			f := filepath.Join(p, "final.json")
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("%s is a folder without final.json: name a checkpoint in it", p)
			}
			p = f
		}
		ck, err := models.ReadCheckpoint(p)
		if err != nil {
			return nil, err
		}
		if _, err := models.Describe(ck.Spec.Name); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", p, err)
		}
		side := strings.TrimSuffix(strings.TrimSuffix(p, ".json"), ".safetensors") + ".json"
		h, err := prov.HashFile(side)
		if err != nil {
			return nil, err
		}
		out = append(out, &checkpoint{name: in.label, path: side, ck: ck, sidecarSHA: h})
	}
	// Default names: the preset, then preset/phase, then preset/phase/N.
	count := map[string]int{}
	for _, c := range out {
		if c.name == "" {
			count[c.ck.Spec.Name]++
		}
	}
	used := map[string]bool{}
	for _, c := range out {
		if c.name != "" {
			used[c.name] = true
		}
	}
	for _, c := range out {
		if c.name != "" {
			continue
		}
		n := c.ck.Spec.Name
		if count[n] > 1 && c.ck.Phase != "" {
			n += "/" + c.ck.Phase
		}
		base := n
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s/%d", base, i)
		}
		c.name = n
		used[n] = true
	}
	return out, nil
}

// modelResult is what the report keeps of one checkpoint.
type modelResult struct {
	Key        string                   `json:"key"`
	Name       string                   `json:"name"`
	Checkpoint string                   `json:"checkpoint"`
	Model      models.Spec              `json:"model"`
	Phase      string                   `json:"phase"`
	Epoch      int                      `json:"epoch"`
	Weights    string                   `json:"weights_sha256"`
	Sidecar    string                   `json:"sidecar_sha256"`
	Fourier    *analysis.FourierResult  `json:"fourier,omitempty"`
	Variance   *analysis.VarianceResult `json:"variance,omitempty"`
	Noise      *analysis.NoiseResult    `json:"noise,omitempty"`
	// Seconds is the time the analyses took when they ran.
	Seconds float64 `json:"seconds"`
	// Reused is set when this run took the results from models/NAME.json.
	Reused bool `json:"reused,omitempty"`
}

// results is results.json.
type results struct {
	Provenance prov.Provenance `json:"provenance"`
	Dataset    string          `json:"dataset"`
	Images     int             `json:"images"`
	Batch      int             `json:"batch"`
	Models     []*modelResult  `json:"models"`
}

// key identifies a model's results: the weights and every setting that
// changes a number.
func (c *config) key(ck *checkpoint, dataset string) string {
	s := fmt.Sprintf("v1|%s|%s|%s|%d|%d|%t|%t|%t|%t", ck.ck.WeightsSHA256, ck.ck.Spec.Name, dataset, c.images, c.batch,
		c.nyquist, c.noFFT, c.noVariance, c.noNoise)
	if !c.noNoise {
		s += fmt.Sprintf("|%g|%v|%g|%v|%t|%d", c.noise, c.bands, c.width, c.metric, c.equalEnergy, c.seed)
	}
	if c.perImage {
		s += "|per-image"
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	cks, err := resolve(c.inputs)
	if err != nil {
		return err
	}
	dataset := c.dataset
	if dataset == "" {
		for _, ck := range cks {
			d := ck.ck.Dataset
			if d == "" {
				continue
			}
			if dataset != "" && d != dataset {
				return cli.Usagef("the checkpoints were trained on %s and %s: choose the test images with --dataset", dataset, d)
			}
			dataset = d
		}
		if dataset == "" {
			dataset = "mnist"
		}
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
	idx := ds.Indices()[:c.images]
	if err := os.MkdirAll(filepath.Join(c.out, "models"), 0o755); err != nil {
		return err
	}
	pv := prov.New("fourier", append([]string{"fourier"}, args...), c.seed, threads)
	res := &results{Provenance: pv, Dataset: dataset, Images: c.images, Batch: c.batch}
	for _, ck := range cks {
		pv.Inputs = append(pv.Inputs, prov.Input{Path: ck.path, SHA256: ck.sidecarSHA})
		r, err := c.model(ctx, ck, ds, dataset, idx, dev, stderr)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				fmt.Fprintf(stderr, "fourier: interrupted; finished models are kept in %s\n", filepath.Join(c.out, "models"))
				return cli.ErrInterrupted
			}
			return fmt.Errorf("%s (%s): %w", ck.name, ck.path, err)
		}
		res.Models = append(res.Models, r)
	}
	res.Provenance = pv
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n')); err != nil {
		return err
	}
	rep := c.report(res, cks, threads, time.Since(start))
	files, err := reports.WriteFourierReport(c.out, rep)
	if err != nil {
		return err
	}
	page := filepath.Join(c.out, reports.FourierPage)
	n, err := reports.CheckPageImages(page)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d figure(s), %d files and results.json in %s (%s)\n", page, n, len(files), c.out,
		time.Since(start).Round(time.Second/10))
	return nil
}

// model returns one checkpoint's results, from models/NAME.json when an
// earlier run with the same key left them, else by measuring.
func (c *config) model(ctx context.Context, ck *checkpoint, ds *data.Dataset, dataset string, idx []int,
	dev gotch.Device, stderr io.Writer) (*modelResult, error) {
	key := c.key(ck, dataset)
	cache := filepath.Join(c.out, "models", safeName(ck.name)+".json")
	if !c.fresh {
		if b, err := os.ReadFile(cache); err == nil {
			var r modelResult
			if json.Unmarshal(b, &r) == nil && r.Key == key {
				fmt.Fprintf(stderr, "%s: reusing %s (same weights and settings)\n", ck.name, cache)
				r.Name, r.Reused = ck.name, true
				return &r, nil
			}
		}
	}
	t0 := time.Now()
	m, _, err := models.Load(ck.path, dev)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r := &modelResult{Key: key, Name: ck.name, Checkpoint: ck.path, Model: ck.ck.Spec, Phase: ck.ck.Phase, Epoch: ck.ck.Epoch,
		Weights: ck.ck.WeightsSHA256, Sidecar: ck.sidecarSHA}
	if !c.noFFT || !c.noVariance {
		batches := (len(idx) + c.batch - 1) / c.batch
		bar := progress.New(stderr, ck.name+" features", "batches", batches, 0)
		f, err := analysis.MeasureFeatures(ctx, m, ds, idx, analysis.FeatureOptions{Batch: c.batch, Nyquist: c.nyquist,
			SkipFourier: c.noFFT, SkipVariance: c.noVariance, PerImage: c.perImage, Progress: func(int, int) { bar.Add(1, "") }})
		bar.Finish("")
		if err != nil {
			return nil, err
		}
		r.Fourier, r.Variance = f.Fourier, f.Variance
	}
	if !c.noNoise {
		batches := (len(idx) + c.batch - 1) / c.batch
		bar := progress.New(stderr, ck.name+" noise", "passes", batches*(1+len(c.bands)), 0)
		opt := c.noiseOptions()
		opt.Progress = func(int, int) { bar.Add(1, "") }
		nr, err := analysis.NoiseRobustness(ctx, m, ds, idx, opt)
		bar.Finish("")
		if err != nil {
			return nil, err
		}
		r.Noise = nr
	}
	r.Seconds = time.Since(t0).Seconds()
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(cache, append(js, '\n')); err != nil {
		return nil, err
	}
	return r, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// report turns the results into the report's plain data.
func (c *config) report(res *results, cks []*checkpoint, threads int, took time.Duration) reports.FourierReport {
	rep := reports.FourierReport{Title: c.title, Dataset: fmt.Sprintf("%s test split, first %d images", res.Dataset, res.Images),
		Images: res.Images, NoiseLevel: c.noise, NoiseWidth: c.width, NoiseMetric: c.metric.String(), EqualEnergy: c.equalEnergy,
		Seed: c.seed, Command: strings.Join(quoteArgs(res.Provenance.Command), " "), VarianceLog: c.varScale,
		DataLinks: []reports.Link{{Href: "results.json", Text: "results.json"}}}
	if rep.VarianceLog == "auto" {
		rep.VarianceLog = ""
	}
	pv := res.Provenance
	rep.Provenance = [][2]string{
		{"vitprobe version", pv.Version}, {"started (UTC)", pv.Started}, {"this run took", took.Round(time.Second / 10).String()},
		{"host", pv.Host}, {"CPUs / libtorch threads", fmt.Sprintf("%d / %d", pv.CPUs, threads)},
		{"Go", pv.GoVersion + " " + pv.OS}, {"batch size", strconv.Itoa(res.Batch)},
	}
	for i, r := range res.Models {
		m := analysis.FourierModel(r.Name, r.Fourier, r.Variance, r.Noise)
		rep.Models = append(rep.Models, m)
		ck := cks[i]
		rep.Checkpoints = append(rep.Checkpoints, reports.FourierCheckpoint{Name: r.Name, Path: ck.path, Model: ck.ck.Spec.Name,
			Phase: ck.ck.Phase, Epoch: ck.ck.Epoch, WeightsSHA256: ck.ck.WeightsSHA256, SidecarSHA256: ck.sidecarSHA,
			Seconds: r.Seconds, Reused: r.Reused})
	}
	return rep
}

// quoteArgs quotes the arguments a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

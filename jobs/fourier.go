package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// FourierOptions are the settings of a Fourier job: everything that decides
// its numbers.
type FourierOptions struct {
	// Images: the first Images test images of Dataset ("": the one the
	// checkpoints were trained on), Batch per forward pass.
	Images, Batch int
	Dataset       string
	// Nyquist adds the point at frequency π to the profiles.
	Nyquist bool
	// NoFourier, NoVariance and NoNoise skip an analysis.
	NoFourier, NoVariance, NoNoise bool
	// PerImage also records, per image, each layer's high-frequency Δ log
	// amplitude and variance and each noise band's right/wrong outcome
	// (the layer's and band's numbers are their means), for intervals
	// over images (package findings).
	PerImage bool
	// Noise configures the frequency-band noise (its Batch is Batch).
	Noise analysis.NoiseOptions
}

// FourierReport is the presentation of the report: free to change between
// a run and its rerun.
type FourierReport struct {
	// Title of report.html ("": the default).
	Title string
	// VarianceScale is the y axis of the variance figure: "auto", "log"
	// or "linear".
	VarianceScale string
}

// Fourier measures the relative log amplitude of every layer's feature
// maps, their variance and the accuracy under frequency-band noise of
// checkpoints. Outputs in Env.Out: report.html with its figures and CSV
// tables, results.json (results.Fourier, written last) and one journal per
// checkpoint in models/LABEL.jsonl. A rerun reuses a checkpoint's journal
// when its weights and the settings are the same, and recomputes it (saying
// what changed) otherwise. With Env.Shard a process measures the
// checkpoints c with c mod n = i; Merge writes the report.
type Fourier struct {
	Env
	// Fresh recomputes every checkpoint, ignoring its journal.
	Fresh bool
	// Report is the report's presentation.
	Report FourierReport

	computed map[string]bool // labels measured by this run
}

// fourierHeader fixes what decides one checkpoint's numbers: its
// weights and the settings. It is the first line of its journal.
type fourierHeader struct {
	Tool     string           `json:"tool"`
	Format   int              `json:"format"`
	Model    string           `json:"model"`
	Weights  string           `json:"weights_sha256"`
	Dataset  string           `json:"dataset"`
	Images   int              `json:"images"`
	Batch    int              `json:"batch"`
	Nyquist  bool             `json:"nyquist"`
	PerImage bool             `json:"per_image,omitempty"`
	Skip     []string         `json:"skip,omitempty"`
	Noise    *fourierNoiseHdr `json:"noise,omitempty"`
}

type fourierNoiseHdr struct {
	Level       float64   `json:"level"`
	Bands       []float64 `json:"bands"`
	Width       float64   `json:"width"`
	Metric      string    `json:"metric"`
	EqualEnergy bool      `json:"equal_energy"`
	Seed        uint64    `json:"seed"`
}

// Kinds of Fourier journal records: the checkpoint's description, its
// features (profiles and variance), its noise robustness.
const (
	kindCheckpoint = "checkpoint"
	kindFeatures   = "features"
	kindNoise      = "noise"
)

// fourierRecord is one line of a checkpoint's journal.
type fourierRecord struct {
	Kind     string                  `json:"kind"`
	Entry    *results.FourierEntry   `json:"entry,omitempty"`
	Fourier  *results.FourierResult  `json:"fourier,omitempty"`
	Variance *results.VarianceResult `json:"variance,omitempty"`
	Noise    *results.NoiseResult    `json:"noise,omitempty"`
	Seconds  float64                 `json:"seconds"`
}

const fourierTool = "vitprobe fourier"

func fourierJournal(dir, label string) string {
	return filepath.Join(dir, "models", label+".jsonl")
}

// Validate checks the options that need no checkpoint, as
// *errs.OptionError.
func (o FourierOptions) Validate() error {
	switch {
	case o.Images < 1:
		return errs.Optionf("--images %d: want at least 1", o.Images)
	case o.Batch < 1:
		return errs.Optionf("--batch %d: want at least 1 image per batch", o.Batch)
	case o.NoNoise && o.NoVariance && o.NoFourier:
		return errs.Optionf("--no-noise, --no-variance and --no-fourier together leave nothing to do")
	}
	if !o.NoNoise {
		n := o.Noise
		n.Batch = o.Batch
		if err := analysis.ValidateNoise(n); err != nil {
			return &errs.OptionError{Err: err}
		}
	}
	return nil
}

// header is the journal header of checkpoint r under o.
func (o FourierOptions) header(r meta.Resolved, dataset string) fourierHeader {
	h := fourierHeader{Tool: fourierTool, Format: 1, Model: r.Spec.Name, Weights: r.WeightsSHA256, Dataset: dataset,
		Images: o.Images, Batch: o.Batch, Nyquist: o.Nyquist, PerImage: o.PerImage}
	for _, s := range []struct {
		on   bool
		name string
	}{{o.NoFourier, "fourier"}, {o.NoVariance, "variance"}, {o.NoNoise, "noise"}} {
		if s.on {
			h.Skip = append(h.Skip, s.name)
		}
	}
	if !o.NoNoise {
		n := o.Noise
		h.Noise = &fourierNoiseHdr{Level: n.Level, Bands: n.Bands, Width: n.Width, Metric: n.Metric.String(),
			EqualEnergy: n.EqualEnergy, Seed: n.Seed}
	}
	return h
}

// key identifies a checkpoint's results: the weights and every setting
// that changes a number (results.FourierEntry.Key).
func (o FourierOptions) key(r meta.Resolved, dataset string) string {
	s := fmt.Sprintf("v1|%s|%s|%s|%d|%d|%t|%t|%t|%t", r.WeightsSHA256, r.Spec.Name, dataset, o.Images, o.Batch,
		o.Nyquist, o.NoFourier, o.NoVariance, o.NoNoise)
	if !o.NoNoise {
		n := o.Noise
		s += fmt.Sprintf("|%g|%v|%g|%v|%t|%d", n.Level, n.Bands, n.Width, n.Metric, n.EqualEnergy, n.Seed)
	}
	if o.PerImage {
		s += "|per-image"
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// Run measures every checkpoint refs name (those of its shard), reusing
// their journals, and writes the report, unless it is one shard of a
// sharded run: then it returns nil, and Merge writes it. Cancelling ctx
// stops it (Interrupted is true of the error); finished analyses are in
// the journals.
func (j *Fourier) Run(ctx context.Context, refs []meta.Ref, opt FourierOptions) (*results.Fourier, error) {
	start := time.Now()
	if opt.Noise.Bands == nil {
		opt.Noise.Bands = analysis.DefaultNoiseBands()
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	rs, err := resolve(refs)
	if err != nil {
		return nil, err
	}
	var presets []meta.Resolved
	for _, r := range rs {
		if err := knownModel(r); err != nil {
			return nil, err
		}
		if r.TorchScript == "" {
			presets = append(presets, r)
		}
	}
	// The presets share one test set, the one given or the one they were
	// trained on; an exported TorchScript model has the user's images,
	// sized and normalised for it. Models that do not load stop the job
	// before it writes anything.
	dataset := ""
	if len(presets) > 0 {
		if dataset, err = fourierDataset(presets, opt.Dataset); err != nil {
			return nil, err
		}
	}
	sets := &datasets{dir: j.DataDir}
	m := &fourierMeasure{j: j, opt: opt, data: map[string]fourierData{}}
	for _, r := range rs {
		var fd fourierData
		if r.TorchScript == "" {
			fd.ds, err = sets.get(dataset, data.Test)
			fd.dataset = dataset
		} else {
			fd.ds, fd.dataset, err = sets.dataOf(r, opt.Dataset, data.Test)
			if err == nil {
				fd.dataset += "@" + fd.ds.Info.Source
			}
		}
		if err != nil {
			return nil, err
		}
		if opt.Images > fd.ds.Len() {
			return nil, errs.Optionf("--images %d: the %s test split has %d images", opt.Images, fd.ds.Info.Name, fd.ds.Len())
		}
		if err := checkTorchScript(r, j.Device, nil, false); err != nil {
			return nil, err
		}
		fd.idx = fd.ds.Indices()[:opt.Images]
		m.data[r.Label] = fd
		if first := m.data[rs[0].Label]; fd.dataset != first.dataset {
			return nil, errs.Optionf("%s is measured on %s, %s on %s: one report compares models on the same images; run them separately",
				rs[0].Label, first.dataset, r.Label, fd.dataset)
		}
	}
	if err := prepareOut(filepath.Join(j.Out, "models")); err != nil {
		return nil, err
	}
	if err := prepareOut(j.Out); err != nil {
		return nil, err
	}
	for i, r := range rs {
		if !j.shard().Owns(i) {
			continue
		}
		if err := m.checkpoint(ctx, r); err != nil {
			if Interrupted(err) {
				fmt.Fprintf(j.log(), "fourier: interrupted; finished analyses are kept in %s\n", filepath.Join(j.Out, "models"))
				return nil, err
			}
			return nil, fmt.Errorf("%s (%s): %w", r.Label, r.Sidecar, err)
		}
	}
	if j.sharded() {
		return nil, nil
	}
	labels := make([]string, len(rs))
	for i, r := range rs {
		labels[i] = r.Label
	}
	return j.write(j.Out, labels, time.Since(start))
}

// fourierDataset is the data set of the run: the one given, else the one
// every checkpoint was trained on.
func fourierDataset(rs []meta.Resolved, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	dataset := ""
	for _, r := range rs {
		d, err := datasetOf(r, "")
		if err != nil {
			return "", err
		}
		if dataset != "" && d != dataset {
			return "", errs.Optionf("the checkpoints were trained on %s and %s: choose the test images with --dataset", dataset, d)
		}
		dataset = d
	}
	return dataset, nil
}

// Merge writes the report of the checkpoints labelled labels (none: every
// journal in dir/models, by label) from their journals, after a sharded
// run.
func (j *Fourier) Merge(dir string, labels ...string) (*results.Fourier, error) {
	start := time.Now()
	if len(labels) == 0 {
		found, _ := filepath.Glob(filepath.Join(dir, "models", "*.jsonl"))
		for _, f := range found {
			labels = append(labels, strings.TrimSuffix(filepath.Base(f), ".jsonl"))
		}
		slices.Sort(labels)
		if len(labels) == 0 {
			return nil, fmt.Errorf("merge: no journals (models/*.jsonl) in %s", dir)
		}
	}
	if err := prepareOut(dir); err != nil {
		return nil, err
	}
	return j.write(dir, labels, time.Since(start))
}

// fourierMeasure is a run under way.
type fourierMeasure struct {
	j    *Fourier
	opt  FourierOptions
	data map[string]fourierData // by label
}

// fourierData is what a checkpoint is measured on: the data set, its name
// in the journal header (with the source of a user's folder or file), and
// the images.
type fourierData struct {
	ds      *data.Dataset
	dataset string
	idx     []int
}

// open opens a checkpoint's journal, starting afresh when asked or when
// it was written with other settings or weights (saying what changed).
func (m *fourierMeasure) open(r meta.Resolved) (*journal.Writer, []fourierRecord, error) {
	path := fourierJournal(m.j.Out, r.Label)
	hdr := m.opt.header(r, m.data[r.Label].dataset)
	if m.j.Fresh {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
	}
	w, recs, err := journal.Open[fourierRecord](path, hdr)
	var mis *errs.JournalMismatchError
	if errors.As(err, &mis) {
		fmt.Fprintf(m.j.log(), "%s: recomputing: %s\n", r.Label, strings.Join(mis.Diffs, "; "))
		if err := os.Remove(path); err != nil {
			return nil, nil, err
		}
		w, recs, err = journal.Open[fourierRecord](path, hdr)
	}
	return w, recs, err
}

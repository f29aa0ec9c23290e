package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/train"
)

// Budget is the training budget every run of an experiment gets: the same
// number of optimisation steps whatever the size of its data (an epoch of
// 2% of MNIST is 18 steps, of all of it 937), so that runs differ only in
// what is compared.
type Budget struct {
	// Steps is the number of optimisation steps of a run.
	Steps int `json:"steps"`
	// Batch is the batch size, LR the peak learning rate (AdamW, weight
	// decay 0.05, clip 5: the mini recipe).
	Batch int     `json:"batch"`
	LR    float64 `json:"lr"`
	// WarmupShare is the share of the steps spent in linear warm-up; the
	// "warmup" checkpoint (the paper's early phase) is saved at its end.
	WarmupShare float64 `json:"warmup_share"`
	// TestFraction is the share of the test split evaluated after each
	// epoch during training (progress only; Measure evaluates all of it).
	TestFraction float64 `json:"test_fraction"`
	// Snapshots is the number of weight snapshots per run, evenly spaced
	// (for trajectories); 0 takes none.
	Snapshots int `json:"snapshots"`
}

// Validate reports the first nonsensical setting.
func (b Budget) Validate() error {
	switch {
	case b.Steps < 1:
		return fmt.Errorf("experiments: budget of %d steps", b.Steps)
	case b.Batch < 1:
		return fmt.Errorf("experiments: batch size %d", b.Batch)
	case !(b.LR > 0):
		return fmt.Errorf("experiments: learning rate %v", b.LR)
	case !(b.WarmupShare >= 0 && b.WarmupShare < 1):
		return fmt.Errorf("experiments: warm-up share %v, want [0, 1)", b.WarmupShare)
	case !(b.TestFraction > 0 && b.TestFraction <= 1):
		return fmt.Errorf("experiments: test fraction %v, want (0, 1]", b.TestFraction)
	case b.Snapshots < 0:
		return fmt.Errorf("experiments: %d snapshots", b.Snapshots)
	}
	return nil
}

// RunSpec is one training run of an experiment.
type RunSpec struct {
	// Model is a preset or a preset string with a block pattern.
	Model string `json:"model"`
	// Dataset is a dataset name, possibly with a class filter (mnist:5-9).
	Dataset string `json:"dataset"`
	// Fraction is the stratified share of the training examples used.
	Fraction float64 `json:"fraction"`
	Seed     uint64  `json:"seed"`
	// GAP, Window and Blur are the model options of models.Config.
	GAP    bool `json:"gap,omitempty"`
	Window int  `json:"window,omitempty"`
	Blur   bool `json:"blur,omitempty"`
	// Validation is the share of the training split held out.
	Validation float64 `json:"validation,omitempty"`
	// Init is the checkpoint the run starts from; NewHead gives it a
	// fresh classifier.
	Init    string `json:"init,omitempty"`
	NewHead bool   `json:"new_head,omitempty"`
}

// Label is a short name for tables and legends.
func (s RunSpec) Label() string {
	parts := []string{s.Model}
	if s.GAP {
		parts = append(parts, "GAP")
	}
	if s.Window > 0 {
		parts = append(parts, fmt.Sprintf("window %d", s.Window))
	}
	if s.Blur {
		parts = append(parts, "blur")
	}
	if s.Init != "" {
		parts = append(parts, "fine-tuned")
	}
	parts = append(parts, s.Dataset, pct(s.Fraction), fmt.Sprintf("seed %d", s.Seed))
	return strings.Join(parts, " ")
}

// pct writes a fraction as a percentage without needless digits.
func pct(f float64) string { return fmt.Sprintf("%g%%", math.Round(1e6*f*100)/1e6) }

// Lab trains and measures the runs of experiments in one folder, reusing
// every run and measurement already there: a run is identified by its
// whole training configuration (its folder name ends in a hash of it), a
// measurement by its settings and the weights it measured. Several
// processes may share a folder: each run is locked while it is trained
// or measured.
type Lab struct {
	// Dir holds runs/ (one folder per run), the experiments' outputs and
	// timings.tsv.
	Dir string
	// DataDir is the dataset folder ("" finds MNIST by itself).
	DataDir     string
	Budget      Budget
	MeasureSpec MeasureSpec
	// Threads is libtorch's thread count (recorded with each run).
	Threads int
	// Log receives progress (nil: discarded).
	Log io.Writer

	mu       sync.Mutex
	datasets map[string]*data.Dataset
}

func (l *Lab) log() io.Writer {
	if l.Log == nil {
		return io.Discard
	}
	return l.Log
}

// dataset loads (once) a split of a dataset.
func (l *Lab) dataset(name string, split data.Split) (*data.Dataset, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.datasets == nil {
		l.datasets = map[string]*data.Dataset{}
	}
	key := name + "/" + split.String()
	if d, ok := l.datasets[key]; ok {
		return d, nil
	}
	d, err := data.Load(name, l.DataDir, split)
	if err != nil {
		return nil, err
	}
	l.datasets[key] = d
	return d, nil
}

// Config returns the training configuration of a run: the mini recipe
// with the budget's batch, learning rate and steps (whole epochs enough
// for them, cut at Steps), warm-up over WarmupShare of the steps.
func (l *Lab) Config(s RunSpec) (train.Config, error) {
	if err := l.Budget.Validate(); err != nil {
		return train.Config{}, err
	}
	c, err := train.Recipe("mini", s.Model, s.Dataset)
	if err != nil {
		return c, err
	}
	c.Fraction, c.Seed, c.Validation = s.Fraction, s.Seed, s.Validation
	c.ModelConfig.GAPHead, c.ModelConfig.Window, c.ModelConfig.Blur = s.GAP, s.Window, s.Blur
	c.Init, c.NewHead = s.Init, s.NewHead
	c.BatchSize, c.LR, c.SaveEvery = l.Budget.Batch, l.Budget.LR, 0
	d, err := l.dataset(s.Dataset, data.Train)
	if err != nil {
		return c, err
	}
	idx, _, err := train.Split(d, c)
	if err != nil {
		return c, err
	}
	perEpoch := len(idx) / c.BatchSize
	if perEpoch == 0 {
		return c, fmt.Errorf("experiments: %s keeps %d training examples, fewer than a batch of %d", s.Label(), len(idx), c.BatchSize)
	}
	c.Epochs = (l.Budget.Steps + perEpoch - 1) / perEpoch
	c.MaxSteps = l.Budget.Steps
	c.WarmupEpochs = l.Budget.WarmupShare * float64(l.Budget.Steps) / float64(perEpoch)
	return c, c.Validate()
}

// Run is a trained run.
type Run struct {
	Spec   RunSpec      `json:"spec"`
	Dir    string       `json:"dir"`
	Config train.Config `json:"config"`
	// Final and Warmup are the sidecars of the final checkpoint and of the
	// end of warm-up.
	Final  string `json:"final"`
	Warmup string `json:"warmup"`
	// TrainSeconds is the wall time of the training steps (the run's own
	// record, so also right for a run reused from an earlier process).
	TrainSeconds float64 `json:"train_seconds"`
}

// runDir names a run's folder: readable, then a hash of the whole config.
func runDir(s RunSpec, c train.Config) string {
	js, _ := json.Marshal(c)
	h := sha256.Sum256(js)
	slug := s.Model
	if s.GAP {
		slug += "-gap"
	}
	if s.Window > 0 {
		slug += fmt.Sprintf("-w%d", s.Window)
	}
	if s.Blur {
		slug += "-blur"
	}
	if s.Init != "" {
		slug += "-ft"
	}
	slug += fmt.Sprintf("-%s-f%g-s%d", s.Dataset, s.Fraction, s.Seed)
	slug = strings.NewReplacer(":", "_", ",", ".", "=", "", "/", "_").Replace(slug)
	return slug + "-" + hex.EncodeToString(h[:4])
}

// Train trains the run s (or finds it trained) and returns it.
func (l *Lab) Train(ctx context.Context, s RunSpec) (*Run, error) {
	c, err := l.Config(s)
	if err != nil {
		return nil, fmt.Errorf("experiments: %s: %w", s.Label(), err)
	}
	dir := filepath.Join(l.Dir, "runs", runDir(s, c))
	unlock, err := lock(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	every := 0
	if l.Budget.Snapshots > 0 {
		every = max(1, l.Budget.Steps/l.Budget.Snapshots)
	}
	t0 := time.Now()
	if _, err := os.Stat(filepath.Join(dir, "final.json")); err != nil {
		fmt.Fprintf(l.log(), "experiments: training %s (%d steps) in %s\n", s.Label(), c.MaxSteps, dir)
	}
	res, err := train.Run(ctx, c, train.Options{Out: dir, DataDir: l.DataDir, Resume: true, Threads: l.Threads, Device: gotch.CPU,
		TestFraction: l.Budget.TestFraction, SnapshotEvery: every})
	if err != nil {
		return nil, fmt.Errorf("experiments: %s: %w", s.Label(), err)
	}
	if !res.AlreadyRun {
		l.timing("train", s.Label(), time.Since(t0))
	}
	r := &Run{Spec: s, Dir: dir, Config: c, Final: res.Final, Warmup: filepath.Join(dir, "warmup.json")}
	for _, m := range res.Metrics {
		r.TrainSeconds += m.Seconds
	}
	if _, err := os.Stat(r.Warmup); err != nil {
		r.Warmup = "" // no warm-up
	}
	return r, nil
}

// timing appends one line to the lab's timings.tsv: what, which, seconds.
func (l *Lab) timing(what, which string, d time.Duration) {
	f, err := os.OpenFile(filepath.Join(l.Dir, "timings.tsv"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\t%s\t%s\t%.1f\n", time.Now().UTC().Format(time.RFC3339), what, which, d.Seconds())
	fmt.Fprintf(l.log(), "experiments: %s %s: %.1f s\n", what, which, d.Seconds())
}

// lock takes an exclusive lock on dir (creating its parent), waiting for
// another process that holds it, and returns its release.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("experiments: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("experiments: lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

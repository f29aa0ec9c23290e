package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/train"
)

// MeasureSpec says what Measure measures on a run.
type MeasureSpec struct {
	// HessianPhase is the checkpoint of the Hessian spectrum: "warmup"
	// (the paper's early phase, as in its Fig. 4) or "final".
	HessianPhase string `json:"hessian_phase"`
	// Batches minibatches of BatchSize training examples (of the run's own
	// training subset), the top K eigenvalues of each one's Hessian
	// (Lanczos), of NLL + wd/2·|w|² in eval mode: the paper's spectrum.
	Batches   int `json:"batches"`
	BatchSize int `json:"batch_size"`
	K         int `json:"k"`
	// Tol is Lanczos's relative tolerance of each eigenvalue.
	Tol float64 `json:"tol"`
	// TrainImages caps the training examples the training NLL is taken
	// on (a stratified subset of the run's; 0: all of them), TestImages
	// the test examples of the test accuracy (0: the whole test split).
	TrainImages int `json:"train_images"`
	TestImages  int `json:"test_images,omitempty"`
	// LandscapePhase is the checkpoint of the landscape slices.
	LandscapePhase string `json:"landscape_phase"`
	// Directions 1-D slices through the checkpoint along filter-normalised
	// random directions (landscape.Random, seeds 0..Directions-1; 0 takes
	// no slices), Points points each on [-Radius, Radius], on
	// LandscapeImages training examples of the run's subset.
	Directions      int     `json:"directions"`
	Points          int     `json:"points"`
	Radius          float64 `json:"radius"`
	LandscapeImages int     `json:"landscape_images"`
}

// Validate reports the first nonsensical setting.
func (m MeasureSpec) Validate() error {
	phase := func(p string) bool { return p == "warmup" || p == "final" }
	switch {
	case !phase(m.HessianPhase) || !phase(m.LandscapePhase):
		return fmt.Errorf("experiments: phases %q and %q, want warmup or final", m.HessianPhase, m.LandscapePhase)
	case m.Batches < 1 || m.BatchSize < 1 || m.K < 1 || !(m.Tol > 0 && m.Tol < 1):
		return fmt.Errorf("experiments: Hessian of %d batches of %d, top %d, tolerance %v", m.Batches, m.BatchSize, m.K, m.Tol)
	case m.TrainImages < 0 || m.TestImages < 0:
		return fmt.Errorf("experiments: %d training and %d test images", m.TrainImages, m.TestImages)
	case m.Directions < 0 || (m.Directions > 0 && (m.Points < 3 || m.Points%2 == 0 || !(m.Radius > 0) || m.LandscapeImages < 1)):
		return fmt.Errorf("experiments: landscape of %d directions, %d points (odd, >= 3) on ±%v, %d images", m.Directions, m.Points, m.Radius, m.LandscapeImages)
	}
	return nil
}

// Measurement is what Measure found on a run.
type Measurement struct {
	Run  RunSpec     `json:"run"`
	Dir  string      `json:"dir"`
	Spec MeasureSpec `json:"spec"`
	// Key identifies the settings and weights measured.
	Key string `json:"key"`
	// TestAcc and TestNLL: the final checkpoint on the whole test split.
	TestAcc float64 `json:"test_acc"`
	TestNLL float64 `json:"test_nll"`
	TestN   int     `json:"test_n"`
	// TrainNLL and TrainAcc: the final checkpoint on its training examples.
	TrainNLL float64 `json:"train_nll"`
	TrainAcc float64 `json:"train_acc"`
	TrainN   int     `json:"train_n"`
	// Eigen holds the top eigenvalues of each minibatch's Hessian.
	Eigen [][]float64 `json:"eigenvalues"`
	// NEP is the share of negative eigenvalues (APE, which has no value
	// when none is positive, is computed from Eigen where needed).
	NEP float64 `json:"nep"`
	// Slices are the landscape slices (nil without directions).
	Slices *Slices `json:"slices,omitempty"`
	// Seconds of the evaluation, the Hessian and the landscape (of the
	// process that computed them).
	Seconds map[string]float64 `json:"seconds"`
	// TrainSeconds is the training's wall time (steps only).
	TrainSeconds float64 `json:"train_seconds"`
}

// Slices are 1-D landscape slices along random directions.
type Slices struct {
	X []float64 `json:"x"`
	// NLL[k][i] is the NLL at X[i] along direction k.
	NLL [][]float64 `json:"nll"`
	// Rise is, per direction, the mean over the two ends x = ±Radius of
	// NLL(x) − NLL(0): how much the loss climbs a fixed filter-normalised
	// distance away (larger: sharper).
	Rise []float64 `json:"rise"`
}

// key hashes what a measurement depends on.
func measureKey(spec MeasureSpec, hashes ...string) string {
	js, _ := json.Marshal(struct {
		Spec    MeasureSpec
		Weights []string
	}{spec, hashes})
	h := sha256.Sum256(js)
	return hex.EncodeToString(h[:8])
}

// Measure evaluates run r as the lab's MeasureSpec says, or reads the
// measurement of an earlier call with the same settings and weights.
// Hessian minibatches are journaled as they finish, so an interrupted
// measurement resumes.
func (l *Lab) Measure(ctx context.Context, r *Run) (*Measurement, error) {
	spec := l.MeasureSpec
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	unlock, err := lock(r.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	hck, err := phaseCheckpoint(r, spec.HessianPhase)
	if err != nil {
		return nil, err
	}
	lck, err := phaseCheckpoint(r, spec.LandscapePhase)
	if err != nil {
		return nil, err
	}
	var hashes []string
	for _, p := range []string{r.Final, hck, lck} {
		ck, err := models.ReadCheckpoint(p)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, ck.WeightsSHA256)
	}
	key := measureKey(spec, hashes...)
	out := filepath.Join(r.Dir, "measure-"+key+".json")
	if b, err := os.ReadFile(out); err == nil {
		var m Measurement
		if err := json.Unmarshal(b, &m); err == nil && m.Key == key {
			m.Run, m.TrainSeconds = r.Spec, r.TrainSeconds
			return &m, nil
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := &Measurement{Run: r.Spec, Dir: r.Dir, Spec: spec, Key: key, Seconds: map[string]float64{}, TrainSeconds: r.TrainSeconds}
	trainSet, err := l.dataset(r.Config.Dataset, data.Train)
	if err != nil {
		return nil, err
	}
	trainIdx, _, err := train.Split(trainSet, r.Config)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := l.evaluate(m, r, trainSet, trainIdx); err != nil {
		return nil, err
	}
	m.Seconds["eval"] = time.Since(t0).Seconds()
	t0 = time.Now()
	if m.Eigen, err = l.spectrum(ctx, hck, trainSet, trainIdx, r.Config.WeightDecay, key); err != nil {
		return nil, err
	}
	pooled := slices.Concat(m.Eigen...)
	m.NEP = findings.NEP(pooled)
	m.Seconds["hessian"] = time.Since(t0).Seconds()
	if spec.Directions > 0 {
		t0 = time.Now()
		if m.Slices, err = l.slices(ctx, lck, trainSet, trainIdx); err != nil {
			return nil, err
		}
		m.Seconds["landscape"] = time.Since(t0).Seconds()
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("experiments: %s: %w", r.Spec.Label(), err)
	}
	if err := atomicfile.WriteFile(out, append(js, '\n')); err != nil {
		return nil, err
	}
	l.timing("measure", r.Spec.Label(), time.Duration((m.Seconds["eval"]+m.Seconds["hessian"]+m.Seconds["landscape"])*float64(time.Second)))
	return m, nil
}

// phaseCheckpoint returns the sidecar of a run's checkpoint of a phase.
func phaseCheckpoint(r *Run, phase string) (string, error) {
	if phase == "final" {
		return r.Final, nil
	}
	if r.Warmup == "" {
		return "", fmt.Errorf("experiments: %s has no warm-up checkpoint (warm-up share 0?)", r.Spec.Label())
	}
	return r.Warmup, nil
}

// evaluate fills the test and training metrics of the final checkpoint.
func (l *Lab) evaluate(m *Measurement, r *Run, trainSet *data.Dataset, trainIdx []int) error {
	model, _, err := models.Load(r.Final, gotch.CPU)
	if err != nil {
		return err
	}
	defer model.Close()
	test, err := l.dataset(r.Config.Dataset, data.Test)
	if err != nil {
		return err
	}
	testIdx := test.Indices()
	if n := l.MeasureSpec.TestImages; n > 0 && n < len(testIdx) {
		if testIdx, err = test.Subset(float64(n)/float64(len(testIdx)), 0); err != nil {
			return err
		}
	}
	ev, err := train.Evaluate(model, test, testIdx, 250)
	if err != nil {
		return fmt.Errorf("experiments: %s: test: %w", r.Spec.Label(), err)
	}
	m.TestAcc, m.TestNLL, m.TestN = ev.Accuracy, ev.NLL, ev.N
	idx := trainIdx
	if n := l.MeasureSpec.TrainImages; n > 0 && n < len(idx) {
		if idx, err = trainSet.SubsetOf(trainIdx, float64(n)/float64(len(trainIdx)), 0); err != nil {
			return err
		}
	}
	ev, err = train.Evaluate(model, trainSet, idx, 250)
	if err != nil {
		return fmt.Errorf("experiments: %s: training NLL: %w", r.Spec.Label(), err)
	}
	m.TrainNLL, m.TrainAcc, m.TrainN = ev.NLL, ev.Accuracy, ev.N
	return nil
}

type spectrumHeader struct {
	Kind       string `json:"kind"`
	Checkpoint string `json:"weights"`
	Key        string `json:"key"`
}

type spectrumRecord struct {
	Batch  int       `json:"batch"`
	Values []float64 `json:"values"`
}

// spectrum computes (or reads from its journal) the top eigenvalues of
// each minibatch's Hessian of checkpoint ck, on the run's training
// examples, with the L2 term of weight decay wd.
func (l *Lab) spectrum(ctx context.Context, ck string, d *data.Dataset, idx []int, wd float64, key string) ([][]float64, error) {
	spec := l.MeasureSpec
	model, c, err := models.Load(ck, gotch.CPU)
	if err != nil {
		return nil, err
	}
	defer model.Close()
	path := filepath.Join(filepath.Dir(ck), "hessian-"+key+".jsonl")
	jw, recs, err := journal.Open[spectrumRecord](path, spectrumHeader{Kind: "vitprobe-experiments-spectrum", Checkpoint: c.WeightsSHA256, Key: key})
	if err != nil {
		return nil, err
	}
	defer func() { _ = jw.Close() }()
	out := make([][]float64, spec.Batches)
	done := map[int]bool{}
	for _, r := range recs {
		if r.Batch >= 0 && r.Batch < spec.Batches {
			out[r.Batch], done[r.Batch] = r.Values, true
		}
	}
	size := min(spec.BatchSize, len(idx))
	mb, err := analysis.NewMinibatches(d, idx, size, spec.Batches, 0, data.Augment{})
	if err != nil {
		return nil, err
	}
	err = analysis.MaxEigenSpectrum(ctx, model, mb, &analysis.SpectrumOptions{K: spec.K, Solver: &hessian.LanczosSettings{Tol: spec.Tol},
		WeightDecay: wd, Skip: func(b int) bool { return done[b] }}, func(r analysis.BatchResult) error {
		out[r.Batch] = r.Values
		return jw.Append(spectrumRecord{Batch: r.Batch, Values: r.Values})
	})
	if err != nil {
		return nil, fmt.Errorf("experiments: Hessian of %s: %w", ck, err)
	}
	return out, nil
}

// slices computes the 1-D landscape slices of checkpoint ck.
func (l *Lab) slices(ctx context.Context, ck string, d *data.Dataset, idx []int) (*Slices, error) {
	spec := l.MeasureSpec
	model, _, err := models.Load(ck, gotch.CPU)
	if err != nil {
		return nil, err
	}
	defer model.Close()
	n := min(spec.LandscapeImages, len(idx))
	sub := idx
	if n < len(idx) {
		if sub, err = d.SubsetOf(idx, float64(n)/float64(len(idx)), 1); err != nil {
			return nil, err
		}
	}
	params, err := analysis.LandscapeParams(model)
	if err != nil {
		return nil, err
	}
	if err := analysis.LandscapeZeroRule(model, false, false).Apply(params); err != nil {
		return nil, err
	}
	s := &Slices{}
	for i := 0; i < spec.Points; i++ {
		s.X = append(s.X, -spec.Radius+2*spec.Radius*float64(i)/float64(spec.Points-1))
	}
	for k := 0; k < spec.Directions; k++ {
		dir, err := landscape.Random(params, uint64(k), 0, landscape.NormFilter)
		if err != nil {
			return nil, err
		}
		ev, err := analysis.NewLandscapeEvaluator(model, d, sub, params, []landscape.Direction{dir},
			&analysis.LandscapeOptions{ThreadsPerWorker: max(1, l.Threads)})
		if err != nil {
			return nil, err
		}
		row := make([]float64, len(s.X))
		for i, x := range s.X {
			mt, err := ev.Evaluate(ctx, x, 0)
			if err != nil {
				_ = ev.Close()
				return nil, err
			}
			row[i] = mt.NLL
		}
		if err := ev.Close(); err != nil {
			return nil, err
		}
		s.NLL = append(s.NLL, row)
		mid := len(row) / 2
		s.Rise = append(s.Rise, (row[0]+row[len(row)-1])/2-row[mid])
	}
	return s, nil
}

// Interval is a 90% bootstrap interval of a statistic.
type Interval struct {
	Value  float64 `json:"value"`
	Lo, Hi float64
}

// bootstrapMean returns the mean of v and its 90% bootstrap interval
// (2,000 resamples of v's entries, seeded).
func bootstrapMean(v []float64, seed uint64) Interval {
	if len(v) == 0 {
		return Interval{math.NaN(), math.NaN(), math.NaN()}
	}
	mean := func(x []float64) float64 {
		s := 0.0
		for _, a := range x {
			s += a
		}
		return s / float64(len(x))
	}
	r := rand.New(rand.NewPCG(seed, 0xb007))
	ms := make([]float64, 2000)
	buf := make([]float64, len(v))
	for i := range ms {
		for j := range buf {
			buf[j] = v[r.IntN(len(v))]
		}
		ms[i] = mean(buf)
	}
	slices.Sort(ms)
	return Interval{Value: mean(v), Lo: ms[int(0.05*float64(len(ms)))], Hi: ms[int(0.95*float64(len(ms)-1))]}
}

var errNoRuns = errors.New("experiments: no runs")

// slicesJSON is Slices as stored: non-finite values (a diverged point) as
// null, which JSON has no number for.
type slicesJSON struct {
	X    []float64    `json:"x"`
	NLL  [][]*float64 `json:"nll"`
	Rise []*float64   `json:"rise"`
}

func toNullable(v []float64) []*float64 {
	out := make([]*float64, len(v))
	for i, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out[i] = &v[i]
		}
	}
	return out
}

func fromNullable(v []*float64) []float64 {
	out := make([]float64, len(v))
	for i, p := range v {
		out[i] = math.NaN()
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// MarshalJSON implements json.Marshaler: non-finite values become null.
func (s Slices) MarshalJSON() ([]byte, error) {
	j := slicesJSON{X: s.X, Rise: toNullable(s.Rise)}
	for _, r := range s.NLL {
		j.NLL = append(j.NLL, toNullable(r))
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler: null becomes NaN.
func (s *Slices) UnmarshalJSON(b []byte) error {
	var j slicesJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	s.X, s.Rise, s.NLL = j.X, fromNullable(j.Rise), nil
	for _, r := range j.NLL {
		s.NLL = append(s.NLL, fromNullable(r))
	}
	return nil
}

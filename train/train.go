package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/mem"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// ErrInterrupted is returned when the context is cancelled: the run saved a
// checkpoint and can be resumed.
var ErrInterrupted = errors.New("train: interrupted")

// Options are the run-time settings that do not change the result (except
// Threads, which must stay the same for a bit-identical resume).
type Options struct {
	// Out is the run folder: checkpoints, metrics, curves.
	Out string
	// DataDir is the dataset folder ("" finds MNIST by itself).
	DataDir string
	// Resume continues the run in Out from its latest checkpoint; a
	// finished run is left as it is.
	Resume bool
	// Threads is libtorch's thread count, recorded with the run.
	Threads int
	// Workers, when above 1, splits each step's batch over that many
	// workers of one libtorch thread each, instead of one pass on Threads
	// threads: faster at small batches (the models with batch norm share
	// its statistics among the workers, so each example is normalised with
	// the whole batch's, as in one pass). Like Threads it changes the last
	// bits of the result, the same way at every run, and is recorded.
	// The test evaluation after each epoch runs on the workers too (its
	// batches dealt in turn, their sums added in batch order). The calling
	// thread keeps Threads libtorch threads for clipping and the update,
	// but OpenBLAS runs one thread while the workers live (torchx.Workers).
	// CPU only.
	Workers int
	// Device is where the model lives (CPU; CUDA where available).
	Device gotch.Device
	// Log receives progress bars and messages (nil: discarded).
	Log io.Writer
	// EvalBatch is the batch size of test evaluation (0: 250; larger
	// batches only raise peak memory on a CPU).
	EvalBatch int
	// TestFraction is the stratified share of the test split evaluated
	// after each epoch (0: all of it). It changes the reported test
	// metrics, never the weights.
	TestFraction float64
	// Curves, if not nil, renders the training curves after each epoch
	// (reports.TrainingCurves; a field to keep this package free of plots).
	Curves func(metrics []EpochMetrics, path string) error
	// SnapshotEvery, when positive, writes the trainable weights as one
	// flat vector every that many steps (and at step 0) into Out/snapshots
	// (SnapshotPath), for trajectories. It does not change the weights.
	SnapshotEvery int
}

// Result is what a finished run reports.
type Result struct {
	Dir        string         `json:"dir"`
	Final      string         `json:"final"` // the final checkpoint's sidecar
	Metrics    []EpochMetrics `json:"metrics"`
	Resumed    bool           `json:"resumed"`
	AlreadyRun bool           `json:"already_run"`
}

// runFile records the configuration of a run folder, so that a resume with
// other settings is refused.
const runFile = "run.json"

type runRecord struct {
	Config  Config `json:"config"`
	Threads int    `json:"threads"`
	Workers int    `json:"workers,omitempty"`
	// BLAS names OpenBLAS's kernels (torchx.BLASCore), which like the
	// thread count decide the last bits.
	BLAS string `json:"blas,omitempty"`
}

// Run trains as c says, writing into o.Out. Cancelling ctx saves an
// "interrupt" checkpoint and returns ErrInterrupted.
func Run(ctx context.Context, c Config, o Options) (*Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c, err := resolveInit(c)
	if err != nil {
		return nil, err
	}
	if o.Out == "" {
		return nil, errors.New("train: no output folder")
	}
	if o.EvalBatch <= 0 {
		o.EvalBatch = 250
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.TestFraction == 0 {
		o.TestFraction = 1
	}
	if o.Workers > 1 && o.Device != gotch.CPU {
		return nil, fmt.Errorf("train: %d workers: a step splits over CPU threads; use one worker on %v", o.Workers, o.Device)
	}
	fresh, err := checkRun(o, c)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, o: o}
	if err := r.data(); err != nil {
		return nil, err
	}
	if err := r.model(); err != nil {
		return nil, err
	}
	defer r.close()
	// The record of a new run is written once the model has been built, so
	// that settings it refuses (workers for a model with batch norm) leave
	// no record behind.
	if fresh {
		if err := writeRun(o, c); err != nil {
			return nil, err
		}
	}
	res, err := r.resume()
	if err != nil || res.AlreadyRun {
		return res, err
	}
	if err := r.start(); err != nil {
		return nil, err
	}
	for r.st.Epoch < c.Epochs && r.st.Step < r.total {
		if err := r.epoch(ctx); err != nil {
			return nil, err
		}
		if err := r.endEpoch(); err != nil {
			return nil, err
		}
	}
	res.Final, res.Metrics = r.lastGood, r.st.Metrics
	return res, nil
}

// run is a training run under way.
type run struct {
	c             Config
	o             Options
	trainSet      *data.Dataset
	testSet       *data.Dataset
	testIdx       []int
	sampler       *data.Sampler
	warmup, total int64
	m             models.Model
	opt           *optimizer
	split         *splitStep // nil: one pass per step
	st            trainState
	lastGood      string
}

// data loads the data sets and makes the test subset and the sampler.
func (r *run) data() error {
	c, o := r.c, r.o
	var err error
	if r.trainSet, err = data.Load(c.Dataset, o.DataDir, data.Train); err != nil {
		return err
	}
	if r.testSet, err = data.Load(c.Dataset, o.DataDir, data.Test); err != nil {
		return err
	}
	if c.ModelConfig.Classes != r.trainSet.Info.Classes || c.ModelConfig.InChannels != r.trainSet.Info.Channels {
		return fmt.Errorf("train: model %s has %d classes and %d input channels, %s has %d and %d",
			c.Model, c.ModelConfig.Classes, c.ModelConfig.InChannels, c.Dataset, r.trainSet.Info.Classes, r.trainSet.Info.Channels)
	}
	if r.testIdx, err = r.testSet.Subset(o.TestFraction, c.Seed); err != nil {
		return fmt.Errorf("train: test fraction: %w", err)
	}
	subset, _, err := Split(r.trainSet, c)
	if err != nil {
		return err
	}
	if r.sampler, err = data.Shuffled(subset, c.BatchSize, c.Seed, true); err != nil {
		return fmt.Errorf("train: %w (fraction %v keeps %d examples)", err, c.Fraction, len(subset))
	}
	perEpoch := int64(r.sampler.Batches())
	r.total = perEpoch * int64(c.Epochs)
	if c.MaxSteps > 0 && int64(c.MaxSteps) < r.total {
		r.total = int64(c.MaxSteps)
	}
	r.warmup = int64(math.Round(c.WarmupEpochs * float64(perEpoch)))
	return nil
}

// model builds the model from the seed and its optimiser.
func (r *run) model() error {
	torchx.Seed(r.c.Seed)
	m, err := models.New(r.c.Model, r.c.ModelConfig, r.o.Device)
	if err != nil {
		return err
	}
	r.m = m
	_, trainable := trainableParams(m)
	if r.opt, err = newOptimizer(trainable); err != nil {
		m.Close()
		return fmt.Errorf("train: %w", err)
	}
	if r.o.Workers > 1 {
		if r.split, err = newSplitStep(m, r.opt, r.o.Workers); err != nil {
			r.opt.close()
			m.Close()
			return err
		}
	}
	return nil
}

func (r *run) close() {
	r.split.close()
	r.opt.close()
	r.m.Close()
}

// resume loads the latest checkpoint of the run folder when asked to; a
// finished run is returned as AlreadyRun.
func (r *run) resume() (*Result, error) {
	o, log := r.o, r.o.Log
	how := fmt.Sprintf("%d threads", o.Threads)
	if r.split != nil {
		how = fmt.Sprintf("each step split over %d workers of one thread", workersOf(o))
	}
	fmt.Fprintf(log, "train: %s on %s, %s; %s\n", r.c.Model, r.c.Dataset, how, torchx.BLASCoreNote())
	r.st = trainState{Config: r.c, Threads: o.Threads, Workers: workersOf(o), BLAS: torchx.BLASCore()}
	res := &Result{Dir: o.Out}
	if !o.Resume {
		return res, nil
	}
	path, ck, s, err := latest(o.Out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(log, "train: nothing to resume in %s, starting afresh\n", o.Out)
		return res, nil
	case err != nil:
		return nil, fmt.Errorf("train: resume: %w", err)
	}
	if err := sameConfig(s.Config, r.c); err != nil {
		return nil, fmt.Errorf("train: resume %s: %w", path, err)
	}
	if err := models.LoadWeightsFile(r.m, filepath.Join(filepath.Dir(path), ck.Weights)); err != nil {
		return nil, fmt.Errorf("train: resume %s: %w", path, err)
	}
	if s.Optim != "" {
		if err := r.opt.load(filepath.Join(o.Out, s.Optim), s.OptimSHA256); err != nil {
			return nil, fmt.Errorf("train: resume: %w", err)
		}
	}
	r.st = s
	r.st.Threads, r.st.Workers, r.st.BLAS = o.Threads, workersOf(o), torchx.BLASCore()
	res.Resumed = true
	if ck.Phase == "final" {
		res.AlreadyRun, res.Final, res.Metrics = true, path, s.Metrics
		fmt.Fprintf(log, "train: %s is finished (%s); nothing to do\n", o.Out, path)
		return res, nil
	}
	fmt.Fprintf(log, "train: resuming %s from %s (epoch %d, step %d)\n", o.Out, filepath.Base(path), r.st.Epoch+1, r.st.Step)
	return res, nil
}

// start saves the "init" checkpoint of a new run, or finds the last good
// checkpoint of a resumed one.
func (r *run) start() error {
	r.lastGood = filepath.Join(r.o.Out, "init.json")
	if r.st.Step == 0 {
		if r.c.Init != "" {
			if err := loadInit(r.m, r.c); err != nil {
				return err
			}
		}
		if _, err := saveCheckpoint(r.o.Out, "init", "init", r.m, nil, r.st); err != nil {
			return err
		}
		if r.o.SnapshotEvery > 0 {
			return snapshot(r.o.Out, r.m, 0)
		}
		return nil
	}
	if p, _, _, err := latest(r.o.Out); err == nil {
		r.lastGood = p
	}
	return nil
}

// save saves a checkpoint of the run as it stands, the last good one.
func (r *run) save(name, phase string) error {
	p, err := saveCheckpoint(r.o.Out, name, phase, r.m, r.opt, r.st)
	if err == nil {
		r.lastGood = p
	}
	return err
}

// epoch runs the steps left of the current epoch; a cancelled ctx saves
// an interrupt checkpoint and stops with ErrInterrupted.
func (r *run) epoch(ctx context.Context) error {
	c, st := r.c, &r.st
	ep := r.sampler.Epoch(st.Epoch)
	bar := progress.New(r.o.Log, fmt.Sprintf("epoch %d/%d", st.Epoch+1, c.Epochs), "img",
		r.sampler.Batches()*c.BatchSize, st.Batch*c.BatchSize)
	for k := st.Batch; k < ep.Len() && st.Step < r.total; k++ {
		if ctx.Err() != nil {
			bar.Finish("interrupted")
			name := fmt.Sprintf("interrupt-step-%07d", st.Step)
			if err := r.save(name, "interrupt"); err != nil {
				return err
			}
			fmt.Fprintf(r.o.Log, "train: interrupted; saved %s; continue with --resume\n", filepath.Join(r.o.Out, name+".json"))
			return ErrInterrupted
		}
		if err := r.step(ep, k, bar); err != nil {
			bar.Finish("failed")
			return err
		}
	}
	bar.Finish("")
	return nil
}

// step runs step k of epoch ep and adds its loss and accuracy to the
// epoch's sums and trace.
func (r *run) step(ep *data.Epoch, k int, bar *progress.Bar) error {
	c, st := r.c, &r.st
	t0 := time.Now()
	step := st.Step + 1
	lr := Schedule(c.LR, step, r.warmup, r.total)
	loss, correct, err := trainStep(r.m, r.opt, r.split, r.trainSet, ep.Batch(k), ep.Rand(k), c, lr, step)
	if err != nil {
		if nf := (*errs.NonFiniteError)(nil); errors.As(err, &nf) {
			return fmt.Errorf("train: %w at epoch %d, step %d (lr %.3g); weights not saved, the last good checkpoint is %s",
				err, st.Epoch+1, step, lr, r.lastGood)
		}
		return fmt.Errorf("train: epoch %d, step %d: %w", st.Epoch+1, step, err)
	}
	n := len(ep.Batch(k))
	st.Step, st.Batch = step, k+1
	st.Sums.Loss += loss * float64(n)
	st.Sums.Correct += correct
	st.Sums.Seen += n
	st.Sums.Seconds += time.Since(t0).Seconds()
	w := &st.Sums.Window
	w.Loss += loss * float64(n)
	w.Correct += correct
	w.Seen += n
	if every := max(1, ep.Len()/TracePoints); st.Batch%every == 0 || st.Batch == ep.Len() {
		st.Sums.Trace = append(st.Sums.Trace, TracePoint{Step: step, Epoch: float64(st.Epoch) + float64(st.Batch)/float64(ep.Len()),
			Loss: w.Loss / float64(w.Seen), Acc: float64(w.Correct) / float64(w.Seen), LR: lr})
		*w = window{}
	}
	bar.Add(n, fmt.Sprintf("loss %.4f, acc %.2f%%, lr %.3g", st.Sums.Loss/float64(st.Sums.Seen),
		100*float64(st.Sums.Correct)/float64(st.Sums.Seen), lr))
	if r.o.SnapshotEvery > 0 && step%int64(r.o.SnapshotEvery) == 0 {
		if err := snapshot(r.o.Out, r.m, step); err != nil {
			return err
		}
	}
	if step == r.warmup && r.warmup > 0 {
		return r.save("warmup", "warmup")
	}
	return nil
}

// endEpoch evaluates on the test subset, records the epoch's metrics and
// curves, and saves the checkpoints the schedule asks for.
func (r *run) endEpoch() error {
	c, st := r.c, &r.st
	var ev Eval
	var err error
	if r.split != nil {
		ev, err = r.split.evaluate(r.opt, r.testSet, r.testIdx, r.o.EvalBatch)
	} else {
		ev, err = Evaluate(r.m, r.testSet, r.testIdx, r.o.EvalBatch)
	}
	if err != nil {
		return fmt.Errorf("train: epoch %d: %w", st.Epoch+1, err)
	}
	em := EpochMetrics{Epoch: st.Epoch + 1, Step: st.Step, LR: Schedule(c.LR, st.Step, r.warmup, r.total),
		TrainLoss: st.Sums.Loss / float64(st.Sums.Seen), TrainAcc: float64(st.Sums.Correct) / float64(st.Sums.Seen),
		TestLoss: ev.NLL, TestAcc: ev.Accuracy, Seconds: st.Sums.Seconds, ImgPerSec: float64(st.Sums.Seen) / st.Sums.Seconds,
		Trace: st.Sums.Trace}
	if rss, err := mem.RSS(); err == nil {
		em.RSSMiB = mem.MiB(rss)
	}
	st.Metrics = append(st.Metrics, em)
	fmt.Fprintf(r.o.Log, "epoch %d/%d: train loss %.4f acc %.2f%%, test loss %.4f acc %.2f%%, %.0f img/s, RSS %.0f MiB\n",
		em.Epoch, c.Epochs, em.TrainLoss, 100*em.TrainAcc, em.TestLoss, 100*em.TestAcc, em.ImgPerSec, em.RSSMiB)
	st.Epoch, st.Batch, st.Sums = st.Epoch+1, 0, sums{}
	if err := writeMetrics(r.o.Out, st.Metrics); err != nil {
		return err
	}
	if r.o.Curves != nil {
		if err := r.o.Curves(st.Metrics, filepath.Join(r.o.Out, "curves.png")); err != nil {
			return err
		}
	}
	switch {
	case st.Epoch == c.Epochs || st.Step >= r.total:
		return r.save("final", "final")
	case c.SaveEvery > 0 && st.Epoch%c.SaveEvery == 0:
		return r.save(fmt.Sprintf("epoch-%04d", st.Epoch), fmt.Sprintf("epoch-%d", st.Epoch))
	}
	return nil
}

// trainableParams returns m's trainable parameters in name order, as
// tensors (for gradients) and as Params (for the optimiser's state).
func trainableParams(m models.Model) ([]*ts.Tensor, []models.Param) {
	var tensors []*ts.Tensor
	var params []models.Param
	for _, p := range m.Params() {
		if p.Trainable() {
			tensors = append(tensors, p.Tensor)
			params = append(params, p)
		}
	}
	return tensors, params
}

// trainStep runs one optimisation step and returns the batch's loss and
// number of correct predictions; with sp its gradient is computed over
// sp's workers.
func trainStep(m models.Model, opt *optimizer, sp *splitStep, d *data.Dataset, idx []int,
	r *rand.Rand, c Config, lr float64, step int64) (lossValue float64, ncorrect int, err error) {
	// libtorch's generator (stochastic depth) is reseeded per step, so that
	// a resumed run draws the same masks.
	torchx.Seed(stepSeed(c.Seed, step))
	b, err := torchdata.NewBatch(d, idx, c.Augment, r)
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	if sp != nil {
		lv, correct, err := sp.gradients(opt, b)
		if err != nil {
			return 0, 0, err
		}
		if err := finiteLoss(lv); err != nil {
			return lv, 0, err
		}
		return lv, correct, opt.update(c, lr, step)
	}
	logits, err := m.Forward(b.Images, models.Train, nil)
	if err != nil {
		return 0, 0, err
	}
	defer torchx.DropTo(&err, logits)
	loss, err := Loss(logits, b)
	if err != nil {
		return 0, 0, err
	}
	defer torchx.DropTo(&err, loss)
	lv, err := Scalar(loss)
	if err != nil {
		return 0, 0, err
	}
	if err := finiteLoss(lv); err != nil {
		return lv, 0, err
	}
	correct, err := Correct(logits, b)
	if err != nil {
		return 0, 0, err
	}
	if err := opt.step(loss, c, lr, step); err != nil {
		return 0, 0, err
	}
	return lv, correct, nil
}

// finiteLoss is the error a step stops on when its loss is NaN or infinite
// (before the optimiser moves the weights), nil otherwise.
func finiteLoss(lv float64) error {
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		return &errs.NonFiniteError{What: "loss", Value: lv}
	}
	return nil
}

// writeRun records a new run's configuration in its folder.
func writeRun(o Options, c Config) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	js, _ := json.MarshalIndent(runRecord{Config: c, Threads: o.Threads, Workers: workersOf(o), BLAS: torchx.BLASCore()}, "", "  ")
	return atomicfile.WriteFile(filepath.Join(o.Out, runFile), append(js, '\n'))
}

// workersOf returns the number of workers a step runs on (1: one pass).
func workersOf(o Options) int { return max(o.Workers, 1) }

// stepSeed mixes the run's seed and the step into libtorch's seed
// (splitmix64 finaliser).
func stepSeed(seed uint64, step int64) uint64 {
	z := seed + uint64(step)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// checkRun refuses to mix runs: a folder holding a run of another
// configuration, or a fresh start over an existing run without --resume.
// It reports a folder without a run record as fresh (writeRun records it).
func checkRun(o Options, c Config) (fresh bool, err error) {
	p := filepath.Join(o.Out, runFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("train: %w", err)
	}
	var rec runRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return false, fmt.Errorf("train: %s is not a run record: %w", p, err)
	}
	if err := sameConfig(rec.Config, c); err != nil {
		return false, fmt.Errorf("train: %s holds another run: %w; use another --out", o.Out, err)
	}
	if !o.Resume {
		return false, fmt.Errorf("train: %s already holds this run; pass --resume to continue it, or use another --out", o.Out)
	}
	if rec.Threads != o.Threads {
		fmt.Fprintf(logOr(o.Log), "train: warning: the run used %d threads, now %d: results may differ in the last bits\n", rec.Threads, o.Threads)
	}
	if was, now := max(rec.Workers, 1), workersOf(o); was != now {
		fmt.Fprintf(logOr(o.Log), "train: warning: the run split its steps over %d workers, now %d: results may differ in the last bits\n", was, now)
	}
	if now := torchx.BLASCore(); rec.BLAS != "" && rec.BLAS != now {
		fmt.Fprintf(logOr(o.Log), "train: warning: the run used OpenBLAS's %s kernels, now %s (%s=%s gives the same): results may differ in the last bits\n",
			rec.BLAS, now, torchx.BLASCoreEnv, rec.BLAS)
	}
	return false, nil
}

func logOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// sameConfig explains the first difference between two configurations.
func sameConfig(was, now Config) error {
	a, _ := json.Marshal(was)
	b, _ := json.Marshal(now)
	if string(a) == string(b) {
		return nil
	}
	var ma, mb map[string]any
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	for k, v := range ma {
		if fmt.Sprint(v) != fmt.Sprint(mb[k]) {
			return fmt.Errorf("it was trained with %s = %v, not %v", k, v, mb[k])
		}
	}
	return errors.New("its configuration differs")
}

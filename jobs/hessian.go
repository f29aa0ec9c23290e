package jobs

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"

	"github.com/sugarme/gotch"
	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// HessianOptions are the settings of a Hessian job: everything that decides
// its numbers (results.HessianSettings records them), and Retain.
type HessianOptions struct {
	// Batches minibatches of BatchSize training examples, drawn with Seed;
	// the top K eigenvalues of each one's Hessian.
	Batches, BatchSize, K int
	// Method is "power" (PyHessian's power iteration with deflation) or
	// "lanczos"; Tol and MaxIter its tolerance and cap (0: defaults).
	Method  string
	Tol     float64
	MaxIter int
	Seed    uint64
	// WeightDecay is the L2 coefficient added to the loss; nil takes each
	// checkpoint's training weight decay (meta.Training), which is
	// meta.DefaultWeightDecay when it records none.
	WeightDecay *float64
	// Augment draws the minibatches with each checkpoint's training
	// augmentation.
	Augment bool
	// Trace, Density and Full ask for the Hutchinson trace (at most
	// TraceSamples vectors), the SLQ density (SLQSteps steps of
	// SLQVectors vectors) and the top K eigenvalues of the Hessian of the
	// mean loss over the first FullBatches minibatches (0: all).
	Trace, Density, Full bool
	FullBatches          int
	TraceSamples         int
	SLQSteps, SLQVectors int
	// Retain keeps every minibatch's graph for Trace, Density and Full:
	// faster, memory for all graphs. It does not change the numbers.
	Retain bool
	// Dataset overrides the data set each checkpoint was trained on.
	Dataset string
	// Curvature is the matrix of the minibatch spectra: "hessian" (or ""),
	// "ggn" or "fisher" (analysis.ParseCurvature).
	Curvature string
	// Params, when not empty, restricts the matrix to the parameters whose
	// names match this regular expression (analysis.GroupByPattern), the
	// others held fixed: e.g. "blocks\.3\.attn" or "^layer4\.".
	Params string
}

// Validate checks the options, as *errs.OptionError naming the flag.
func (o HessianOptions) Validate() error {
	switch {
	case o.Batches < 1:
		return errs.Optionf("--batches %d: want at least 1", o.Batches)
	case o.BatchSize < 1:
		return errs.Optionf("--batch-size %d: want at least 1", o.BatchSize)
	case o.K < 1:
		return errs.Optionf("--k %d: want at least 1", o.K)
	case o.Method != "power" && o.Method != "lanczos":
		return errs.Optionf("--method %q: want power or lanczos", o.Method)
	case math.IsNaN(o.Tol) || math.IsInf(o.Tol, 0) || o.Tol < 0:
		return errs.Optionf("--tol %v: want a finite number >= 0 (0: the method's default)", o.Tol)
	case o.MaxIter < 0:
		return errs.Optionf("--max-iter %d: want >= 0 (0: the method's default)", o.MaxIter)
	case o.Method == "lanczos" && o.MaxIter > 0 && o.MaxIter < o.K:
		return errs.Optionf("--max-iter %d: Lanczos needs at least --k = %d steps", o.MaxIter, o.K)
	case o.WeightDecay != nil && (math.IsNaN(*o.WeightDecay) || math.IsInf(*o.WeightDecay, 0) || *o.WeightDecay < 0):
		return errs.Optionf("--wd %v: want a finite number >= 0", *o.WeightDecay)
	case o.FullBatches < 0 || o.FullBatches > o.Batches:
		return errs.Optionf("--full-batches %d: want 0 (all) to --batches = %d", o.FullBatches, o.Batches)
	case o.Trace && o.TraceSamples < 2:
		return errs.Optionf("--trace-samples %d: want at least 2", o.TraceSamples)
	case o.Density && (o.SLQSteps < 1 || o.SLQVectors < 1):
		return errs.Optionf("--slq-steps %d, --slq-vectors %d: want at least 1 each", o.SLQSteps, o.SLQVectors)
	}
	c, err := analysis.ParseCurvature(o.Curvature)
	if err != nil && o.Curvature != "" {
		return errs.Optionf("--curvature %q: want hessian, ggn or fisher", o.Curvature)
	}
	if o.Params != "" {
		if _, err := regexp.Compile(o.Params); err != nil {
			return errs.Optionf("--params %q: %v", o.Params, err)
		}
	}
	if (o.Trace || o.Density || o.Full) && (c != analysis.CurvatureHessian || o.Params != "") {
		return errs.Optionf("--trace, --density and --full take the whole Hessian: not with --curvature %s or --params", o.Curvature)
	}
	return nil
}

// Hessian computes minibatch Hessian spectra (and on request trace,
// density and top-k of the Hessian over many minibatches) of checkpoints.
// Outputs in Env.Out: hessian.json (results.Hessian, written last),
// eigenvalues.csv, spectrum.png, density.png (with Density), summary.html,
// and the journals.
type Hessian struct {
	Env
	// NoResume refuses to touch an existing journal instead of resuming
	// it.
	NoResume bool
	// Workers computes that many minibatch spectra at once, each on a
	// copy of the model on an OS thread of its own with one libtorch
	// thread (0 or 1: one at a time at the process's thread count; on a
	// GPU always one at a time). The trace, density and top-k over many
	// minibatches run afterwards on as many workers, the minibatches
	// dealt to them in turn (analysis.HessianOptions.Workers). A batch's
	// eigenvalues do not depend on Workers, only, in the last bits, on
	// the thread count it ran with; the estimates over many minibatches
	// depend on Workers in the last bits (the sums are grouped by worker).
	Workers int
}

// dataWorkers returns the number of workers the Hessian over the first
// batches minibatches (trace, density, full top-k) is split over: 0 when
// it is not split (analysis.NewDataHessian deals at most one worker per
// minibatch).
func (j *Hessian) dataWorkers(batches int) int {
	if j.Workers <= 1 || j.Device != gotch.CPU || batches <= 1 {
		return 0
	}
	return min(j.Workers, batches)
}

// hessianJournals names the Hessian job's journals.
var hessianJournals = journal.Names{Single: "journal.jsonl", Shard: "journal-shard-%d-of-%d.jsonl"}

// hessianJob describes the Hessian job's journals for finishing and merging.
var hessianJob = journaledJob{tool: "hessian", what: "the Hessian job", header: results.HessianTool, format: results.HessianFormat, names: hessianJournals}

// Kinds of journal records.
const (
	kindBatch   = "batch"
	kindTrace   = "trace"
	kindDensity = "density"
	kindFull    = "full"
)

// hessianRecord is one journal line: a finished piece of work.
type hessianRecord struct {
	Kind    string                  `json:"kind"`
	Ckpt    int                     `json:"ckpt"`
	Batch   *results.HessianBatch   `json:"batch,omitempty"`
	Trace   *results.HessianTrace   `json:"trace,omitempty"`
	Density *results.HessianDensity `json:"density,omitempty"`
	Full    *results.HessianTopK    `json:"full,omitempty"`
}

// key identifies a record's work item.
func (r hessianRecord) key() string {
	if r.Kind == kindBatch && r.Batch != nil {
		return batchKey(r.Ckpt, r.Batch.Batch)
	}
	return fmt.Sprintf("%d/%s", r.Ckpt, r.Kind)
}

func batchKey(ckpt, b int) string { return fmt.Sprintf("%d/%s/%d", ckpt, kindBatch, b) }

// Seeds of the work on the Hessian over all minibatches, apart from the
// minibatches' own (hessian.BatchSeed(seed, b) for b >= 0).
const (
	seedTrace   = -1
	seedDensity = -2
	seedFull    = -3
)

// hessianInput is a checkpoint ready to be worked on.
type hessianInput struct {
	hdr           results.HessianCheckpoint
	path, weights string // sidecar and weights files
	pool          []int
	d             *data.Dataset
}

// solver returns the eigenvalue solver the settings ask for.
func solver(h results.HessianSettings) hessian.Solver {
	if h.Method == "lanczos" {
		return &hessian.LanczosSettings{Tol: h.Tol, MaxSteps: h.MaxIter}
	}
	return &hessian.PowerSettings{Tol: h.Tol, MaxIter: h.MaxIter}
}

// Journal returns the journal of this job's shard in Env.Out.
func (j *Hessian) Journal() string { return hessianJournals.Path(j.Out, j.shard()) }

// Run computes the spectra of the checkpoints refs name. It checks every
// checkpoint, data set and the memory the eigensolvers need before any
// work, resumes from the journal in Env.Out, and writes the outputs
// (returning hessian.json's content) unless it is one shard of a sharded
// run: then it returns nil, and Merge writes them once every shard is
// done. Cancelling ctx stops it at the next Hessian-vector product with an
// error for which Interrupted is true; the finished minibatches are in the
// journal.
func (j *Hessian) Run(ctx context.Context, refs []meta.Ref, opt HessianOptions) (*results.Hessian, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	inputs, hdr, err := j.prepare(refs, opt)
	if err != nil {
		return nil, err
	}
	if err := checkHessianMemory(hdr, memAvailable); err != nil {
		return nil, err
	}
	if err := prepareOut(j.Out); err != nil {
		return nil, err
	}
	jpath := j.Journal()
	if j.NoResume {
		if _, err := os.Stat(jpath); err == nil {
			return nil, errs.Optionf("--resume=false: %s already exists; remove it or choose another --out", jpath)
		}
	}
	jw, done, err := journal.Open[hessianRecord](jpath, hdr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = jw.Close() }()
	w := &hessianWork{j: j, hdr: hdr, opt: opt, jw: jw, have: map[string]bool{}}
	for _, r := range done {
		w.have[r.key()] = true
	}
	if err := w.all(ctx, inputs); err != nil {
		return nil, err
	}
	if err := jw.Close(); err != nil {
		return nil, err
	}
	if j.sharded() {
		return nil, nil
	}
	recs, p, err := finishRun[hessianRecord](&j.Env, hessianJob, jpath, hdr, hdr.Seed, inputs)
	if err != nil {
		return nil, err
	}
	if opt.Trace || opt.Density || opt.Full {
		p.Workers = j.dataWorkers(hdr.FullBatches) // the sums over minibatches were grouped by worker
	}
	return writeHessian(j.Out, hdr, recs, p)
}

// Merge combines the shard journals of a sharded run in dir (or the
// journals given) into the outputs of a single run, number for number,
// written into dir.
func (j *Hessian) Merge(dir string, journals ...string) (*results.Hessian, error) {
	var hdr results.HessianSettings
	recs, p, err := mergeShards[hessianRecord](&j.Env, hessianJob, dir, journals, &hdr,
		func() (string, int, uint64) { return hdr.Tool, hdr.Format, hdr.Seed })
	if err != nil {
		return nil, err
	}
	return writeHessian(dir, hdr, recs, p)
}

// prepare reads and checks every checkpoint and data set before any work,
// and returns them with the run's settings.
func (j *Hessian) prepare(refs []meta.Ref, o HessianOptions) ([]*hessianInput, results.HessianSettings, error) {
	hdr := results.HessianSettings{Tool: results.HessianTool, Format: results.HessianFormat, Batches: o.Batches,
		BatchSize: o.BatchSize, K: o.K, Method: o.Method, Tol: o.Tol, MaxIter: o.MaxIter, Seed: o.Seed, Augment: o.Augment,
		Params: o.Params}
	if c, _ := analysis.ParseCurvature(o.Curvature); c != analysis.CurvatureHessian {
		hdr.Curvature = c.String()
	}
	if o.FullBatches == 0 {
		o.FullBatches = o.Batches
	}
	if o.Trace || o.Density || o.Full {
		hdr.Trace, hdr.Density, hdr.Full, hdr.FullBatches = o.Trace, o.Density, o.Full, o.FullBatches
		if o.Trace {
			hdr.TraceSamples = o.TraceSamples
		}
		if o.Density {
			hdr.SLQSteps, hdr.SLQVectors = o.SLQSteps, o.SLQVectors
		}
	}
	rs, err := resolve(refs)
	if err != nil {
		return nil, hdr, err
	}
	sets := &datasets{dir: j.DataDir}
	inputs := make([]*hessianInput, len(rs))
	for i, r := range rs {
		if inputs[i], err = hessianCheckpoint(r, o, sets); err != nil {
			return nil, hdr, err
		}
		if err := checkTorchScript(r, j.Device, inputs[i].d, true); err != nil {
			return nil, hdr, err
		}
		hdr.Checkpoints = append(hdr.Checkpoints, inputs[i].hdr)
	}
	return inputs, hdr, nil
}

// hessianCheckpoint checks one checkpoint and its data.
func hessianCheckpoint(r meta.Resolved, o HessianOptions, sets *datasets) (*hessianInput, error) {
	if err := knownModel(r); err != nil {
		return nil, err
	}
	if r.WeightsSHA256 == "" {
		return nil, fmt.Errorf("checkpoint %s: no weights hash recorded", r.Sidecar)
	}
	if int64(o.K) > r.Params {
		return nil, errs.Optionf("--k %d is larger than the %d trainable parameters of %s", o.K, r.Params, r.Sidecar)
	}
	tr := r.Training()
	in := &hessianInput{path: r.Sidecar, weights: r.Weights}
	h := &in.hdr
	h.Label, h.Path, h.Model, h.Phase, h.Step = r.Label, r.Sidecar, r.Spec.Name, r.Phase, r.Step
	h.WeightsSHA256, h.Params = r.WeightsSHA256, r.Params
	switch {
	case o.WeightDecay != nil:
		h.WeightDecay, h.WeightDecaySource = *o.WeightDecay, "flag"
	case tr.WeightDecayRecorded:
		h.WeightDecay, h.WeightDecaySource = tr.WeightDecay, "checkpoint"
	default:
		h.WeightDecay, h.WeightDecaySource = meta.DefaultWeightDecay, "none recorded"
	}
	var err error
	if in.d, h.Dataset, err = sets.dataOf(r, o.Dataset, data.Train); err != nil {
		return nil, err
	}
	if o.Augment {
		if tr.Augment == nil {
			return nil, fmt.Errorf("--augment: checkpoint %s records no training recipe to take the augmentation from", r.Sidecar)
		}
		h.Augment = *tr.Augment
	}
	in.pool = in.d.Indices()
	if tr.Dataset == h.Dataset && tr.Fraction > 0 && tr.Fraction < 1 {
		if in.pool, err = in.d.Subset(tr.Fraction, tr.Seed); err != nil {
			return nil, fmt.Errorf("checkpoint %s: training subset: %w", r.Sidecar, err)
		}
	}
	h.Examples = len(in.pool)
	// Fails now, not after hours, on an empty or too small data set.
	if _, err := analysis.NewMinibatches(in.d, in.pool, o.BatchSize, o.Batches, o.Seed, h.Augment); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", r.Sidecar, err)
	}
	return in, nil
}

// hessianWork is a run under way: the journal and what it holds.
type hessianWork struct {
	j    *Hessian
	hdr  results.HessianSettings
	opt  HessianOptions
	jw   *journal.Writer
	have map[string]bool
}

// all computes every checkpoint's share of the work.
func (w *hessianWork) all(ctx context.Context, inputs []*hessianInput) error {
	sh := w.j.shard()
	owned, skipped := 0, 0
	for ci := range inputs {
		for b := range w.hdr.Batches {
			if sh.Owns(b) {
				owned++
				if w.have[batchKey(ci, b)] {
					skipped++
				}
			}
		}
	}
	log := w.j.log()
	if skipped > 0 {
		fmt.Fprintf(log, "hessian: resuming from %s: %d of %d minibatches already done\n", w.jw.Path(), skipped, owned)
	}
	bar := progress.New(log, "hessian", "batches", owned, skipped)
	for ci, in := range inputs {
		if err := w.checkpoint(ctx, ci, in, bar); err != nil {
			bar.Finish("stopped")
			if Interrupted(err) {
				fmt.Fprintf(log, "hessian: interrupted; finished work is in %s: run the same command again to resume\n", w.jw.Path())
			}
			return err
		}
	}
	bar.Finish("done")
	return nil
}

// files returns the checkpoint's files, as its outputs' provenance names
// them.
func (in *hessianInput) files() []string { return []string{in.path, in.weights} }

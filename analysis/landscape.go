package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// LandscapeParams returns every tensor of m, parameters and buffers,
// sorted by name, as landscape parameters: float64 copies of the values
// (exact, the model holds float32), Buffer set on batch-norm running
// statistics. Zero is left unset: apply a rule (LandscapeZeroRule).
func LandscapeParams(m models.Model) ([]landscape.Param, error) {
	ps := sortedParams(m)
	out := make([]landscape.Param, len(ps))
	for i, p := range ps {
		shape := make([]int, len(p.Shape))
		for k, s := range p.Shape {
			shape[k] = int(s)
		}
		v, err := torchx.Values[float64](p.Tensor)
		if err != nil {
			return nil, fmt.Errorf("analysis: landscape: read %s: %w", p.Name, err)
		}
		out[i] = landscape.Param{Name: p.Name, Shape: shape, Data: v, Buffer: !p.Trainable()}
	}
	return out, nil
}

// sortedParams returns m's tensors sorted by name (Model.Params promises it;
// a user's model may not keep the promise, and the order is the coordinate
// system of every direction).
func sortedParams(m models.Model) []models.Param {
	ps := m.Params()
	slices.SortStableFunc(ps, byName)
	return ps
}

// byName orders parameters by name.
func byName(a, b models.Param) int { return strings.Compare(a.Name, b.Name) }

// positionPatterns are the entries of landscape.DefaultZeroPatterns that
// name position tables (the rest name class tokens).
var positionPatterns = map[string]bool{
	"pos_embed": true, "pos_emb": true, "position_embedding": true, "relative_position": true, "rel_pos": true,
}

// LandscapeZeroRule returns the rule that picks the tensors kept still on
// m's landscape. With both flags false it is the paper's rule, the zero
// landscape.ZeroRule (tensors of rank below 2 and the position and
// class-token tables of landscape.DefaultZeroPatterns), plus every tensor
// that m itself marks as a position embedding, relative-position table or
// token (models.ParamPosEmbed, ParamRelPos, ParamToken), whatever its
// name. move1D lets the rank-0 and rank-1 tensors (biases, norm scales and
// shifts) move; movePos lets the position embeddings and relative-position
// tables move. Class tokens always stay still. Running statistics are
// Buffers and never get random directions either way.
func LandscapeZeroRule(m models.Model, move1D, movePos bool) landscape.ZeroRule {
	var pats []string
	for _, p := range landscape.DefaultZeroPatterns {
		if movePos && positionPatterns[p] {
			continue
		}
		pats = append(pats, p)
	}
	for _, p := range sortedParams(m) {
		switch p.Kind {
		case models.ParamPosEmbed, models.ParamRelPos:
			if movePos {
				continue
			}
		case models.ParamToken:
		default:
			continue
		}
		pats = append(pats, "^"+regexp.QuoteMeta(p.Name)+"$")
	}
	if pats == nil {
		pats = []string{}
	}
	return landscape.ZeroRule{Move1D: move1D, Patterns: pats}
}

// LandscapeZeroDescription lists what a rule keeps still, for
// landscape.DirSpec.Zero: "rank<2" unless Move1D, then the patterns.
func LandscapeZeroDescription(r landscape.ZeroRule) []string {
	var out []string
	if !r.Move1D {
		out = append(out, "rank<2")
	}
	pats := r.Patterns
	if pats == nil {
		pats = landscape.DefaultZeroPatterns
	}
	return append(out, pats...)
}

// LandscapeSubset returns the sorted indices of a seeded, class-stratified
// subset of exactly n examples of d (all of them when n >= d.Len()): the
// data.Dataset.Subset of the smallest fraction that gives at least n
// examples, then as many examples as that gives too many (at most one per
// class) dropped at random, from the same seed.
func LandscapeSubset(d *data.Dataset, n int, seed uint64) ([]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("analysis: landscape: subset of %d examples: want at least 1", n)
	}
	if n >= d.Len() {
		return d.Indices(), nil
	}
	counts := d.ClassCounts()
	size := func(f float64) int {
		s := 0
		for _, c := range counts {
			if c > 0 {
				s += max(1, int(math.Round(f*float64(c))))
			}
		}
		return s
	}
	// The subset's size grows with the fraction: bisect for the least
	// fraction that reaches n.
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if size(mid) >= n {
			hi = mid
		} else {
			lo = mid
		}
	}
	idx, err := d.Subset(hi, seed)
	if err != nil {
		return nil, fmt.Errorf("analysis: landscape: %w", err)
	}
	if extra := len(idx) - n; extra > 0 {
		r := rand.New(rand.NewPCG(seed, 0x6c616e64)) // "land"
		for range extra {
			k := r.IntN(len(idx))
			idx = append(idx[:k], idx[k+1:]...)
		}
	}
	return idx, nil
}

// LandscapeOptions configure a LandscapeEvaluator. The zero value, or a
// nil pointer, evaluates plain images in batches of 50 on one worker.
type LandscapeOptions struct {
	// Batch is the evaluation batch size (default 50: on CPU, small
	// batches run faster per image than large ones, whose activations
	// leave the caches). The numbers depend on it (a batch's mean is taken
	// in float32): keep it fixed across runs that are compared or merged.
	Batch int
	// Augment is applied once, when the batches are made, with generators
	// drawn from AugmentSeed and the batch number, so that every grid
	// point sees exactly the same augmented images (the paper measures the
	// landscape on augmented training data). The zero value is none. With
	// mixup, CutMix or label smoothing the NLL is taken against the soft
	// targets (train.Loss) and the accuracy against each image's own label.
	Augment     data.Augment
	AugmentSeed uint64
	// Workers is the number of model replicas that evaluate a point's
	// batches concurrently, each on its own OS thread (default 1). Each
	// batch's numbers depend only on the batch and on ThreadsPerWorker, and
	// are summed in batch order, so the results do not depend on Workers.
	Workers int
	// ThreadsPerWorker is libtorch's intra-op thread count on each worker
	// (default 1). Results may differ in the last bits between counts.
	ThreadsPerWorker int
	// ClampBuffers keeps the Buffer tensors (running statistics) on the
	// segment between the ends of a line between checkpoints: they follow
	// w0 + x·d1 + y·d2 with x and y clamped to [0, 1], so that both
	// checkpoints are exact at 0 and 1 and, beyond them, the statistics of
	// the nearer one are used. Linearly extrapolated, a running variance
	// soon turns negative and every loss becomes NaN. It changes nothing
	// for directions that are zero on buffers (random ones).
	ClampBuffers bool
	// Replica makes a model of the same architecture for each worker after
	// the first (the adapter copies the weights into it). The default,
	// models.Rebuild on m's device, works for every preset of package
	// models and for TorchScript models.
	Replica func() (models.Model, error)
}

// defaults returns the options with zero fields filled and checks them.
func (o *LandscapeOptions) defaults() (LandscapeOptions, error) {
	var v LandscapeOptions
	if o != nil {
		v = *o
	}
	if v.Batch == 0 {
		v.Batch = 50
	}
	if v.Workers == 0 {
		v.Workers = 1
	}
	if v.ThreadsPerWorker == 0 {
		v.ThreadsPerWorker = 1
	}
	switch {
	case v.Batch < 1:
		return v, fmt.Errorf("analysis: landscape: batch size %d: want at least 1", v.Batch)
	case v.Workers < 1:
		return v, fmt.Errorf("analysis: landscape: %d workers: want at least 1", v.Workers)
	case v.ThreadsPerWorker < 1:
		return v, fmt.Errorf("analysis: landscape: %d threads per worker: want at least 1", v.ThreadsPerWorker)
	}
	if err := v.Augment.Validate(); err != nil {
		return v, fmt.Errorf("analysis: landscape: %w", err)
	}
	return v, nil
}

// LandscapeEvaluator is the landscape.Evaluator of a model on a fixed set
// of examples. It moves the model's own weights in place: at each point it
// writes w0 + x*d1 + y*d2 (float64, rounded once to float32) into the
// tensors that move, with torchx.CopyIn, without autograd history and
// without rebuilding the model or reloading a state dict, then runs the
// fixed batches in eval mode without gradients. Restore (and Close) write
// the model's own weights, as they were when the evaluator was made, back
// bit for bit.
//
// Its methods must not be called concurrently. Evaluate may be called from
// any goroutine: the torch work runs on the workers' own locked OS threads.
type LandscapeEvaluator struct {
	surface *landscape.Surface
	opt     LandscapeOptions
	moving  []int // indices of the tensors whose directions are not all zero
	n       int   // number of examples
	batches []*torchdata.Batch
	sizes   []int
	workers []*lsWorker
	buf     [][]float64
	dirs    []landscape.Direction
	saved   [][]float32    // the model's moving tensors as they were, by tensor index
	owned   []models.Model // replicas made here, closed by Close
	moved   bool           // the weights may differ from w0
	closed  bool
}

// lsWorker is one replica and the goroutine that runs it.
type lsWorker struct {
	tensors []*ts.Tensor // the replica's tensors, in the origin's order
	jobs    chan lsJob
}

// lsJob is a point's work for one worker: write weights, then take
// batches from next until none are left, recording each batch's mean NLL
// and correct count by batch number.
type lsJob struct {
	ctx     context.Context
	weights [][]float64 // by tensor index; nil entries are skipped
	saved   [][]float32 // the same, to restore
	eval    bool
	next    *atomic.Int64
	nll     []float64
	correct []int
	done    chan<- error
}

// NewLandscapeEvaluator prepares m for the landscape through origin along
// the directions (one for a line, two for a plane), on the examples of d at
// indices. origin lists m's tensors by name and shape as LandscapeParams
// returns them, with the still ones marked (a ZeroRule), and the
// directions are made for it. Its values are usually m's current weights
// (then the point (0, 0) is the model itself), but need not be: the line
// from another checkpoint a to m starts at a's weights (origin a,
// direction m - a). The batches are made once, as tensors, and kept. Close
// the evaluator when done: it writes m's weights back, stops the workers
// and frees what it made; m stays the caller's.
func NewLandscapeEvaluator(m models.Model, d *data.Dataset, indices []int, origin []landscape.Param, dirs []landscape.Direction, opt *LandscapeOptions) (*LandscapeEvaluator, error) {
	o, err := opt.defaults()
	if err != nil {
		return nil, err
	}
	if len(indices) == 0 {
		return nil, errors.New("analysis: landscape: no examples to evaluate on")
	}
	s, err := landscape.NewSurface(origin, dirs...)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	ps := sortedParams(m)
	if err := checkOrigin(ps, origin); err != nil {
		return nil, err
	}
	e := &LandscapeEvaluator{surface: s, opt: o, n: len(indices), dirs: dirs}
	for i := range origin {
		for _, dir := range dirs {
			if slices.ContainsFunc(dir[i], func(v float64) bool { return v != 0 }) {
				e.moving = append(e.moving, i)
				break
			}
		}
	}
	for _, i := range e.moving {
		if e.saved == nil {
			e.saved = make([][]float32, len(origin))
		}
		if e.saved[i], err = torchx.Values[float32](ps[i].Tensor); err != nil {
			return nil, fmt.Errorf("analysis: landscape: read %s: %w", ps[i].Name, err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			e.free()
		}
	}()
	if err := e.makeBatches(d, indices); err != nil {
		return nil, err
	}
	models := []models.Model{m}
	for range o.Workers - 1 {
		r, err := e.replica(m)
		if err != nil {
			return nil, err
		}
		models = append(models, r)
	}
	for _, rm := range models {
		w := &lsWorker{jobs: make(chan lsJob)}
		for _, p := range sortedParams(rm) {
			w.tensors = append(w.tensors, p.Tensor)
		}
		if len(w.tensors) != len(origin) {
			return nil, fmt.Errorf("analysis: landscape: a replica has %d tensors, the model %d", len(w.tensors), len(origin))
		}
		started := make(chan error, 1)
		go w.run(rm, e.batches, e.sizes, o.ThreadsPerWorker, started)
		if err := <-started; err != nil {
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	ok = true
	return e, nil
}

// checkOrigin checks that origin lists m's tensors (ps) by name, shape and
// kind (Buffer on exactly the buffers).
func checkOrigin(ps []models.Param, origin []landscape.Param) error {
	if len(ps) != len(origin) {
		return fmt.Errorf("analysis: landscape: the origin has %d tensors, the model %d", len(origin), len(ps))
	}
	for i, p := range ps {
		o := &origin[i]
		if o.Name != p.Name {
			return fmt.Errorf("analysis: landscape: origin tensor %d is %q, the model's %q", i, o.Name, p.Name)
		}
		same := len(o.Shape) == len(p.Shape)
		for k := 0; same && k < len(o.Shape); k++ {
			same = int64(o.Shape[k]) == p.Shape[k]
		}
		if !same {
			return fmt.Errorf("analysis: landscape: %s has shape %v in the origin, %v in the model", p.Name, o.Shape, p.Shape)
		}
		if o.Buffer == p.Trainable() {
			return fmt.Errorf("analysis: landscape: %s: Buffer is %v in the origin, but the model says trainable %v", p.Name, o.Buffer, p.Trainable())
		}
	}
	return nil
}

// makeBatches builds the fixed batches: consecutive runs of indices of the
// batch size, augmented once if asked.
func (e *LandscapeEvaluator) makeBatches(d *data.Dataset, indices []int) error {
	smp, err := data.Sequential(indices, e.opt.Batch)
	if err != nil {
		return fmt.Errorf("analysis: landscape: %w", err)
	}
	for k, idx := range smp.Epoch(0).All() {
		var r *rand.Rand
		if e.opt.Augment != (data.Augment{}) {
			r = rand.New(rand.NewPCG(e.opt.AugmentSeed, uint64(k)))
		}
		b, err := torchdata.NewBatch(d, idx, e.opt.Augment, r)
		if err != nil {
			return fmt.Errorf("analysis: landscape: batch %d: %w", k, err)
		}
		e.batches = append(e.batches, b)
		e.sizes = append(e.sizes, len(idx))
	}
	return nil
}

// replica makes a worker's copy of m with m's weights.
func (e *LandscapeEvaluator) replica(m models.Model) (models.Model, error) {
	r, err := models.Replicate(m, e.opt.Replica)
	if err != nil {
		return nil, fmt.Errorf("analysis: landscape: %w", err)
	}
	e.owned = append(e.owned, r)
	return r, nil
}

// run is a worker's goroutine: it locks an OS thread for good (it sets
// that thread's grad mode and thread count; the thread ends with the
// goroutine), then serves jobs until the channel closes.
func (w *lsWorker) run(m models.Model, batches []*torchdata.Batch, sizes []int, threads int, started chan<- error) {
	if err := torchx.WorkerThread(false, threads); err != nil {
		started <- fmt.Errorf("analysis: landscape: %w", err)
		return
	}
	started <- nil
	for j := range w.jobs {
		j.done <- w.do(m, j, batches)
	}
}

// do runs one job.
func (w *lsWorker) do(m models.Model, j lsJob, batches []*torchdata.Batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("analysis: landscape: worker panicked: %v", r)
		}
	}()
	for i, t := range w.tensors {
		var err error
		switch {
		case j.weights != nil && j.weights[i] != nil:
			err = torchx.CopyIn(t, j.weights[i])
		case j.saved != nil && j.saved[i] != nil:
			err = torchx.CopyIn(t, j.saved[i])
		}
		if err != nil {
			return fmt.Errorf("analysis: landscape: set weights: %w", err)
		}
	}
	if !j.eval {
		return nil
	}
	for {
		k := int(j.next.Add(1) - 1)
		if k >= len(batches) {
			return nil
		}
		if err := j.ctx.Err(); err != nil {
			return err
		}
		nll, correct, err := evalBatch(m, batches[k])
		if err != nil {
			return fmt.Errorf("analysis: landscape: batch %d: %w", k, err)
		}
		j.nll[k], j.correct[k] = nll, correct
	}
}

// evalBatch returns a batch's mean NLL and number of correct predictions
// (eval mode; the caller's thread has grad mode off).
func evalBatch(m models.Model, b *torchdata.Batch) (nll float64, correct int, err error) {
	logits, err := m.Forward(b.Images, models.Eval, nil)
	if err != nil {
		return 0, 0, err
	}
	defer torchx.DropTo(&err, logits)
	l, err := train.Loss(logits, b)
	if err != nil {
		return 0, 0, err
	}
	nll, err = train.Scalar(l)
	torchx.DropTo(&err, l)
	if err != nil {
		return 0, 0, err
	}
	correct, err = train.Correct(logits, b)
	return nll, correct, err
}

// dispatch gives every worker a job and waits for all of them. weights or
// saved (by tensor index, nil entries skipped) are written first when not
// nil; the batches are evaluated when eval is set. during runs on the
// calling goroutine while the workers work.
func (e *LandscapeEvaluator) dispatch(ctx context.Context, weights [][]float64, saved [][]float32, eval bool, during func()) ([]float64, []int, error) {
	if e.closed {
		return nil, nil, errors.New("analysis: landscape: evaluator is closed")
	}
	var next atomic.Int64
	nll := make([]float64, len(e.batches))
	correct := make([]int, len(e.batches))
	done := make(chan error, len(e.workers))
	for _, w := range e.workers {
		w.jobs <- lsJob{ctx: ctx, weights: weights, saved: saved, eval: eval, next: &next, nll: nll, correct: correct, done: done}
	}
	if during != nil {
		during()
	}
	var first error
	for range e.workers {
		if err := <-done; err != nil && first == nil {
			first = err
		}
	}
	return nll, correct, first
}

// Evaluate implements landscape.Evaluator: it moves every replica to
// (x, y), evaluates the fixed batches and returns the mean NLL over the
// examples, the accuracy, the official l1 and l2 and Σ‖w‖² of the moved
// weights (landscape.Surface.NormsSq). The weights stay at (x, y) until the next
// call, Restore or Close. Non-finite losses are returned as data.
func (e *LandscapeEvaluator) Evaluate(ctx context.Context, x, y float64) (landscape.Metrics, error) {
	if e.closed {
		return landscape.Metrics{}, errors.New("analysis: landscape: evaluator is closed")
	}
	e.buf = e.surface.At(e.buf, x, y)
	weights := make([][]float64, len(e.buf))
	for _, i := range e.moving {
		weights[i] = e.buf[i]
	}
	if e.opt.ClampBuffers && (x < 0 || x > 1 || y < 0 || y > 1) {
		cx, cy := math.Min(math.Max(x, 0), 1), math.Min(math.Max(y, 0), 1)
		origin := e.surface.Origin()
		for _, i := range e.moving {
			if !origin[i].Buffer {
				continue
			}
			w := weights[i]
			for j := range w {
				w[j] = origin[i].Data[j] + cx*e.dirs[0][i][j]
				if len(e.dirs) > 1 {
					w[j] += cy * e.dirs[1][i][j]
				}
			}
		}
	}
	e.moved = true
	var l1, l2, sq float64
	nll, correct, err := e.dispatch(ctx, weights, nil, true, func() { l1, l2, sq = e.surface.NormsSq(x, y) })
	if err != nil {
		return landscape.Metrics{}, err
	}
	m := e.reduce(nll, correct, l1, l2)
	m.SqNorm = sq
	return m, nil
}

// reduce sums the batches' results in batch order.
func (e *LandscapeEvaluator) reduce(nll []float64, correct []int, l1, l2 float64) landscape.Metrics {
	var sum float64
	var c int
	for k := range nll {
		sum += nll[k] * float64(e.sizes[k])
		c += correct[k]
	}
	m := landscape.Metrics{NLL: sum / float64(e.n), Acc: float64(c) / float64(e.n), L1: l1, L2: l2}
	if math.IsNaN(m.NLL) {
		// NaN logits have no meaningful argmax.
		m.Acc = math.NaN()
	}
	return m
}

// Restore writes the model's weights as they were when the evaluator was
// made back into the model (and every replica), bit for bit.
func (e *LandscapeEvaluator) Restore() error {
	if !e.moved {
		return nil
	}
	if _, _, err := e.dispatch(context.Background(), nil, e.saved, false, nil); err != nil {
		return err
	}
	e.moved = false
	return nil
}

// Surface returns the plane (or line) the evaluator moves along.
func (e *LandscapeEvaluator) Surface() *landscape.Surface { return e.surface }

// Examples returns the number of examples evaluated at each point.
func (e *LandscapeEvaluator) Examples() int { return e.n }

// Batches returns the number of fixed batches.
func (e *LandscapeEvaluator) Batches() int { return len(e.batches) }

// Moving returns the names of the tensors that move on the landscape
// (those whose directions are not all zero).
func (e *LandscapeEvaluator) Moving() []string {
	origin := e.surface.Origin()
	out := make([]string, len(e.moving))
	for k, i := range e.moving {
		out[k] = origin[i].Name
	}
	return out
}

// Close restores the model's weights, stops the workers and frees the
// batches and replicas. The model passed to NewLandscapeEvaluator stays
// open. Close is safe to call more than once; it returns the restore's
// error, if any.
func (e *LandscapeEvaluator) Close() error {
	if e.closed {
		return nil
	}
	err := e.Restore()
	e.free()
	if err != nil {
		return fmt.Errorf("analysis: landscape: restore the weights: %w", err)
	}
	return nil
}

// free stops the workers and drops what the evaluator made.
func (e *LandscapeEvaluator) free() {
	for _, w := range e.workers {
		close(w.jobs)
	}
	e.workers = nil
	for _, b := range e.batches {
		b.Close()
	}
	e.batches = nil
	for _, r := range e.owned {
		r.Close()
	}
	e.owned = nil
	e.closed = true
}

// Inputs returns LandscapeInputs of the evaluator's examples and options.
func (e *LandscapeEvaluator) Inputs() map[string]string { return landscapeInputs(e.n, e.opt) }

// LandscapeInputs describes the evaluation settings for a landscape.Spec's
// Inputs: everything in opt and the number of examples that determines
// the numbers (not Workers: the results do not depend on it). The caller
// adds the model, checkpoint, data set and subset.
func LandscapeInputs(examples int, opt *LandscapeOptions) (map[string]string, error) {
	o, err := opt.defaults()
	if err != nil {
		return nil, err
	}
	return landscapeInputs(examples, o), nil
}

func landscapeInputs(examples int, o LandscapeOptions) map[string]string {
	aug := "none"
	if o.Augment != (data.Augment{}) {
		a := o.Augment
		aug = fmt.Sprintf("crop_pad=%d flip=%t mixup=%g cutmix=%g smoothing=%g seed=%d",
			a.CropPad, a.Flip, a.MixupAlpha, a.CutMixAlpha, a.Smoothing, o.AugmentSeed)
	}
	in := map[string]string{
		"examples":           strconv.Itoa(examples),
		"batch":              strconv.Itoa(o.Batch),
		"augment":            aug,
		"mode":               "eval, no grad",
		"threads_per_worker": strconv.Itoa(o.ThreadsPerWorker),
	}
	if o.ClampBuffers {
		in["buffers"] = "clamped to the segment [0, 1]"
	}
	return in
}

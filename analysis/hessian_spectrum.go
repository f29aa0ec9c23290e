package analysis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
)

// Minibatches draws the minibatches of the paper's max-eigenvalue spectrum
// from a data set: a seeded shuffle of the examples cut into batches of
// equal size (the last, smaller one of each pass dropped), pass after pass
// when more batches are asked for than one pass holds. Batch b, its
// examples and its augmentation depend only on the seed and b, so any
// subset of batches, in any order, in any process, is the same.
type Minibatches struct {
	d       *data.Dataset
	aug     data.Augment
	sampler *data.Sampler
	count   int
	perPass int
	mu      sync.Mutex // passes is filled on demand; workers share a Minibatches
	passes  map[int]*data.Epoch
}

// NewMinibatches returns count batches of size examples each, drawn from
// the examples of d at indices (nil: every example) with the given seed
// and augmented as aug says (the zero Augment: none). It fails when there
// are fewer examples than one batch needs.
func NewMinibatches(d *data.Dataset, indices []int, size, count int, seed uint64, aug data.Augment) (*Minibatches, error) {
	if d == nil {
		return nil, errors.New("analysis: minibatches of no data set")
	}
	if indices == nil {
		indices = d.Indices()
	}
	switch {
	case len(indices) == 0:
		return nil, fmt.Errorf("analysis: data set %s %v has no examples", d.Info.Name, d.Split)
	case size < 1:
		return nil, fmt.Errorf("analysis: batch size %d is not positive", size)
	case count < 1:
		return nil, fmt.Errorf("analysis: %d minibatches: want at least 1", count)
	case len(indices) < size:
		return nil, fmt.Errorf("analysis: data set %s %v has %d examples, fewer than one batch of %d",
			d.Info.Name, d.Split, len(indices), size)
	}
	if err := aug.Validate(); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	s, err := data.Shuffled(indices, size, seed, true)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	return &Minibatches{d: d, aug: aug, sampler: s, count: count, perPass: s.Batches(), passes: map[int]*data.Epoch{}}, nil
}

// Len returns the number of minibatches. A Minibatches may be used by
// several goroutines at once.
func (mb *Minibatches) Len() int { return mb.count }

// epoch returns the pass holding batch b and b's position in it.
func (mb *Minibatches) epoch(b int) (*data.Epoch, int) {
	if b < 0 || b >= mb.count {
		panic(fmt.Sprintf("analysis: minibatch %d of %d", b, mb.count))
	}
	e := b / mb.perPass
	mb.mu.Lock()
	defer mb.mu.Unlock()
	ep, ok := mb.passes[e]
	if !ok {
		ep = mb.sampler.Epoch(e)
		mb.passes[e] = ep
	}
	return ep, b % mb.perPass
}

// Indices returns the data set indices of batch b (shared: do not modify).
func (mb *Minibatches) Indices(b int) []int {
	ep, k := mb.epoch(b)
	return ep.Batch(k)
}

// Batch returns batch b as tensors, augmented with the generator of its
// own (seed, pass, position). The caller owns it and must Close it.
func (mb *Minibatches) Batch(b int) (*torchdata.Batch, error) {
	ep, k := mb.epoch(b)
	batch, err := torchdata.NewBatch(mb.d, ep.Batch(k), mb.aug, ep.Rand(k))
	if err != nil {
		return nil, fmt.Errorf("analysis: batch %d: %w", b, err)
	}
	return batch, nil
}

// SpectrumOptions configures MaxEigenSpectrum. The zero value, or a nil
// pointer, is the paper's protocol: the top 5 eigenvalues of each
// minibatch's Hessian by power iteration at PyHessian's defaults, no L2.
type SpectrumOptions struct {
	// K is the number of eigenvalues per batch; 0 means 5.
	K int
	// Solver computes them (*hessian.PowerSettings or
	// *hessian.LanczosSettings); nil means power iteration at PyHessian's
	// defaults.
	Solver hessian.Solver
	// Seed is the base seed of the solver's start vectors: batch b uses
	// hessian.BatchSeed(Seed, b).
	Seed uint64
	// WeightDecay is the L2 coefficient (HessianOptions.WeightDecay).
	WeightDecay float64
	// Skip, if not nil, reports batches not to compute (journaled, or
	// another shard's).
	Skip func(batch int) bool
	// Curvature is the matrix whose top eigenvalues are taken (the zero
	// value is the Hessian; the GGN and the Fisher through NewCurvature).
	Curvature Curvature
	// Params restricts it to these parameters (HessianOptions.Params).
	Params []string
	// Workers is the number of minibatches computed at once (0 or 1: one
	// after the other on the calling thread, at the process's libtorch
	// thread count). With more, each worker computes on a copy of the
	// model (m itself for the first), on an OS thread of its own with
	// ThreadsPerWorker libtorch threads; the results reach done in batch
	// order all the same. A batch's eigenvalues depend only on the batch
	// and on the thread count it ran with, not on Workers. On a small
	// machine and small models this is the faster way to use the cores:
	// two threads on one product of vit-mini at batch 16 take longer than
	// one (docs/benchmarks.md), while two batches at a time take the
	// time of one.
	Workers int
	// ThreadsPerWorker is each worker's libtorch thread count when
	// Workers > 1 (0 means 1).
	ThreadsPerWorker int
	// Replica makes the model copies of the workers after the first (nil:
	// models.Rebuild, then m's values copied in), as for the landscape.
	Replica func() (models.Model, error)
}

// BatchResult is one minibatch's top eigenvalues, with the batch's loss.
type BatchResult struct {
	hessian.BatchEigen
	// Loss is the batch's NLL (without the L2 term).
	Loss float64
}

// MaxEigenSpectrum computes the minibatch max-eigenvalue spectrum of m
// (docs/methods.md §2) with hessian.Spectrum: for every batch of mb not skipped,
// in order, it builds the batch's Hessian (BatchHessian, eval mode),
// computes its top K eigenvalues, releases the graph and hands the result
// to done (which may journal it) before the next batch starts. Cancelling
// ctx stops it at the next product; the batch under way is dropped. Errors name the batch; a diverged model
// stops the run at the first non-finite loss or product.
func MaxEigenSpectrum(ctx context.Context, m models.Model, mb *Minibatches, o *SpectrumOptions, done func(BatchResult) error) error {
	var opt SpectrumOptions
	if o != nil {
		opt = *o
	}
	if m == nil || mb == nil || done == nil {
		return errors.New("analysis: MaxEigenSpectrum needs a model, minibatches and done")
	}
	switch {
	case opt.Workers < 0:
		return fmt.Errorf("analysis: MaxEigenSpectrum: %d workers: want 0 or more", opt.Workers)
	case opt.ThreadsPerWorker < 0:
		return fmt.Errorf("analysis: MaxEigenSpectrum: %d threads per worker: want 0 or more", opt.ThreadsPerWorker)
	}
	var todo []int
	for b := range mb.Len() {
		if opt.Skip == nil || !opt.Skip(b) {
			todo = append(todo, b)
		}
	}
	if opt.Workers > 1 && len(todo) > 0 {
		// Even for one batch: a resumed run's last batch then gets the
		// thread count the others had.
		return spectrumWorkers(ctx, m, mb, &opt, todo, done)
	}
	solve := spectrumSolver(ctx, m, &opt, mb.Batch)
	for _, b := range todo {
		r, err := solve(b)
		if err != nil {
			return err
		}
		if err := done(r); err != nil {
			return fmt.Errorf("hessian: batch %d: done: %w", b, err)
		}
	}
	return nil
}

// spectrumSolver returns the function that computes one batch's result
// with model m: the batch's operator (NewCurvature, eval mode), its top K
// eigenvalues (hessian.Spectrum on that batch alone, with the batch's own
// seed), the graph released.
func spectrumSolver(ctx context.Context, m models.Model, opt *SpectrumOptions,
	batchOf func(int) (*torchdata.Batch, error)) func(int) (BatchResult, error) {
	return func(b int) (BatchResult, error) {
		var loss float64
		operatorFor := func(b int) (hessian.Operator, func(), error) {
			batch, err := batchOf(b)
			if err != nil {
				return nil, nil, err
			}
			defer batch.Close()
			h, err := NewCurvature(opt.Curvature, m, batch, &CurvatureOptions{HessianOptions: HessianOptions{
				WeightDecay: opt.WeightDecay, Label: fmt.Sprintf("batch %d", b), Params: opt.Params}})
			if err != nil {
				return nil, nil, err
			}
			loss = h.Loss()
			return WithContext(ctx, h), h.Close, nil
		}
		var out BatchResult
		err := hessian.Spectrum(ctx, []int{b}, operatorFor, func(e hessian.BatchEigen) error {
			out = BatchResult{BatchEigen: e, Loss: loss}
			return nil
		}, &hessian.SpectrumSettings{K: opt.K, Solver: opt.Solver, Seed: opt.Seed})
		return out, err
	}
}

// spectrumWorkers computes the batches todo (in increasing order) on
// opt.Workers workers (OnWorkers) and hands the results to done in batch
// order; after an error every finished result is still handed over, and
// the error of the lowest batch that failed is returned.
func spectrumWorkers(ctx context.Context, m models.Model, mb *Minibatches, opt *SpectrumOptions, todo []int,
	done func(BatchResult) error) error {
	wo := WorkerOptions{Workers: opt.Workers, ThreadsPerWorker: opt.ThreadsPerWorker, Replica: opt.Replica}
	err := OnWorkers(ctx, m, wo, len(todo),
		func(ctx context.Context, rm models.Model) func(int) (BatchResult, error) {
			solve := spectrumSolver(ctx, rm, opt, mb.Batch)
			return func(i int) (BatchResult, error) { return solveSafely(solve, todo[i]) }
		},
		func(i int, r BatchResult) error {
			if err := done(r); err != nil {
				return fmt.Errorf("hessian: batch %d: done: %w", todo[i], err)
			}
			return nil
		})
	if st := (*stoppedError)(nil); errors.As(err, &st) {
		return fmt.Errorf("hessian: stopped before batch %d: %w", todo[st.item], st.err)
	}
	return err
}

// solveSafely runs solve, turning a panic into an error: a worker's panic
// would otherwise end the process.
func solveSafely(solve func(int) (BatchResult, error), b int) (r BatchResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analysis: batch %d: worker panicked: %v", b, p)
		}
	}()
	return solve(b)
}

// WithContext returns op with products that fail with ctx's error once ctx
// is done, so that a long computation (a trace, a density, one batch's
// eigenvalues) stops at the next product when the user interrupts it.
func WithContext(ctx context.Context, op hessian.Operator) hessian.Operator {
	return ctxOperator{ctx: ctx, op: op}
}

type ctxOperator struct {
	ctx context.Context
	op  hessian.Operator
}

func (c ctxOperator) Dim() int { return c.op.Dim() }

func (c ctxOperator) MulVec(dst, v []float64) error {
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("analysis: stopped: %w", err)
	}
	return c.op.MulVec(dst, v)
}

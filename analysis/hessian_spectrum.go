package analysis

import (
	"context"
	"errors"
	"fmt"

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

// Len returns the number of minibatches.
func (mb *Minibatches) Len() int { return mb.count }

// epoch returns the pass holding batch b and b's position in it.
func (mb *Minibatches) epoch(b int) (*data.Epoch, int) {
	if b < 0 || b >= mb.count {
		panic(fmt.Sprintf("analysis: minibatch %d of %d", b, mb.count))
	}
	e := b / mb.perPass
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
	batches := make([]int, mb.Len())
	for i := range batches {
		batches[i] = i
	}
	losses := map[int]float64{}
	operatorFor := func(b int) (hessian.Operator, func(), error) {
		batch, err := mb.Batch(b)
		if err != nil {
			return nil, nil, err
		}
		defer batch.Close()
		h, err := NewCurvature(opt.Curvature, m, batch, &CurvatureOptions{HessianOptions: HessianOptions{
			WeightDecay: opt.WeightDecay, Label: fmt.Sprintf("batch %d", b), Params: opt.Params}})
		if err != nil {
			return nil, nil, err
		}
		losses[b] = h.Loss()
		return WithContext(ctx, h), h.Close, nil
	}
	record := func(e hessian.BatchEigen) error {
		loss := losses[e.Batch]
		delete(losses, e.Batch)
		return done(BatchResult{BatchEigen: e, Loss: loss})
	}
	return hessian.Spectrum(ctx, batches, operatorFor, record,
		&hessian.SpectrumSettings{K: opt.K, Solver: opt.Solver, Seed: opt.Seed, Skip: opt.Skip})
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

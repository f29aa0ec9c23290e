package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// HessianOptions configures the Hessian operators of a model's loss. The
// zero value, or a nil pointer, is the NLL alone.
type HessianOptions struct {
	// WeightDecay is the coefficient wd of the L2 term (wd/2)·|w|² over
	// every trainable parameter, the paper's reading of weight decay
	// (docs/methods.md §2): every product gains wd·v, every eigenvalue +wd. The
	// term is added exactly, in float64, outside libtorch.
	WeightDecay float64
	// Label names the batch in error messages, e.g. "batch 17"; empty
	// means "batch".
	Label string
	// Params, when not nil, restricts the operator to these trainable
	// parameters (a ParamGroup's), every other parameter held fixed: the
	// Hessian of the loss with respect to them alone, differentiated with
	// respect to them alone. Vectors then have the group's size, its
	// parameters in name order. nil means every trainable parameter.
	Params []string
	// Workers, when more than 1, computes products on this many workers at
	// once, each an OS thread running one libtorch thread with a copy of
	// the model (Replica), made when the operator is built: the model's
	// weights must not change while it lives. A BatchHessian splits its
	// batch into this many parts of nearly equal size (at least one
	// example each), each part's first-order graph on its worker, and
	// returns Σ_i (n_i/n) H_i v, the Hessian of the batch's mean loss. A
	// DataHessian of several batches deals them to the workers in turn
	// (batch b to worker b mod Workers); each worker sums the weighted
	// products of its batches, and the sums are added in worker order (a
	// DataHessian of one batch runs it on the calling thread). Either
	// agrees with the one-thread operator to float32 rounding and gives
	// the same bits at every call for a given Workers. On a small model at
	// a small batch this uses the cores far better than libtorch's threads
	// inside each operator (vit-mini at batch 16 on two cores:
	// docs/benchmarks.md). libtorch's and OpenBLAS's thread counts are
	// process-wide: while such operators live they are 1, and the count
	// found when the first of them was built is put back when the last
	// closes. 0 or 1: one operator on the calling thread. The GGN and the
	// Fisher ignore it.
	Workers int
	// Replica builds the model copies for Workers > 1, into which the
	// model's tensors are then copied; nil rebuilds the model
	// (models.Rebuild: a TorchScript model needs its file).
	Replica func() (models.Model, error)
}

func (o *HessianOptions) values() (HessianOptions, error) {
	var v HessianOptions
	if o != nil {
		v = *o
	}
	if math.IsNaN(v.WeightDecay) || math.IsInf(v.WeightDecay, 0) {
		return v, fmt.Errorf("analysis: weight decay %v is not finite", v.WeightDecay)
	}
	if v.Label == "" {
		v.Label = "batch"
	}
	if v.Workers < 0 {
		return v, fmt.Errorf("analysis: %s: %d Hessian workers: want 0 or more", v.Label, v.Workers)
	}
	return v, nil
}

// TrainableParams returns the trainable parameters of m (buffers such as
// batch-norm running statistics left out), sorted by name: the coordinates
// of every Hessian vector of this package, in order.
func TrainableParams(m models.Model) []models.Param {
	var out []models.Param
	for _, p := range m.Params() {
		if p.Trainable() {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, byName)
	return out
}

// paramTensors returns the tensors of params and their total size.
func paramTensors(params []models.Param) ([]*ts.Tensor, int) {
	out := make([]*ts.Tensor, len(params))
	n := 0
	for i, p := range params {
		out[i] = p.Tensor
		c := 1
		for _, s := range p.Shape {
			c *= int(s)
		}
		n += c
	}
	return out, n
}

// BatchHessian is the Hessian of a model's loss on one batch with respect
// to its trainable parameters, as a hessian.Operator: the loss is
// train.Loss (the mean NLL, against the batch's soft targets when it has
// them: label smoothing, mixup, CutMix) in eval mode, plus the L2 term of
// HessianOptions.
//
// NewBatchHessian runs one forward and one backward pass and keeps the
// first-order graph (torchx.HVP), so each product costs one double-backward
// pass, as in PyHessian. Vectors are float64 in and out; the products are
// computed in the model's float32. A BatchHessian holds libtorch memory
// until Close; it is not safe for concurrent use and must be used on the OS
// thread that built it (the commands lock theirs), unless it was built
// with HessianOptions.Workers > 1: then its workers own their threads and
// it may be used from any goroutine, one call at a time.
type BatchHessian struct {
	label    string
	wd       float64
	shapes   []int // element count per parameter
	n        int
	hvp      *torchx.HVP
	v        []*ts.Tensor // input tensors, reused by every product
	loss     float64
	products int
	parts    *hvpParts // with HessianOptions.Workers > 1
}

// NewBatchHessian builds the Hessian operator of m's loss on b in eval mode
// (PyHessian calls model.eval(): batch norm uses its running statistics,
// stochastic depth is off). The batch is borrowed; it may be closed once
// NewBatchHessian returns. Grad mode is switched on for the duration of the
// call on the calling OS thread. A non-finite loss is an error naming the
// batch.
func NewBatchHessian(m models.Model, b *torchdata.Batch, o *HessianOptions) (*BatchHessian, error) {
	opt, err := o.values()
	if err != nil {
		return nil, err
	}
	if m == nil || b == nil || b.Images == nil || b.Labels == nil {
		return nil, fmt.Errorf("analysis: %s: Hessian needs a model and a batch", opt.Label)
	}
	params, err := operatorParams(m, opt.Params)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	tensors, n := paramTensors(params)
	h := &BatchHessian{label: opt.Label, wd: opt.WeightDecay, n: n, shapes: make([]int, len(params))}
	for i, p := range params {
		c := 1
		for _, s := range p.Shape {
			c *= int(s)
		}
		h.shapes[i] = c
	}
	if opt.Workers > 1 {
		if err := newSplitHessian(h, m, b, opt); err != nil {
			return nil, err
		}
		return h, nil
	}
	prev := torchx.SetGradEnabled(true)
	defer torchx.SetGradEnabled(prev)

	var s torchx.Scope
	defer s.Close()
	dev, err := tensors[0].Device()
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	batch := b
	if dev != gotch.CPU {
		batch, err = mapBatch(b, &s, func(t *ts.Tensor) (*ts.Tensor, error) { return t.To(dev, false) })
		if err != nil {
			return nil, fmt.Errorf("analysis: %s: move batch to %v: %w", opt.Label, dev, err)
		}
	}
	logits, err := m.Forward(batch.Images, models.Eval, nil)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: forward: %w", opt.Label, err)
	}
	s.Add(logits)
	loss, err := train.Loss(logits, batch)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	s.Add(loss)
	lv, err := train.Scalar(loss)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	if math.IsNaN(lv) || math.IsInf(lv, 0) {
		return nil, fmt.Errorf("analysis: %w", &errs.NonFiniteError{What: "loss", Where: opt.Label, Value: lv})
	}
	h.loss = lv
	if h.hvp, err = torchx.NewHVP(loss, tensors); err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	h.v = make([]*ts.Tensor, len(tensors))
	for i, t := range tensors {
		z, err := t.ZerosLike(false)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
		}
		h.v[i] = z
	}
	return h, nil
}

// Dim returns the number of trainable parameters.
func (h *BatchHessian) Dim() int { return h.n }

// Loss returns the batch's NLL (without the L2 term) at the weights.
func (h *BatchHessian) Loss() float64 { return h.loss }

// Products returns the number of products computed so far.
func (h *BatchHessian) Products() int { return h.products }

// Label returns the name used in error messages.
func (h *BatchHessian) Label() string { return h.label }

// MulVec stores (H + wd·I) v in dst. A product holding a NaN or an
// infinity is an error naming the batch that wraps hessian.ErrNonFinite.
// It panics if the lengths differ from Dim.
func (h *BatchHessian) MulVec(dst, v []float64) error {
	if len(dst) != h.n || len(v) != h.n {
		panic(fmt.Sprintf("analysis: MulVec lengths %d and %d, dimension %d", len(dst), len(v), h.n))
	}
	if h.parts != nil {
		if err := h.parts.mulVec(dst, v, h.label); err != nil {
			return err
		}
		h.products++
		return finish(dst, v, h.wd, h.label)
	}
	if h.hvp == nil {
		return fmt.Errorf("analysis: %s: Hessian used after Close", h.label)
	}
	off := 0
	for i, t := range h.v {
		if err := torchx.CopyIn(t, v[off:off+h.shapes[i]]); err != nil {
			return fmt.Errorf("analysis: %s: %w", h.label, err)
		}
		off += h.shapes[i]
	}
	out, err := h.hvp.Apply(h.v)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", h.label, err)
	}
	h.products++
	err = torchx.Flatten(dst, out)
	torchx.DropAll(out)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", h.label, err)
	}
	return finish(dst, v, h.wd, h.label)
}

// finish adds wd·v to dst and rejects non-finite products.
func finish(dst, v []float64, wd float64, label string) error {
	for i, x := range dst {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("analysis: %s: Hessian-vector product has %v at coordinate %d (diverged model?): %w",
				label, x, i, hessian.ErrNonFinite)
		}
	}
	if wd != 0 {
		for i, x := range v {
			dst[i] += wd * x
		}
	}
	return nil
}

// Close releases the graph and the tensors. It is safe to call more than
// once; products after Close are errors.
func (h *BatchHessian) Close() {
	if h.parts != nil {
		h.parts.close()
	}
	if h.hvp != nil {
		h.hvp.Close()
		h.hvp = nil
	}
	torchx.DropAll(h.v)
	h.v = nil
}

// DataHessian is the Hessian of the mean loss over several batches (a data
// set, or PyHessian's dataloader mode) plus the L2 term:
//
//	H = Σ_b (n_b / N) H_b + wd·I,
//
// with n_b the size of batch b and N the total, so that batches of unequal
// size weigh as their examples do. With Retain, every batch's graph is
// built once and kept (one forward and backward pass per batch in all, a
// double backward per batch per product, memory for every graph); without
// it, as PyHessian does, each product rebuilds them (a forward, a backward
// and a double backward per batch per product, memory for one graph).
// It is not safe for concurrent use and must be used on the OS thread that
// built it, unless it was built with HessianOptions.Workers > 1 and more
// than one batch.
type DataHessian struct {
	m        models.Model
	batches  []*torchdata.Batch
	weights  []float64
	label    string
	wd       float64
	n        int
	retained []*BatchHessian // by batch, with Retain
	tmp      []float64
	params   []string
	products int
	// With Workers > 1: the pool, each worker's batches and product sum.
	pool    *hessianPool
	mine    [][]int
	partial [][]float64
	tmps    [][]float64
}

// DataHessianOptions configures NewDataHessian.
type DataHessianOptions struct {
	HessianOptions
	// Retain keeps every batch's graph between products.
	Retain bool
}

// NewDataHessian returns the Hessian of m's mean loss over batches, which
// are borrowed and must stay open until Close.
func NewDataHessian(m models.Model, batches []*torchdata.Batch, o *DataHessianOptions) (*DataHessian, error) {
	var opt DataHessianOptions
	if o != nil {
		opt = *o
	}
	if opt.Label == "" {
		opt.Label = "data set"
	}
	base, err := opt.values()
	if err != nil {
		return nil, err
	}
	if m == nil || len(batches) == 0 {
		return nil, fmt.Errorf("analysis: %s: Hessian of no batches", base.Label)
	}
	ps, err := operatorParams(m, base.Params)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", base.Label, err)
	}
	_, n := paramTensors(ps)
	h := &DataHessian{m: m, batches: batches, label: base.Label, wd: base.WeightDecay, n: n, tmp: make([]float64, n), params: base.Params}
	total := 0
	sizes := make([]int, len(batches))
	for i, b := range batches {
		if b == nil || b.Images == nil {
			return nil, fmt.Errorf("analysis: %s: batch %d is empty", base.Label, i)
		}
		if sizes[i] = b.Len(); sizes[i] < 1 {
			return nil, fmt.Errorf("analysis: %s: batch %d has no examples", base.Label, i)
		}
		total += sizes[i]
	}
	h.weights = make([]float64, len(batches))
	for i, s := range sizes {
		h.weights[i] = float64(s) / float64(total)
	}
	if base.Workers > 1 && len(batches) > 1 {
		if err := h.startWorkers(min(base.Workers, len(batches)), base.Replica, opt.Retain); err != nil {
			return nil, err
		}
		return h, nil
	}
	if opt.Retain {
		for i, b := range batches {
			bh, err := h.build(m, i, b)
			if err != nil {
				h.Close()
				return nil, err
			}
			h.retained = append(h.retained, bh)
		}
	}
	return h, nil
}

// build builds batch i's operator on model m.
func (h *DataHessian) build(m models.Model, i int, b *torchdata.Batch) (*BatchHessian, error) {
	return NewBatchHessian(m, b, &HessianOptions{Label: fmt.Sprintf("%s, batch %d", h.label, i), Params: h.params})
}

// startWorkers deals the batches to n workers and, with retain, builds
// each batch's graph on its worker.
func (h *DataHessian) startWorkers(n int, replica func() (models.Model, error), retain bool) error {
	pool, err := newHessianPool(h.m, n, replica)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", h.label, err)
	}
	h.pool = pool
	h.mine = make([][]int, n)
	for b := range h.batches {
		h.mine[b%n] = append(h.mine[b%n], b)
	}
	for range n {
		h.partial = append(h.partial, make([]float64, h.n))
		h.tmps = append(h.tmps, make([]float64, h.n))
	}
	if !retain {
		return nil
	}
	h.retained = make([]*BatchHessian, len(h.batches))
	err = pool.all(func(w int) error {
		for _, b := range h.mine[w] {
			bh, err := h.build(pool.models[w], b, h.batches[b])
			if err != nil {
				return err
			}
			h.retained[b] = bh
		}
		return nil
	})
	if err != nil {
		h.Close()
		return err
	}
	return nil
}

// Dim returns the number of trainable parameters.
func (h *DataHessian) Dim() int { return h.n }

// Products returns the number of products of the whole operator computed
// so far (each costs one product per batch).
func (h *DataHessian) Products() int { return h.products }

// MulVec stores H v in dst; see DataHessian. A non-finite product is an
// error naming the batch.
func (h *DataHessian) MulVec(dst, v []float64) error {
	if len(dst) != h.n || len(v) != h.n {
		panic(fmt.Sprintf("analysis: MulVec lengths %d and %d, dimension %d", len(dst), len(v), h.n))
	}
	if h.batches == nil {
		return fmt.Errorf("analysis: %s: Hessian used after Close", h.label)
	}
	if h.pool != nil {
		return h.mulVecWorkers(dst, v)
	}
	clear(dst)
	for i, b := range h.batches {
		bh, release, err := h.batch(h.m, i, b)
		if err != nil {
			return err
		}
		err = bh.MulVec(h.tmp, v)
		release()
		if err != nil {
			return err
		}
		floats.AddScaled(dst, h.weights[i], h.tmp)
	}
	h.products++
	return finish(dst, v, h.wd, h.label)
}

// mulVecWorkers is MulVec on the workers: each sums the weighted products
// of its batches, then the sums are added in worker order.
func (h *DataHessian) mulVecWorkers(dst, v []float64) error {
	err := h.pool.all(func(w int) error {
		p, tmp := h.partial[w], h.tmps[w]
		clear(p)
		for _, b := range h.mine[w] {
			bh, release, err := h.batch(h.pool.models[w], b, h.batches[b])
			if err != nil {
				return err
			}
			err = bh.MulVec(tmp, v)
			release()
			if err != nil {
				return err
			}
			floats.AddScaled(p, h.weights[b], tmp)
		}
		return nil
	})
	if err != nil {
		return err
	}
	clear(dst)
	for _, p := range h.partial {
		floats.Add(dst, p)
	}
	h.products++
	return finish(dst, v, h.wd, h.label)
}

// batch returns batch i's operator, kept or built on model m, and its
// release function.
func (h *DataHessian) batch(m models.Model, i int, b *torchdata.Batch) (*BatchHessian, func(), error) {
	if h.retained != nil {
		return h.retained[i], func() {}, nil
	}
	bh, err := h.build(m, i, b)
	if err != nil {
		return nil, nil, err
	}
	return bh, bh.Close, nil
}

// Close releases retained graphs (each on the thread that built it) and
// the workers; the batches stay the caller's. It is safe to call more
// than once.
func (h *DataHessian) Close() {
	if h.pool != nil {
		h.pool.close(func(w int) {
			for _, b := range h.mine[w] {
				if h.retained != nil && h.retained[b] != nil {
					h.retained[b].Close()
				}
			}
		})
	} else {
		for _, bh := range h.retained {
			bh.Close()
		}
	}
	h.retained = nil
	h.batches = nil
}

// MaxAssembleDim is the largest dimension AssembleHessian accepts: a dense
// matrix of that order takes 800 MB.
const MaxAssembleDim = 10000

// AssembleHessian returns the matrix of op, column j being the product
// op·e_j: Dim products. It is meant for tests and small models, whose
// Hessian can be checked for symmetry and diagonalised exactly (gonum's
// mat.EigenSym on its symmetric part). It fails for a dimension above
// MaxAssembleDim and on any product error.
func AssembleHessian(op hessian.Operator) (*mat.Dense, error) {
	if op == nil {
		return nil, errors.New("analysis: assemble a nil operator")
	}
	n := op.Dim()
	if n < 1 || n > MaxAssembleDim {
		return nil, fmt.Errorf("analysis: assemble a Hessian of dimension %d: want 1..%d", n, MaxAssembleDim)
	}
	a := mat.NewDense(n, n, nil)
	e := make([]float64, n)
	col := make([]float64, n)
	for j := range n {
		e[j] = 1
		if err := op.MulVec(col, e); err != nil {
			return nil, fmt.Errorf("analysis: assemble column %d: %w", j, err)
		}
		e[j] = 0
		a.SetCol(j, col)
	}
	return a, nil
}

// Symmetrize returns (A + Aᵀ)/2 and the relative asymmetry
// |A - Aᵀ|_F / |A|_F (0 for a zero matrix).
func Symmetrize(a mat.Matrix) (*mat.SymDense, float64) {
	r, c := a.Dims()
	if r != c {
		panic(fmt.Sprintf("analysis: symmetrize a %d×%d matrix", r, c))
	}
	s := mat.NewSymDense(r, nil)
	var diff, norm float64
	for i := range r {
		for j := i; j < r; j++ {
			x, y := a.At(i, j), a.At(j, i)
			s.SetSym(i, j, (x+y)/2)
			if i != j {
				diff += 2 * (x - y) * (x - y)
				norm += x*x + y*y
			} else {
				norm += x * x
			}
		}
	}
	if norm == 0 {
		return s, 0
	}
	return s, math.Sqrt(diff / norm)
}

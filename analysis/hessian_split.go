package analysis

import (
	"fmt"
	"sync"

	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/floats"

	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// hessianPool is a set of thread workers (torchx.Workers) with a model
// each: worker 0 runs the caller's model, the others copies of it
// (models.Replicate), made once: the model's weights must not change while the
// pool lives.
type hessianPool struct {
	w        *torchx.Workers
	models   []models.Model
	replicas []models.Model // models[1:], closed by close
	once     sync.Once
}

// newHessianPool starts n workers (n ≥ 1) for m. On an error it releases
// what it made.
func newHessianPool(m models.Model, n int, replica func() (models.Model, error)) (*hessianPool, error) {
	p := &hessianPool{models: []models.Model{m}}
	for range n - 1 {
		r, err := models.Replicate(m, replica)
		if err != nil {
			p.close()
			return nil, err
		}
		p.replicas = append(p.replicas, r)
		p.models = append(p.models, r)
	}
	w, err := torchx.StartWorkers(n)
	if err != nil {
		p.close()
		return nil, err
	}
	p.w = w
	return p, nil
}

// all runs f(i) on every worker i at once (torchx.Workers.All).
func (p *hessianPool) all(f func(i int) error) error { return p.w.All(f) }

// closed reports whether close has been called.
func (p *hessianPool) closed() bool { return p.w == nil || p.w.Closed() }

// close runs release(i) on every worker, stops the workers (putting back
// the thread count if it is the last live set) and closes the model
// copies. It is safe to call more than once; release may be nil.
func (p *hessianPool) close(release ...func(i int)) {
	p.once.Do(func() {
		if p.w != nil {
			var r func(int)
			if len(release) > 0 {
				r = release[0]
			}
			p.w.Close(r)
		}
		for _, r := range p.replicas {
			r.Close()
		}
	})
}

// hvpParts is a BatchHessian split over workers (HessianOptions.Workers):
// part i holds rows [start_i, start_i+n_i) of the batch and the
// first-order graph of its part's mean loss on worker i. Its product is
//
//	H v = Σ_i (n_i / n) H_i v,
//
// the Hessian of the batch's mean loss (every loss of train.Loss is a mean
// of per-example terms, and in eval mode no example sees another).
type hvpParts struct {
	pool    *hessianPool
	parts   []*BatchHessian
	weights []float64   // n_i / n
	dst     [][]float64 // each part's last product
}

// newSplitHessian builds h's parts: opt.Workers of them (at most one per
// example), each on its worker's thread. On an error every part already
// built is released.
func newSplitHessian(h *BatchHessian, m models.Model, b *torchdata.Batch, opt HessianOptions) error {
	total := b.Len()
	if total < 1 {
		return fmt.Errorf("analysis: %s: the batch has no examples", opt.Label)
	}
	rows := torchdata.PartSizes(total, opt.Workers)
	pool, err := newHessianPool(m, len(rows), opt.Replica)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	sp := &hvpParts{pool: pool, parts: make([]*BatchHessian, len(rows))}
	starts := make([]int64, len(rows))
	for i, n := range rows {
		sp.weights = append(sp.weights, float64(n)/float64(total))
		sp.dst = append(sp.dst, make([]float64, h.n))
		if i > 0 {
			starts[i] = starts[i-1] + int64(rows[i-1])
		}
	}
	err = pool.all(func(i int) error {
		sub := opt
		sub.Workers, sub.WeightDecay = 0, 0
		sub.Label = fmt.Sprintf("%s, part %d of %d", opt.Label, i+1, len(rows))
		var err error
		sp.parts[i], err = buildPart(pool.models[i], b, starts[i], int64(rows[i]), &sub)
		return err
	})
	if err != nil {
		sp.close()
		return err
	}
	for i, p := range sp.parts {
		h.loss += sp.weights[i] * p.Loss()
	}
	h.parts = sp
	return nil
}

// buildPart builds the operator of rows [start, start+n) of b.
func buildPart(m models.Model, b *torchdata.Batch, start, n int64, opt *HessianOptions) (*BatchHessian, error) {
	sub, err := b.Rows(start, n)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	defer sub.Close()
	return NewBatchHessian(m, sub, opt)
}

// mapBatch returns the batch of f(images), f(labels) and f(targets) (those
// b has), the new tensors registered with s, and b's mixing record.
func mapBatch(b *torchdata.Batch, s *torchx.Scope, f func(*ts.Tensor) (*ts.Tensor, error)) (*torchdata.Batch, error) {
	out := &torchdata.Batch{Mixing: b.Mixing}
	for _, pair := range []struct{ dst, src **ts.Tensor }{{&out.Images, &b.Images}, {&out.Labels, &b.Labels}, {&out.Targets, &b.Targets}} {
		if *pair.src == nil {
			continue
		}
		t, err := f(*pair.src)
		if err != nil {
			return nil, err
		}
		*pair.dst = s.Add(t)
	}
	return out, nil
}

// mulVec stores Σ_i (n_i/n) H_i v in dst, the parts' products computed at
// once and summed in part order (the same bits at every call).
func (sp *hvpParts) mulVec(dst, v []float64, label string) error {
	if sp.pool.closed() {
		return fmt.Errorf("analysis: %s: Hessian used after Close", label)
	}
	// A part's error names its part.
	if err := sp.pool.all(func(i int) error { return sp.parts[i].MulVec(sp.dst[i], v) }); err != nil {
		return err
	}
	clear(dst)
	for i, d := range sp.dst {
		floats.AddScaled(dst, sp.weights[i], d)
	}
	return nil
}

// close releases every part's graph on its own thread, then the pool.
func (sp *hvpParts) close() {
	sp.pool.close(func(i int) {
		if sp.parts[i] != nil {
			sp.parts[i].Close()
		}
	})
}

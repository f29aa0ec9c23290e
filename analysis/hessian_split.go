package analysis

import (
	"fmt"
	"sync"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// hvpParts is a BatchHessian split over workers (HessianOptions.Workers):
// part i holds rows [start_i, start_i+n_i) of the batch, a model of its
// own and the first-order graph of its part's mean loss, on an OS thread
// of its own running one libtorch thread. Its product is
//
//	H v = Σ_i (n_i / n) H_i v,
//
// the Hessian of the batch's mean loss (every loss of train.Loss is a mean
// of per-example terms, and in eval mode no example sees another).
type hvpParts struct {
	parts    []*hvpPart
	replicas []models.Model // the copies made for parts 1.., closed by close
	threads  int            // the thread count found at the start, put back by close
	once     sync.Once
	closed   bool
}

// hvpPart is one worker of hvpParts.
type hvpPart struct {
	weight float64        // n_i / n
	dst    []float64      // the part's last product
	req    chan []float64 // a vector to multiply; closed to stop the worker
	res    chan error     // one answer per request, and one when the worker ends
}

// splitRows returns the sizes of k nearly equal parts of n rows, the larger
// first, with k capped at n.
func splitRows(n, k int) []int {
	k = min(k, n)
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}

// newSplitHessian builds h's parts: opt.Workers of them (at most one per
// example), each built on its worker's thread. On an error every part
// already built is released.
func newSplitHessian(h *BatchHessian, m models.Model, b *torchdata.Batch, opt HessianOptions) (err error) {
	shape, err := b.Images.Size()
	if err != nil || len(shape) == 0 || shape[0] < 1 {
		return fmt.Errorf("analysis: %s: the batch has no examples", opt.Label)
	}
	rows := splitRows(int(shape[0]), opt.Workers)
	sp := &hvpParts{threads: torchx.Threads()}
	defer func() {
		if err != nil {
			sp.close()
		}
	}()
	owners := []models.Model{m}
	for range len(rows) - 1 {
		r, rerr := replicate(m, opt.Replica)
		if rerr != nil {
			return fmt.Errorf("analysis: %s: %w", opt.Label, rerr)
		}
		sp.replicas = append(sp.replicas, r)
		owners = append(owners, r)
	}
	built := make(chan error, len(rows))
	start := 0
	total := float64(shape[0])
	losses := make([]float64, len(rows))
	for i, n := range rows {
		p := &hvpPart{
			weight: float64(n) / total,
			dst:    make([]float64, h.n),
			req:    make(chan []float64),
			res:    make(chan error),
		}
		sp.parts = append(sp.parts, p)
		sub := opt
		sub.Workers, sub.WeightDecay = 0, 0
		sub.Label = fmt.Sprintf("%s, part %d of %d", opt.Label, i+1, len(rows))
		go p.run(owners[i], b, int64(start), int64(n), &sub, &losses[i], built)
		start += n
	}
	for range rows {
		if berr := <-built; berr != nil && err == nil {
			err = berr
		}
	}
	if err != nil {
		return err
	}
	for i, p := range sp.parts {
		h.loss += p.weight * losses[i]
	}
	h.parts = sp
	return nil
}

// run is a part's worker: it builds the part's operator on its own locked
// OS thread (one libtorch thread, grad mode on), reports on built, then
// answers products until req is closed, and releases the operator on that
// same thread.
func (p *hvpPart) run(m models.Model, b *torchdata.Batch, start, n int64, opt *HessianOptions, loss *float64,
	built chan<- error) {
	if err := workerThread(true, 1); err != nil {
		built <- fmt.Errorf("analysis: %s: %w", opt.Label, err)
		close(p.res)
		return
	}
	h, err := buildPart(m, b, start, n, opt)
	if err == nil {
		*loss = h.Loss()
	}
	built <- err
	if err != nil {
		close(p.res)
		return
	}
	for v := range p.req {
		p.res <- h.MulVec(p.dst, v)
	}
	h.Close()
	close(p.res)
}

// buildPart builds the operator of rows [start, start+n) of b.
func buildPart(m models.Model, b *torchdata.Batch, start, n int64, opt *HessianOptions) (*BatchHessian, error) {
	var s torchx.Scope
	defer s.Close()
	sub := &torchdata.Batch{Mixing: b.Mixing}
	for _, pair := range []struct{ dst, src **ts.Tensor }{{&sub.Images, &b.Images}, {&sub.Labels, &b.Labels}, {&sub.Targets, &b.Targets}} {
		if *pair.src == nil {
			continue
		}
		t, err := (*pair.src).Narrow(0, start, n, false)
		if err != nil {
			return nil, fmt.Errorf("analysis: %s: rows %d..%d of the batch: %w", opt.Label, start, start+n, err)
		}
		*pair.dst = s.Add(t)
	}
	return NewBatchHessian(m, sub, opt)
}

// mulVec stores Σ_i (n_i/n) H_i v in dst, the parts' products computed at
// once and summed in part order (the same bits at every call).
func (sp *hvpParts) mulVec(dst, v []float64, label string) error {
	if sp.closed {
		return fmt.Errorf("analysis: %s: Hessian used after Close", label)
	}
	for _, p := range sp.parts {
		p.req <- v
	}
	var err error
	for _, p := range sp.parts {
		if perr := <-p.res; perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	clear(dst)
	for _, p := range sp.parts {
		for j, x := range p.dst {
			dst[j] += p.weight * x
		}
	}
	return nil
}

// close stops the workers (each releases its graph on its own thread),
// closes the model copies and puts back the thread count found at the
// start. It is safe to call more than once.
func (sp *hvpParts) close() {
	sp.once.Do(func() {
		sp.closed = true
		for _, p := range sp.parts {
			close(p.req)
		}
		for _, p := range sp.parts {
			for range p.res { // until the worker has released its graph
			}
		}
		for _, r := range sp.replicas {
			r.Close()
		}
		_, _ = torchx.SetThreads(sp.threads)
	})
}

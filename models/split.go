package models

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// A training pass can be split over workers, each taking some rows of the
// batch. In the ViTs no example's output depends on another's (layer norm
// works per token); in the ResNets and AlterNets batch norm takes its
// statistics over the whole batch in training mode, so their workers share
// them through a torchx.StatsGroup (torchx.BatchNormShared): each batch
// norm adds up every worker's per-channel sums, forward and backward, and
// each worker's rows get the unsplit pass's values and gradients.
// The other thing the split must keep is the randomness: stochastic depth (dropPath)
// draws one mask value per example and block from libtorch's global
// generator, and workers drawing at once would draw in no fixed order.
// DrawDropPath therefore draws, on the calling thread and before the
// workers start, the masks of the whole batch with the same calls the
// one-graph pass makes, and ForwardTrainRows hands each worker its rows of
// them: the split pass uses, example for example, the masks of the
// unsplit one.

// rowSplitter is implemented by the models whose training pass can be
// split by rows.
type rowSplitter interface {
	// dropPathRates lists the drop rate of each dropPath call of a
	// training pass, in call order, and the rank of the tensors it masks.
	dropPathRates() (rates []float64, rank int)
	// batchStats reports whether the training pass takes statistics over
	// the batch (batch norm), which the workers must then share.
	batchStats() bool
	forward(x *ts.Tensor, mode Mode, probe Probe, drop *dropRows) (*ts.Tensor, error)
}

// SplitsTraining reports whether m's training pass may be split by rows
// (ForwardTrainRows): true of the presets (whose batch norm, if any, the
// workers share), false of TorchScript models, whose passes vitprobe
// does not write.
func SplitsTraining(m Model) bool {
	_, ok := m.(rowSplitter)
	return ok
}

// SharesStats reports whether the workers of m's split training pass must
// share statistics (a torchx.StatsGroup in Part): whether it has batch
// norm.
func SharesStats(m Model) bool {
	rs, ok := m.(rowSplitter)
	return ok && rs.batchStats()
}

// Part is one worker's share of a split training pass (ForwardTrainRows).
type Part struct {
	// Start is the index of the worker's first row in the batch.
	Start int64
	// Stats is the workers' exchange of batch norm's statistics, needed
	// by the models that SharesStats names unless the rows are the whole
	// batch; Rank is this worker's place in it (0 to its participants − 1).
	Stats *torchx.StatsGroup
	Rank  int
}

// DropPathMasks are the stochastic-depth masks of one training pass over a
// batch, drawn ahead of the pass (DrawDropPath).
type DropPathMasks struct {
	rows  int64
	masks []*ts.Tensor // (rows, 1, ...) per dropPath call with a positive rate
}

// Close drops the masks.
func (d *DropPathMasks) Close() {
	torchx.DropAll(d.masks)
	d.masks = nil
}

// splitter returns m as a rowSplitter, or the error that its training pass
// cannot be split.
func splitter(m Model) (rowSplitter, error) {
	rs, ok := m.(rowSplitter)
	if !ok {
		return nil, fmt.Errorf("models: %s: its training pass couples the examples of a batch and cannot be split", m.Spec().Name)
	}
	return rs, nil
}

// DrawDropPath draws from libtorch's generator the masks a training pass
// of m over n examples would draw, with the same calls in the same order,
// so that the values are those of the unsplit pass. The caller owns the
// result. It fails for a model that SplitsTraining rejects.
func DrawDropPath(m Model, n int64) (*DropPathMasks, error) {
	rs, err := splitter(m)
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("models: drop-path masks for %d examples", n)
	}
	rates, rank := rs.dropPathRates()
	ps := m.Params()
	if len(ps) == 0 {
		return nil, fmt.Errorf("models: %s has no tensors", m.Spec().Name)
	}
	dev, err := ps[0].Tensor.Device()
	if err != nil {
		return nil, fmt.Errorf("models: drop-path masks: %w", err)
	}
	d := &DropPathMasks{rows: n}
	for _, rate := range rates {
		if rate <= 0 {
			continue
		}
		mask, err := dropMask(n, rank, rate, dev)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.masks = append(d.masks, mask)
	}
	return d, nil
}

// ForwardTrainRows runs m's training pass on x, rows [p.Start,
// p.Start+len(x)) of a batch whose drop-path masks d holds (DrawDropPath):
// the logits of those rows as the unsplit pass computes them. Calls for
// different rows may run at once on different threads with different
// copies of m (Replicate); d is only read. When m has batch norm, the
// calls of all the batch's parts must run at once, each on its own OS
// thread, with p.Stats reset for their number, and the backward pass of
// each must follow (torchx.BatchNormShared); a failing part must abort
// p.Stats, so that the others fail rather than wait.
func ForwardTrainRows(m Model, x *ts.Tensor, d *DropPathMasks, p Part) (*ts.Tensor, error) {
	rs, err := splitter(m)
	if err != nil {
		return nil, err
	}
	shape, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("models: input: %w", err)
	}
	if len(shape) == 0 || p.Start < 0 || p.Start+shape[0] > d.rows {
		return nil, fmt.Errorf("models: rows %d..%d of a batch of %d", p.Start, p.Start+shape[0], d.rows)
	}
	r := &dropRows{d: d, start: p.Start, n: shape[0]}
	if rs.batchStats() && shape[0] < d.rows {
		if p.Stats == nil {
			return nil, fmt.Errorf("models: %s: rows %d..%d of a batch of %d: its batch norm needs the workers' shared statistics (a torchx.StatsGroup)", m.Spec().Name, p.Start, p.Start+shape[0], d.rows)
		}
		r.stats, r.rank = p.Stats, p.Rank
	}
	return rs.forward(x, Train, nil, r)
}

// dropRows feeds a pass its rows of the drawn masks, in call order, and
// the statistics shared with the other parts' passes (nil: none).
type dropRows struct {
	d        *DropPathMasks
	start, n int64
	next     int
	stats    *torchx.StatsGroup
	rank     int
}

// nextDropMask returns the next call's mask rows, registered with the pass.
func (f *fwd) nextDropMask() *ts.Tensor {
	r := f.drop
	if r.next >= len(r.d.masks) {
		f.err = fmt.Errorf("models: internal error: the pass asks for more than the %d drop-path masks drawn", len(r.d.masks))
		return nil
	}
	m := r.d.masks[r.next]
	r.next++
	return f.t(m.Narrow(0, r.start, r.n, false))
}

// usedAllDropMasks records an error if a pass with drawn masks did not use
// every one of them (the drawing and the pass disagree).
func (f *fwd) usedAllDropMasks() {
	if f.err == nil && f.drop != nil && f.drop.next != len(f.drop.d.masks) {
		f.err = fmt.Errorf("models: internal error: the pass used %d of the %d drop-path masks drawn", f.drop.next, len(f.drop.d.masks))
	}
}

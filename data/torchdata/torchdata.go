// Package torchdata turns batches of package data, which needs no libtorch,
// into libtorch tensors: the one place where data meets torch.
package torchdata

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/torchx"
)

// Batch is a batch as tensors, owned by the caller: Close drops them.
type Batch struct {
	// Images is float32 (B, C, side, side), normalised (side: the
	// dataset's Info.ImageSide).
	Images *ts.Tensor
	// Labels is int64 (B): each image's own label.
	Labels *ts.Tensor
	// Targets is float32 (B, Classes) soft targets, or nil when the
	// augmentation uses none (then train against Labels).
	Targets *ts.Tensor
	// Mixing records how the batch was mixed.
	Mixing data.Mixing
}

// FromHost copies h into new tensors, one copy per tensor.
func FromHost(h *data.HostBatch) (*Batch, error) {
	b := int64(h.Size)
	out := &Batch{Mixing: h.Mixing}
	var err error
	side := int64(h.Side)
	if side == 0 {
		side = data.Size
	}
	if out.Images, err = torchx.FromSlice(h.Images, []int64{b, int64(h.Channels), side, side}, gotch.Float); err != nil {
		return nil, fmt.Errorf("data: batch images: %w", err)
	}
	if out.Labels, err = torchx.FromSlice(h.Labels, []int64{b}, gotch.Int64); err != nil {
		out.Close()
		return nil, fmt.Errorf("data: batch labels: %w", err)
	}
	if h.Targets != nil {
		if out.Targets, err = torchx.FromSlice(h.Targets, []int64{b, int64(h.Classes)}, gotch.Float); err != nil {
			out.Close()
			return nil, fmt.Errorf("data: batch targets: %w", err)
		}
	}
	return out, nil
}

// Close drops the batch's tensors. It is safe to call more than once.
func (b *Batch) Close() {
	for _, t := range []**ts.Tensor{&b.Images, &b.Labels, &b.Targets} {
		if *t != nil {
			_ = (*t).Drop()
			*t = nil
		}
	}
}

// Len returns the number of examples (rows of Images; 0 when they have no
// size).
func (b *Batch) Len() int {
	if b.Images == nil {
		return 0
	}
	shape, err := b.Images.Size()
	if err != nil || len(shape) == 0 {
		return 0
	}
	return int(shape[0])
}

// PartSizes returns the sizes of k nearly equal parts of n rows, the larger
// first, with k capped at n: how a batch is split over workers.
func PartSizes(n, k int) []int {
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

// Rows returns rows [start, start+n) of b as a batch of views (no copy)
// with b's mixing record. The caller must Close it (which leaves b's
// tensors alone) and must not use it after closing b.
func (b *Batch) Rows(start, n int64) (*Batch, error) {
	out := &Batch{Mixing: b.Mixing}
	for _, p := range []struct{ dst, src **ts.Tensor }{{&out.Images, &b.Images}, {&out.Labels, &b.Labels}, {&out.Targets, &b.Targets}} {
		if *p.src == nil {
			continue
		}
		t, err := (*p.src).Narrow(0, start, n, false)
		if err != nil {
			out.Close()
			return nil, fmt.Errorf("torchdata: rows %d..%d of the batch: %w", start, start+n, err)
		}
		*p.dst = t
	}
	return out, nil
}

// hostPool recycles the Go-side buffers of NewBatch.
var hostPool = sync.Pool{New: func() any { return new(data.HostBatch) }}

// NewBatch returns the tensors of the batch of d's examples at indices,
// augmented as aug says with r: d.Fill, then FromHost, through a reused
// buffer. The caller owns the result and must Close it.
func NewBatch(d *data.Dataset, indices []int, aug data.Augment, r *rand.Rand) (*Batch, error) {
	h := hostPool.Get().(*data.HostBatch)
	defer hostPool.Put(h)
	if err := d.Fill(h, indices, aug, r); err != nil {
		return nil, err
	}
	return FromHost(h)
}

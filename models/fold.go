package models

import (
	"fmt"
	"sync"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// folds keeps the batch-norm folds of a model's inference passes (convBN)
// from one pass to the next: for each convolution, the weights w·α and the
// bias β it runs with (the weights channels-last when the model's
// activations are), made again only when one of the six tensors they come
// from (the convolution's weight and bias, the norm's scale, shift and
// running statistics) has been written since (torchx.Version: every
// in-place write through libtorch moves it, CopyIn of a landscape point,
// an optimiser's update through the packed buffer, torchx.Pack) or
// replaced by another tensor. A training pass, which moves the running
// statistics (libtorch's own batch-norm kernel without moving their
// versions), drops them all. A landscape point evaluates its 20 batches
// with one fold instead of 20, and without libtorch converting the
// weights' layout at every convolution. The zero value is empty; drop
// releases it.
type folds struct {
	mu      sync.Mutex
	entries map[*conv]*foldEntry
}

// foldEntry is one convolution's fold and what it was made from.
type foldEntry struct {
	src  [6]*ts.Tensor
	ver  [6]int64
	w, b *ts.Tensor
}

// sources lists the tensors a fold of c and b depends on (c.b may be nil).
func sources(c *conv, b *batchNorm) [6]*ts.Tensor {
	return [6]*ts.Tensor{c.w, c.b, b.w, b.b, b.mean, b.vr}
}

// versions returns the version of each source (0 for a nil one).
func versions(src [6]*ts.Tensor) [6]int64 {
	var v [6]int64
	for i, t := range src {
		if t != nil {
			v[i] = torchx.Version(t)
		}
	}
	return v
}

// get returns the folded weight and bias of c and b as new handles the
// caller owns (a pass registers them with its scope, so a later refold
// dropping the cached ones cannot free what the pass still uses), folding
// them first when there is no current fold.
func (fs *folds) get(c *conv, b *batchNorm) (w, bias *ts.Tensor, err error) {
	src := sources(c, b)
	ver := versions(src)
	for i, t := range src {
		if t != nil && (ver[i] < 0 || torchx.HasTangent(t)) {
			// A forward-mode pass (J v of the GGN): the fold must carry
			// the tangents of the weights; or a tensor without a version
			// counter. The fold is made for this pass.
			e, err := fold(c, b)
			if err != nil {
				return nil, nil, err
			}
			return e.w, e.b, nil
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	e := fs.entries[c]
	if e == nil || e.src != src || e.ver != ver {
		ne, err := fold(c, b)
		if err != nil {
			return nil, nil, err
		}
		ne.src, ne.ver = src, ver
		if e != nil {
			torchx.DropAll([]*ts.Tensor{e.w, e.b})
		}
		if fs.entries == nil {
			fs.entries = map[*conv]*foldEntry{}
		}
		fs.entries[c] = ne
		e = ne
	}
	if w, err = e.w.ShallowClone(); err != nil {
		return nil, nil, fmt.Errorf("models: folded weight: %w", err)
	}
	if bias, err = e.b.ShallowClone(); err != nil {
		_ = w.Drop()
		return nil, nil, fmt.Errorf("models: folded bias: %w", err)
	}
	return w, bias, nil
}

// fold computes c's folded weight w·α (channels-last when the model's
// activations are) and bias β + c.b·α, outside any pass's scope.
func fold(c *conv, b *batchNorm) (*foldEntry, error) {
	var tmp fwd // its scope holds the intermediates
	defer tmp.s.Close()
	alpha, beta := tmp.bnCoeffs(b)
	if !tmp.ok(alpha, beta) {
		return nil, tmp.err
	}
	w := tmp.t(c.w.Mul(tmp.reshape(alpha, -1, 1, 1, 1), false))
	if channelsLast {
		w = tmp.t(torchx.ChannelsLast(w))
	}
	bias := beta
	if c.b != nil {
		bias = tmp.t(beta.Add(tmp.t(c.b.Mul(alpha, false)), false))
	}
	if !tmp.ok(w, bias) {
		return nil, tmp.err
	}
	// New handles to keep past the scope's Close.
	kw, err := w.ShallowClone()
	if err != nil {
		return nil, fmt.Errorf("models: fold: %w", err)
	}
	kb, err := bias.ShallowClone()
	if err != nil {
		_ = kw.Drop()
		return nil, fmt.Errorf("models: fold: %w", err)
	}
	return &foldEntry{w: kw, b: kb}, nil
}

// drop releases every fold.
func (fs *folds) drop() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, e := range fs.entries {
		torchx.DropAll([]*ts.Tensor{e.w, e.b})
	}
	fs.entries = nil
}

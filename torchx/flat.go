package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Pack moves tensors (contiguous, of one element type and device; usually
// a model's trainable parameters) into one new 1-D buffer, in order, and
// returns the buffer, owned by the caller: each tensor keeps its values,
// shape and identity (every holder of it sees the change) but from now on
// is a view of its slice of the buffer, sharing the buffer's version
// counter (Version) as a view does. An optimiser can then update all
// of them with a few operations on the buffer instead of a few per tensor.
// The buffer must outlive the tensors' use (dropping it while they are in
// use is safe: they keep the storage alive).
func Pack(tensors []*ts.Tensor) (*ts.Tensor, error) {
	if len(tensors) == 0 {
		return nil, fmt.Errorf("torchx: pack: no tensors")
	}
	in := cTensors(tensors)
	var out C.vp_tensor
	if err := errFrom(C.vp_flatten(&in[0], C.int(len(in)), &out)); err != nil {
		return nil, fmt.Errorf("torchx: pack: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// Views returns views of the 1-D tensor flat with the given shapes, in
// order, covering it: the layout Pack gives. The views are owned by the
// caller (dropping them leaves flat alone).
func Views(flat *ts.Tensor, shapes [][]int64) ([]*ts.Tensor, error) {
	size, err := flat.Size()
	if err != nil {
		return nil, fmt.Errorf("torchx: views: %w", err)
	}
	var total int64
	for _, s := range shapes {
		total += numel(s)
	}
	if len(size) != 1 || size[0] != total {
		return nil, fmt.Errorf("torchx: views: a buffer of shape %v for %d elements", size, total)
	}
	out := make([]*ts.Tensor, 0, len(shapes))
	var off int64
	for _, s := range shapes {
		k := numel(s)
		n, err := flat.Narrow(0, off, k, false)
		if err != nil {
			DropAll(out)
			return nil, fmt.Errorf("torchx: views: %w", err)
		}
		v, err := n.View(s, true)
		if err != nil {
			DropAll(out)
			return nil, fmt.Errorf("torchx: views: %w", err)
		}
		out = append(out, v)
		off += k
	}
	return out, nil
}

// GradInto computes d loss / d params for a scalar loss and writes them, in
// the order of params, into the 1-D tensor flat (zeros for a parameter the
// loss does not depend on): the layout of Pack. The graph of loss is freed.
// The values are Grad's, bit for bit.
func GradInto(flat, loss *ts.Tensor, params []*ts.Tensor) error {
	if len(params) == 0 {
		return fmt.Errorf("torchx: gradient with respect to no parameters")
	}
	in := cTensors(params)
	if err := errFrom(C.vp_grad_into(C.vp_tensor(loss.Ctensor()), &in[0], C.int(len(in)), C.vp_tensor(flat.Ctensor()))); err != nil {
		return fmt.Errorf("torchx: gradient: %w", err)
	}
	return nil
}

// ClipFlat is ClipGradNorm for gradients held in one buffer: views are the
// per-parameter views of flat (Views), whose norms make the total norm as
// torch.nn.utils.clip_grad_norm_ computes it (the same numbers, bit for
// bit), and flat is scaled with one operation. It returns the norm before
// clipping.
func ClipFlat(views []*ts.Tensor, flat *ts.Tensor, maxNorm float64) (float64, error) {
	if len(views) == 0 {
		return 0, fmt.Errorf("torchx: clip: no gradients")
	}
	v := cTensors(views)
	var total C.double
	if err := errFrom(C.vp_clip_flat(&v[0], C.int(len(v)), C.vp_tensor(flat.Ctensor()), C.double(maxNorm), &total)); err != nil {
		return 0, fmt.Errorf("torchx: clip: %w", err)
	}
	return float64(total), nil
}

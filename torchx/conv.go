package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Conv2d is a 2-D convolution (square stride and padding, dilation 1; b
// may be nil) whose values and gradients are libtorch's conv2d's, bit for
// bit, and whose second derivatives (Hessian-vector products) are made of
// convolutions and convolution backward passes only, which oneDNN runs.
// libtorch 1.13's own double backward computes a strided convolution's
// transposed term on its slow im2col path. Third derivatives are an error.
// Inputs that carry a forward-mode tangent (DualLevel) go through
// libtorch's own convolution, since libtorch 1.13 runs no forward mode
// through custom operators. The caller owns the result.
func Conv2d(x, w, b *ts.Tensor, stride, pad, groups int64) (*ts.Tensor, error) {
	var cb C.vp_tensor
	if b != nil {
		cb = C.vp_tensor(b.Ctensor())
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_conv2d(C.vp_tensor(x.Ctensor()), C.vp_tensor(w.Ctensor()), cb, C.longlong(stride), C.longlong(pad), C.longlong(groups), &out)); err != nil {
		return nil, fmt.Errorf("torchx: conv2d: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// ConvInfer is ReLU(conv2d(x, w) + b + res) (square stride and padding,
// dilation 1, one group; b and res may be nil, relu selects the ReLU) for
// inference passes: with gradients on (torchx.NoGrad turns them off) no
// argument may require one, since no graph is recorded. The
// convolution, the addition and the ReLU run as one oneDNN primitive that
// writes the map once, where conv2d, add and relu would each read and
// write it; the values agree with those operators' to float32 rounding.
// x may have any layout (the standard or channels-last: oneDNN reads it in
// place); res, which must have the result's shape, is only read (copied
// into the result first). The result is channels-last and owned by the
// caller. Arguments that carry a forward-mode tangent (DualLevel) go
// through libtorch's convolution, addition and ReLU, which carry it.
func ConvInfer(x, w, b, res *ts.Tensor, stride, pad int64, relu bool) (*ts.Tensor, error) {
	return convInfer(x, w, b, res, stride, pad, relu, false)
}

// ConvInferAdd is ConvInfer written into res's memory: res is overwritten
// with ReLU(conv2d(x, w) + b + res), and the result is a new handle to that
// memory, owned by the caller. It saves ConvInfer's copy of res when
// nothing else reads res afterwards. A res that is not channels-last, or
// that shares x's memory, is not overwritten (the result is then a new
// tensor, as ConvInfer's).
func ConvInferAdd(res, x, w, b *ts.Tensor, stride, pad int64, relu bool) (*ts.Tensor, error) {
	if res == nil {
		return nil, fmt.Errorf("torchx: conv_infer: no residual to add into")
	}
	return convInfer(x, w, b, res, stride, pad, relu, true)
}

func convInfer(x, w, b, res *ts.Tensor, stride, pad int64, relu, inplace bool) (*ts.Tensor, error) {
	var cb, cres C.vp_tensor
	if b != nil {
		cb = C.vp_tensor(b.Ctensor())
	}
	if res != nil {
		cres = C.vp_tensor(res.Ctensor())
	}
	var r, in C.int
	if relu {
		r = 1
	}
	if inplace {
		in = 1
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_conv_infer(C.vp_tensor(x.Ctensor()), C.vp_tensor(w.Ctensor()), cb, cres, C.longlong(stride), C.longlong(pad), r, in, &out)); err != nil {
		return nil, fmt.Errorf("torchx: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

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

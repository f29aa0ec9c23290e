package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// ChannelsLast returns the 4-D tensor t laid out channels-last (the
// strides of an (N, H, W, C) array; the same logical shape and values), a
// differentiable operation. Convolutions of such a tensor run in oneDNN
// without converting the layout at every call, and their outputs stay
// channels-last. A tensor of one channel (an image batch of MNIST) keeps
// its memory, read through channels-last strides: libtorch takes the
// strides as the layout, so the first convolution then runs channels-last
// too instead of in the standard layout with a conversion of its output
// each way. The caller owns the result (which may share t's storage when
// t already is channels-last or has one channel).
func ChannelsLast(t *ts.Tensor) (*ts.Tensor, error) {
	var out C.vp_tensor
	if err := errFrom(C.vp_channels_last(C.vp_tensor(t.Ctensor()), &out)); err != nil {
		return nil, fmt.Errorf("torchx: channels-last: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// Strides returns t's strides, in elements, one per dimension: for a 4-D
// map, (C·H·W, H·W, W, 1) in the standard layout and (H·W·C, 1, W·C, C)
// channels-last.
func Strides(t *ts.Tensor) ([]int64, error) {
	var buf [16]C.longlong
	var n C.int
	if err := errFrom(C.vp_strides(C.vp_tensor(t.Ctensor()), &buf[0], C.int(len(buf)), &n)); err != nil {
		return nil, fmt.Errorf("torchx: strides: %w", err)
	}
	out := make([]int64, int(n))
	for i := range out {
		out[i] = int64(buf[i])
	}
	return out, nil
}

// Gelu returns GELU(t) (the erf form, as libtorch's gelu), a
// differentiable operation. On a channels-last 4-D tensor it runs on the
// contiguous (N, H, W, C) view of the same memory and returns a
// channels-last result: libtorch 1.13's GELU kernels take a scalar path on
// channels-last maps, 9-20 times slower forward and 6 times slower
// backward (measured on this project's VM). The values agree with
// libtorch's gelu to float32 rounding (the two paths round erf
// differently). The caller owns the result.
func Gelu(t *ts.Tensor) (*ts.Tensor, error) {
	var out C.vp_tensor
	if err := errFrom(C.vp_gelu(C.vp_tensor(t.Ctensor()), &out)); err != nil {
		return nil, fmt.Errorf("torchx: gelu: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// LayerNorm returns layer_norm(x) over the last dimension, with weight w
// and bias b (both of that dimension's size) and epsilon eps, a
// differentiable operation. Its values and first-order gradients are
// libtorch's own (native_layer_norm and its backward); where autograd
// records it (float32 on the CPU, no forward-mode tangent) its double
// backward, which Hessian-vector products run, is one fused pass over the
// rows instead of libtorch 1.13's composite of about forty operators. The
// caller owns the result.
func LayerNorm(x, w, b *ts.Tensor, eps float64) (*ts.Tensor, error) {
	if x == nil || w == nil || b == nil {
		return nil, fmt.Errorf("torchx: layer norm: input, weight and bias are all required")
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_layer_norm(C.vp_tensor(x.Ctensor()), C.vp_tensor(w.Ctensor()), C.vp_tensor(b.Ctensor()),
		C.double(eps), &out)); err != nil {
		return nil, fmt.Errorf("torchx: layer norm: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

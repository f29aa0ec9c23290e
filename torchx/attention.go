package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Attention computes multi-head self-attention in one fused operator:
// for every sequence g and head h, softmax(scale·Q Kᵀ + bias)·V, where Q,
// K and V are the head's slices of qkv. qkv is (G, N, 3·heads·d) float32 on
// the CPU with the channels of each token packed as [q of heads 0..H-1 | k
// of every head | v of every head] (what a qkv linear layer of width 3·D
// produces); bias is nil or (N, N), added to every head's logits. The
// result is (G, N, heads·d), heads side by side, owned by the caller.
//
// Its backward and double-backward passes are fused too, so gradients and
// Hessian-vector products through it are exact (to float32 rounding) and
// cheap; third derivatives are an error. Inputs that carry a forward-mode
// tangent (DualLevel) go through the composite of libtorch's operators
// instead, since libtorch 1.13 runs no forward mode through custom
// operators. The numbers agree with the
// composite (matmul, softmax, matmul) to float32 rounding, not bit for bit.
func Attention(qkv, bias *ts.Tensor, heads int64, scale float64) (*ts.Tensor, error) {
	if qkv == nil {
		return nil, fmt.Errorf("torchx: attention: nil qkv")
	}
	var b C.vp_tensor
	if bias != nil {
		b = C.vp_tensor(bias.Ctensor())
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_attention(C.vp_tensor(qkv.Ctensor()), b, C.longlong(heads), C.double(scale), &out)); err != nil {
		return nil, fmt.Errorf("torchx: attention: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// BatchNormTrain is batch norm with batch statistics, as in training:
// y = (x − μ)/sqrt(σ² + eps)·w + b per channel of the (N, C, H, W) map x,
// μ and σ² the mean and biased variance over N, H and W, and the running
// statistics (nil for none) updated in place as torch.nn.BatchNorm2d does
// (momentum; the unbiased variance). It is differentiable (twice).
//
// Channels-last float32 maps on the CPU take vitprobe's own kernel, whose
// per-channel sums run in double: libtorch 1.13's channels-last kernel
// sums in float32, which on maps whose mean is large against their spread
// loses digits in proportion (its gradients of an AlterNet with spatial
// smoothing were 1e-3 away from float64, against 1e-6 in the standard
// layout). Other inputs take libtorch's batch_norm. The caller owns the
// result.
func BatchNormTrain(x, w, b, runningMean, runningVar *ts.Tensor, momentum, eps float64) (*ts.Tensor, error) {
	if x == nil || w == nil || b == nil {
		return nil, fmt.Errorf("torchx: batch norm: nil input, weight or bias")
	}
	var rm, rv C.vp_tensor
	if runningMean != nil {
		rm = C.vp_tensor(runningMean.Ctensor())
	}
	if runningVar != nil {
		rv = C.vp_tensor(runningVar.Ctensor())
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_batch_norm_train(C.vp_tensor(x.Ctensor()), C.vp_tensor(w.Ctensor()), C.vp_tensor(b.Ctensor()),
		rm, rv, C.double(momentum), C.double(eps), &out)); err != nil {
		return nil, fmt.Errorf("torchx: batch norm: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

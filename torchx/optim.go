package torchx

// #include "shim.h"
import "C"

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// AdamWStep applies one AdamW update in place: decoupled weight decay, then
// the Adam moments m and v (updated in place), with bias correction for
// step (counted from 1). It is torch.optim.AdamW's single-tensor update of
// PyTorch 1.13, operation for operation, so runs compare bit for bit.
func AdamWStep(params, grads, m, v []*ts.Tensor, lr, beta1, beta2, eps, weightDecay float64, step int64) error {
	n := len(params)
	if len(grads) != n || len(m) != n || len(v) != n || n == 0 {
		return fmt.Errorf("torchx: AdamW: %d params, %d grads, %d and %d moments", n, len(grads), len(m), len(v))
	}
	if step < 1 {
		return fmt.Errorf("torchx: AdamW: step %d, want >= 1", step)
	}
	p, g, mm, vv := cTensors(params), cTensors(grads), cTensors(m), cTensors(v)
	err := errFrom(C.vp_adamw_step(&p[0], &g[0], &mm[0], &vv[0], C.int(n), C.double(lr), C.double(beta1),
		C.double(beta2), C.double(eps), C.double(weightDecay), C.longlong(step)))
	if err != nil {
		return fmt.Errorf("torchx: AdamW: %w", err)
	}
	return nil
}

// ClipGradNorm scales grads in place so that their joint 2-norm is at most
// maxNorm, as torch.nn.utils.clip_grad_norm_ does (always multiplying by
// min(1, maxNorm/(norm + 1e-6))), and returns the norm before clipping.
func ClipGradNorm(grads []*ts.Tensor, maxNorm float64) (float64, error) {
	if len(grads) == 0 {
		return 0, fmt.Errorf("torchx: clip: no gradients")
	}
	g := cTensors(grads)
	var total C.double
	if err := errFrom(C.vp_clip_grad_norm(&g[0], C.int(len(g)), C.double(maxNorm), &total)); err != nil {
		return 0, fmt.Errorf("torchx: clip: %w", err)
	}
	return float64(total), nil
}

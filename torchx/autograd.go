package torchx

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// Grad returns d loss / d params for a scalar loss, one new tensor per
// parameter (zeros for a parameter the loss does not depend on). The graph of
// loss is freed afterwards. The caller owns the returned tensors.
func Grad(loss *ts.Tensor, params []*ts.Tensor) ([]*ts.Tensor, error) {
	return grad(loss, params, false)
}

func grad(loss *ts.Tensor, params []*ts.Tensor, createGraph bool) ([]*ts.Tensor, error) {
	if len(params) == 0 {
		return nil, errors.New("torchx: gradient with respect to no parameters")
	}
	in := cTensors(params)
	out := make([]C.vp_tensor, len(params))
	cg := C.int(0)
	if createGraph {
		cg = 1
	}
	err := errFrom(C.vp_grad(C.vp_tensor(loss.Ctensor()), &in[0], C.int(len(in)), cg, cg, &out[0]))
	if err != nil {
		if op := MissingDerivative(err); op != "" {
			return nil, fmt.Errorf("torchx: gradient: libtorch has no derivative for %s", op)
		}
		return nil, fmt.Errorf("torchx: gradient: %w", err)
	}
	return goTensors(out), nil
}

// HVP computes Hessian-vector products of one scalar loss with respect to a
// list of parameters. It keeps the first-order gradient graph alive, so k
// products on the same batch cost one forward and backward pass plus k
// double-backward passes. Close releases the graph; an HVP is not safe for
// concurrent use and must be used on the OS thread that built the loss.
type HVP struct {
	params []*ts.Tensor
	grads  []*ts.Tensor
}

// NewHVP differentiates loss once, keeping the graph for second derivatives.
// params are borrowed: they must outlive the HVP.
func NewHVP(loss *ts.Tensor, params []*ts.Tensor) (*HVP, error) {
	g, err := grad(loss, params, true)
	if err != nil {
		return nil, err
	}
	return &HVP{params: params, grads: g}, nil
}

// Grads returns the first-order gradients (owned by h, valid until Close).
func (h *HVP) Grads() []*ts.Tensor { return h.grads }

// Apply returns H·v, one new tensor per parameter, owned by the caller.
// v must have the parameters' shapes.
func (h *HVP) Apply(v []*ts.Tensor) ([]*ts.Tensor, error) {
	if h.grads == nil {
		return nil, errors.New("torchx: HVP used after Close")
	}
	if len(v) != len(h.params) {
		return nil, fmt.Errorf("torchx: HVP: %d vectors for %d parameters", len(v), len(h.params))
	}
	g := cTensors(h.grads)
	p := cTensors(h.params)
	vv := cTensors(v)
	out := make([]C.vp_tensor, len(v))
	if err := errFrom(C.vp_hvp(&g[0], &p[0], &vv[0], C.int(len(v)), &out[0])); err != nil {
		return nil, fmt.Errorf("torchx: Hessian-vector product: %w", secondDerivativeError(err))
	}
	return goTensors(out), nil
}

// Close drops the first-order gradients and with them the graph. It is safe
// to call more than once.
func (h *HVP) Close() {
	DropAll(h.grads)
	h.grads = nil
}

package torchx

// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// GradDot returns the gradient of Σ_i <outs[i], v[i]> with respect to each
// tensor of wrt, one new tensor per input (zeros for an input the sum does
// not depend on): with outs the outputs of a function of wrt, the
// vector-Jacobian product Jᵀv. createGraph keeps the graph of the result
// (for a further derivative); retainGraph keeps the graph of outs (for
// further products). The caller owns the returned tensors.
func GradDot(outs, v, wrt []*ts.Tensor, createGraph, retainGraph bool) ([]*ts.Tensor, error) {
	switch {
	case len(outs) == 0 || len(wrt) == 0:
		return nil, errors.New("torchx: GradDot of no outputs or with respect to no inputs")
	case len(v) != len(outs):
		return nil, fmt.Errorf("torchx: GradDot: %d vectors for %d outputs", len(v), len(outs))
	}
	o := cTensors(outs)
	vv := cTensors(v)
	w := cTensors(wrt)
	res := make([]C.vp_tensor, len(wrt))
	err := errFrom(C.vp_grad_dot(&o[0], &vv[0], C.int(len(o)), &w[0], C.int(len(w)),
		cbool(createGraph), cbool(retainGraph), &res[0]))
	if err != nil {
		return nil, fmt.Errorf("torchx: vector-Jacobian product: %w", err)
	}
	return goTensors(res), nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Jacobian computes products with the Jacobian J = ∂out/∂params of a
// tensor out (a model's logits, say) with respect to a list of parameters,
// on out's kept graph:
//   - Jᵀu (ApplyT) is one backward pass from out;
//   - J v (Apply) uses the double-vjp trick: g(u) = Jᵀu is computed once
//     with its graph, for a placeholder u that requires grad; g is linear
//     in u, so J v = ∂<g(u), v>/∂u, one backward pass through g's graph
//     (a double-backward pass, the cost of a Hessian-vector product).
//
// It is not safe for concurrent use and must be used on the OS thread
// that built out; out and params are borrowed and must outlive it.
type Jacobian struct {
	out    *ts.Tensor
	params []*ts.Tensor
	u      *ts.Tensor   // placeholder cotangent, requires grad
	g      []*ts.Tensor // Jᵀu with its graph
}

// NewJacobian prepares the products of out's Jacobian: one backward pass
// that keeps its graph. Grad mode must be on.
func NewJacobian(out *ts.Tensor, params []*ts.Tensor) (*Jacobian, error) {
	if out == nil || len(params) == 0 {
		return nil, errors.New("torchx: Jacobian of no output or with respect to no parameters")
	}
	z, err := out.ZerosLike(false)
	if err != nil {
		return nil, fmt.Errorf("torchx: Jacobian: %w", err)
	}
	u, err := z.SetRequiresGrad(true, true)
	if err != nil {
		_ = z.Drop()
		return nil, fmt.Errorf("torchx: Jacobian: %w", err)
	}
	g, err := GradDot([]*ts.Tensor{out}, []*ts.Tensor{u}, params, true, true)
	if err != nil {
		_ = u.Drop()
		return nil, err
	}
	return &Jacobian{out: out, params: params, u: u, g: g}, nil
}

// Apply returns J v, shaped like out, owned by the caller; v must have the
// parameters' shapes.
func (j *Jacobian) Apply(v []*ts.Tensor) (*ts.Tensor, error) {
	if j.g == nil {
		return nil, errors.New("torchx: Jacobian used after Close")
	}
	if len(v) != len(j.params) {
		return nil, fmt.Errorf("torchx: Jacobian: %d vectors for %d parameters", len(v), len(j.params))
	}
	r, err := GradDot(j.g, v, []*ts.Tensor{j.u}, false, true)
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// ApplyT returns Jᵀu, one tensor per parameter, owned by the caller; u
// must have out's shape.
func (j *Jacobian) ApplyT(u *ts.Tensor) ([]*ts.Tensor, error) {
	if j.g == nil {
		return nil, errors.New("torchx: Jacobian used after Close")
	}
	return GradDot([]*ts.Tensor{j.out}, []*ts.Tensor{u}, j.params, false, true)
}

// Close drops the kept graphs. It is safe to call more than once.
func (j *Jacobian) Close() {
	DropAll(j.g)
	j.g = nil
	if j.u != nil {
		_ = j.u.Drop()
		j.u = nil
	}
}

// DualLevel is a level of libtorch's forward-mode automatic
// differentiation: tensors given a tangent at this level carry, through
// every operation that supports forward mode, the directional derivative
// of their results. Setting the tangents of a model's parameters to v and
// running the forward pass gives J v alongside the logits, without a
// backward pass. Exit drops every tangent of the level.
type DualLevel struct {
	level C.ulonglong
	open  bool
}

// EnterDual opens a new forward-mode level.
func EnterDual() (*DualLevel, error) {
	d := &DualLevel{}
	if err := errFrom(C.vp_fw_enter(&d.level)); err != nil {
		return nil, fmt.Errorf("torchx: forward-mode level: %w", err)
	}
	d.open = true
	return d, nil
}

// SetTangent attaches tangent (borrowed; same shape as t) to t.
func (d *DualLevel) SetTangent(t, tangent *ts.Tensor) error {
	if !d.open {
		return errors.New("torchx: forward-mode level used after Exit")
	}
	if err := errFrom(C.vp_fw_set(C.vp_tensor(t.Ctensor()), C.vp_tensor(tangent.Ctensor()), d.level)); err != nil {
		return fmt.Errorf("torchx: set tangent: %w", err)
	}
	return nil
}

// Tangent returns a copy of t's tangent at this level (zeros when it has
// none), owned by the caller.
func (d *DualLevel) Tangent(t *ts.Tensor) (*ts.Tensor, error) {
	if !d.open {
		return nil, errors.New("torchx: forward-mode level used after Exit")
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_fw_get(C.vp_tensor(t.Ctensor()), d.level, &out)); err != nil {
		return nil, fmt.Errorf("torchx: get tangent: %w", err)
	}
	return goTensors([]C.vp_tensor{out})[0], nil
}

// HasTangent reports whether t carries a forward-mode tangent (libtorch
// 1.13 has one level, so at any open DualLevel).
func HasTangent(t *ts.Tensor) bool { return C.vp_has_tangent(C.vp_tensor(t.Ctensor())) != 0 }

// Exit closes the level. It is safe to call more than once.
func (d *DualLevel) Exit() error {
	if !d.open {
		return nil
	}
	d.open = false
	if err := errFrom(C.vp_fw_exit(d.level)); err != nil {
		return fmt.Errorf("torchx: forward-mode level: %w", err)
	}
	return nil
}

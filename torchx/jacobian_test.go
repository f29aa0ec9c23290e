package torchx_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// explicitJacobian returns the Jacobian of the real network's logits with
// respect to its parameters, row by row: row r is the exact gradient
// (torchx.Grad) of logit r, each from its own forward pass.
func explicitJacobian(t *testing.T, n *realNet) (jac [][]float64, rows int) {
	t.Helper()
	probe := n.logits()
	shape := must(probe.Size())
	probe.MustDrop()
	rows = int(shape[0] * shape[1])
	onehot := make([]float64, rows)
	for r := range rows {
		onehot[r] = 1
		mask := must(torchx.FromSlice(onehot, shape, gotch.Double))
		onehot[r] = 0
		logits := n.logits()
		one := must(logits.Mul(mask, false))
		sum := must(one.Sum(gotch.Double, false))
		g := must(torchx.Grad(sum, n.params))
		jac = append(jac, flat(t, g))
		torchx.DropAll(append(g, mask, logits, one, sum))
	}
	return jac, rows
}

// TestJacobianProducts checks J v and Jᵀu of torchx.Jacobian (the
// double-vjp trick and one backward pass) and J v by forward-mode AD
// (DualLevel) against the explicit Jacobian of the float64 real network,
// for random v and u: all three agree to rounding (1e-12 relative), since
// each is exact up to the order of float64 sums.
func TestJacobianProducts(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := torchx.SetGradEnabled(true)
	defer torchx.SetGradEnabled(prev)
	n := newRealNet(t)
	jac, rows := explicitJacobian(t, n)
	dim := len(jac[0])
	rng := rand.New(rand.NewPCG(3, 4))
	v := make([]float64, dim)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	u := make([]float64, rows)
	for i := range u {
		u[i] = rng.NormFloat64()
	}
	wantJv := make([]float64, rows)
	wantJtu := make([]float64, dim)
	for r, row := range jac {
		for i, x := range row {
			wantJv[r] += x * v[i]
			wantJtu[i] += x * u[r]
		}
	}

	logits := n.logits()
	defer logits.MustDrop()
	j := must(torchx.NewJacobian(logits, n.params))
	defer j.Close()
	vt := must(torchx.Unflatten(v, n.params))
	defer torchx.DropAll(vt)
	for rep := range 2 { // the graphs are kept: a second product works
		jv := must(j.Apply(vt))
		got := flat(t, []*ts.Tensor{jv})
		jv.MustDrop()
		if e := relErr(got, wantJv); e > 1e-12 {
			t.Errorf("J v (double vjp), product %d: relative error %.2g", rep+1, e)
		}
	}
	ut := must(torchx.FromSlice(u, must(logits.Size()), gotch.Double))
	defer ut.MustDrop()
	jtu := must(j.ApplyT(ut))
	if e := relErr(flat(t, jtu), wantJtu); e > 1e-12 {
		t.Errorf("Jᵀu: relative error %.2g", e)
	}
	torchx.DropAll(jtu)

	d := must(torchx.EnterDual())
	for i, p := range n.params {
		if err := d.SetTangent(p, vt[i]); err != nil {
			t.Fatal(err)
		}
	}
	fw := n.logits()
	tan := must(d.Tangent(fw))
	if err := d.Exit(); err != nil {
		t.Fatal(err)
	}
	got := flat(t, []*ts.Tensor{tan})
	torchx.DropAll([]*ts.Tensor{fw, tan})
	if e := relErr(got, wantJv); e > 1e-12 {
		t.Errorf("J v (forward mode): relative error %.2g", e)
	}
	// After Exit the parameters carry no tangent: a new forward pass has
	// none.
	d2 := must(torchx.EnterDual())
	defer d2.Exit()
	again := n.logits()
	none := must(d2.Tangent(again))
	if s := flat(t, []*ts.Tensor{none}); maxAbs(s) != 0 {
		t.Errorf("tangent survived Exit: %v", s[:4])
	}
	torchx.DropAll([]*ts.Tensor{again, none})
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, v, -v)
	}
	return m
}

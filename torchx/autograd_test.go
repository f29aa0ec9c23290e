package torchx_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// must panics on error: a failed torch call in a test is a test failure.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// pin locks the calling test's goroutine to its OS thread and sets
// libtorch's thread count on that thread (to the count in effect). A test that compares two runs bit
// for bit needs it: OpenMP keeps the thread count per OS thread, and
// oneDNN reads it without libtorch's lazy set-up, so a goroutine that moves
// to an OS thread where no torch code ran may run a convolution's weight
// gradient with another split of its reduction (a last-bit difference, seen
// once in 300 runs under load). The commands run on a locked main thread.
func pin(t testing.TB) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if _, err := torchx.SetThreads(torchx.Threads()); err != nil {
		t.Fatal(err)
	}
}

// scoped returns v as a tensor of kind k and the shape, registered with s:
// with grad, a leaf that requires its gradient.
func scoped(s *torchx.Scope, k gotch.DType, v []float64, shape []int64, grad bool) *ts.Tensor {
	x := s.Add(must(torchx.FromSlice(v, shape, k)))
	if grad {
		x = s.Add(must(x.SetRequiresGrad(true, false)))
	}
	return x
}

// leaf returns a float64 leaf tensor requiring grad.
func leaf(t testing.TB, vals []float64, shape ...int64) *ts.Tensor {
	t.Helper()
	x := must(torchx.FromSlice(vals, shape, gotch.Double))
	return must(x.SetRequiresGrad(true, true))
}

func flat(t testing.TB, list []*ts.Tensor) []float64 {
	t.Helper()
	n := must(torchx.Numel(list))
	out := make([]float64, n)
	if err := torchx.Flatten(out, list); err != nil {
		t.Fatal(err)
	}
	return out
}

func relErr(got, want []float64) float64 {
	var num, den float64
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / math.Max(den, 1e-300))
}

// quadratic returns 1/2 x'Ax for x = concat(flatten(params)).
func quadratic(t testing.TB, a []float64, n int, params []*ts.Tensor) *ts.Tensor {
	t.Helper()
	var s torchx.Scope
	defer s.Close()
	parts := make([]ts.Tensor, len(params))
	for i, p := range params {
		parts[i] = *s.Add(must(p.Reshape([]int64{-1}, false)))
	}
	x := s.Add(must(ts.Cat(parts, 0)))
	am := s.Add(must(torchx.FromSlice(a, []int64{int64(n), int64(n)}, gotch.Double)))
	ax := s.Add(must(am.Mv(x, false)))
	xax := s.Add(must(x.Dot(ax, false)))
	return must(xax.MulScalar(ts.FloatScalar(0.5), false))
}

func TestHVPQuadratic(t *testing.T) {
	const n = 7
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			v := r.NormFloat64() * 10
			a[i*n+j], a[j*n+i] = v, v
		}
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	p1 := leaf(t, x[:3], 3)
	p2 := leaf(t, x[3:], 2, 2)
	params := []*ts.Tensor{p1, p2}
	defer torchx.DropAll(params)
	loss := quadratic(t, a, n, params)
	defer loss.MustDrop()

	h := must(torchx.NewHVP(loss, params))
	defer h.Close()
	// The gradient of 1/2 x'Ax is Ax.
	ax := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			ax[i] += a[i*n+j] * x[j]
		}
	}
	if e := relErr(flat(t, h.Grads()), ax); e > 1e-12 {
		t.Errorf("gradient relative error %g", e)
	}
	// Several products on the same graph: H v = A v.
	for k := 0; k < 3; k++ {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		vt := must(torchx.Unflatten(v, params))
		hv := must(h.Apply(vt))
		want := make([]float64, n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				want[i] += a[i*n+j] * v[j]
			}
		}
		if e := relErr(flat(t, hv), want); e > 1e-5 {
			t.Errorf("product %d: relative error %g", k, e)
		}
		torchx.DropAll(vt)
		torchx.DropAll(hv)
	}
}

func TestHVPAfterClose(t *testing.T) {
	p := leaf(t, []float64{1, 2}, 2)
	defer p.MustDrop()
	l := must(p.Sum(gotch.Double, false))
	defer l.MustDrop()
	h := must(torchx.NewHVP(l, []*ts.Tensor{p}))
	h.Close()
	h.Close()
	if _, err := h.Apply([]*ts.Tensor{p}); err == nil {
		t.Fatal("Apply after Close: want an error")
	}
}

// TestHVPLinearLoss checks a loss whose gradient is constant: H = 0.
func TestHVPLinearLoss(t *testing.T) {
	p := leaf(t, []float64{1, 2, 3}, 3)
	defer p.MustDrop()
	l := must(p.Sum(gotch.Double, false))
	defer l.MustDrop()
	h := must(torchx.NewHVP(l, []*ts.Tensor{p}))
	defer h.Close()
	hv := must(h.Apply([]*ts.Tensor{p}))
	defer torchx.DropAll(hv)
	for _, v := range flat(t, hv) {
		if v != 0 {
			t.Fatalf("H v = %v, want 0", flat(t, hv))
		}
	}
}

func TestCubicHVP(t *testing.T) {
	// f = sum(x^3) at x = (1,2,3), v = 1: Hv = 6x.
	p := leaf(t, []float64{1, 2, 3}, 3)
	defer p.MustDrop()
	c := must(p.PowTensorScalar(ts.FloatScalar(3), false))
	l := must(c.Sum(gotch.Double, true))
	defer l.MustDrop()
	h := must(torchx.NewHVP(l, []*ts.Tensor{p}))
	defer h.Close()
	one := must(torchx.FromSlice([]float64{1, 1, 1}, []int64{3}, gotch.Double))
	defer one.MustDrop()
	hv := must(h.Apply([]*ts.Tensor{one}))
	defer torchx.DropAll(hv)
	got := flat(t, hv)
	want := []float64{6, 12, 18}
	if relErr(got, want) > 1e-12 {
		t.Fatalf("Hv = %v, want %v", got, want)
	}
}

func TestGradMatchesBackward(t *testing.T) {
	pin(t)
	r := rand.New(rand.NewPCG(3, 4))
	vals := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	w := leaf(t, vals(12), 3, 4)
	b := leaf(t, vals(3), 3)
	x := must(torchx.FromSlice(vals(20), []int64{5, 4}, gotch.Double))
	defer torchx.DropAll([]*ts.Tensor{w, b, x})
	loss := func() *ts.Tensor {
		y := must(ts.Linear(x, w, b))
		y2 := must(y.Tanh(true))
		return must(y2.Sum(gotch.Double, true))
	}
	l1 := loss()
	g := must(torchx.Grad(l1, []*ts.Tensor{w, b}))
	defer torchx.DropAll(g)
	l1.MustDrop()

	l2 := loss()
	if err := l2.Backward(); err != nil {
		t.Fatal(err)
	}
	l2.MustDrop()
	gw := must(w.Grad(false))
	gb := must(b.Grad(false))
	defer torchx.DropAll([]*ts.Tensor{gw, gb})
	got := flat(t, g)
	want := flat(t, []*ts.Tensor{gw, gb})
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d: Grad %v, backward %v", i, got[i], want[i])
		}
	}
}

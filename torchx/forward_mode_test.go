package torchx_test

import (
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestConv2dForwardMode checks Conv2d on inputs with forward-mode tangents
// (what the GGN's forward-mode products run): a convolution is bilinear, so
// the tangent of conv(x, w) + b is conv(ẋ, w) + conv(x, ẇ) + ḃ exactly,
// computed here with libtorch's conv2d in float64. The value must be the
// one without tangents, bit for bit.
func TestConv2dForwardMode(t *testing.T) {
	pin(t)
	r := rand.New(rand.NewPCG(5, 6))
	const n, cin, cout, hw, k, stride, pad = 2, 3, 4, 6, 3, 2, 1
	xs, ws, bs := []int64{n, cin, hw, hw}, []int64{cout, cin, k, k}, []int64{cout}
	xv, wv, bv := randVals(r, n*cin*hw*hw, 1), randVals(r, cout*cin*k*k, 0.3), randVals(r, cout, 0.5)
	txv, twv, tbv := randVals(r, int64(len(xv)), 1), randVals(r, int64(len(wv)), 1), randVals(r, cout, 1)
	var s torchx.Scope
	defer s.Close()
	mk := func(v []float64, shape []int64, k gotch.DType) *ts.Tensor {
		return s.Add(must(torchx.FromSlice(v, shape, k)))
	}
	x, w, b := mk(xv, xs, gotch.Float), mk(wv, ws, gotch.Float), mk(bv, bs, gotch.Float)
	plain := flat(t, []*ts.Tensor{s.Add(must(torchx.Conv2d(x, w, b, stride, pad, 1)))})

	d := must(torchx.EnterDual())
	defer d.Exit()
	for _, p := range []struct {
		t *ts.Tensor
		v []float64
		s []int64
	}{{x, txv, xs}, {w, twv, ws}, {b, tbv, bs}} {
		if err := d.SetTangent(p.t, mk(p.v, p.s, gotch.Float)); err != nil {
			t.Fatal(err)
		}
	}
	y := s.Add(must(torchx.Conv2d(x, w, b, stride, pad, 1)))
	tan := s.Add(must(d.Tangent(y)))
	if err := d.Exit(); err != nil {
		t.Fatal(err)
	}
	got, val := flat(t, []*ts.Tensor{tan}), flat(t, []*ts.Tensor{y})
	for i := range plain {
		if val[i] != plain[i] {
			t.Fatalf("value %d with tangents %v, without %v", i, val[i], plain[i])
		}
	}

	conv := func(x, w *ts.Tensor) *ts.Tensor {
		return s.Add(must(ts.Conv2d(x, w, ts.None, []int64{stride, stride}, []int64{pad, pad}, []int64{1, 1}, 1)))
	}
	xd, wd := mk(xv, xs, gotch.Double), mk(wv, ws, gotch.Double)
	want := s.Add(must(conv(mk(txv, xs, gotch.Double), wd).Add(conv(xd, mk(twv, ws, gotch.Double)), false)))
	want = s.Add(must(want.Add(s.Add(must(mk(tbv, bs, gotch.Double).Reshape([]int64{1, cout, 1, 1}, false))), false)))
	if e := relErr(got, flat(t, []*ts.Tensor{want})); !(e <= 1e-6) {
		t.Errorf("tangent: relative error %.3g against conv(ẋ, w) + conv(x, ẇ) + ḃ, want <= 1e-6", e)
	}
}

// TestAttentionForwardMode checks Attention on inputs with forward-mode
// tangents against a central difference of the float64 composite,
// (f(qkv + εv, B + εv_B) − f(qkv − εv, B − εv_B)) / 2ε with ε = 1e-5
// (truncation and rounding errors about 1e-10), on a window-sized case
// with the bias; float32 rounding allows 1e-5.
func TestAttentionForwardMode(t *testing.T) {
	pin(t)
	const g, n, h, dh = 3, 9, 2, 4
	const scale = 0.5
	r := rand.New(rand.NewPCG(7, 8))
	qs, bs := []int64{g, n, 3 * h * dh}, []int64{n, n}
	qv, bv := randVals(r, g*n*3*h*dh, 1), randVals(r, n*n, 0.5)
	tq, tb := randVals(r, int64(len(qv)), 1), randVals(r, n*n, 1)
	var s torchx.Scope
	defer s.Close()
	mk := func(v []float64, shape []int64, k gotch.DType) *ts.Tensor {
		return s.Add(must(torchx.FromSlice(v, shape, k)))
	}
	qkv, bias := mk(qv, qs, gotch.Float), mk(bv, bs, gotch.Float)
	d := must(torchx.EnterDual())
	defer d.Exit()
	if err := d.SetTangent(qkv, mk(tq, qs, gotch.Float)); err != nil {
		t.Fatal(err)
	}
	if err := d.SetTangent(bias, mk(tb, bs, gotch.Float)); err != nil {
		t.Fatal(err)
	}
	o := s.Add(must(torchx.Attention(qkv, bias, h, scale)))
	got := flat(t, []*ts.Tensor{s.Add(must(d.Tangent(o)))})
	if err := d.Exit(); err != nil {
		t.Fatal(err)
	}

	const eps = 1e-5
	at := func(sign float64) []float64 {
		q, b := make([]float64, len(qv)), make([]float64, len(bv))
		for i := range q {
			q[i] = qv[i] + sign*eps*tq[i]
		}
		for i := range b {
			b[i] = bv[i] + sign*eps*tb[i]
		}
		return flat(t, []*ts.Tensor{compositeAttention(&s, mk(q, qs, gotch.Double), mk(b, bs, gotch.Double), g, n, h, dh, scale)})
	}
	plus, minus := at(1), at(-1)
	want := make([]float64, len(plus))
	for i := range want {
		want[i] = (plus[i] - minus[i]) / (2 * eps)
	}
	if e := relErr(got, want); !(e <= 1e-5) {
		t.Errorf("tangent: relative error %.3g against the central difference, want <= 1e-5", e)
	}
}

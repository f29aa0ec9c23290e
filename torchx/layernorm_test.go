package torchx_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// lnLoss is Σ r⊙y + ½ Σ q⊙y² for y = layer_norm(x; w, b), by torchx's
// layer norm or libtorch's, in dtype k. The squared term makes the output
// gradient depend on y, so a Hessian-vector product runs every part of the
// double backward (the paths through gx, gw and gb, and the gradient with
// respect to the output gradient).
func lnLoss(s *torchx.Scope, k gotch.DType, fused bool, xv, wv, bv, rv, qv []float64, shape []int64) (loss *ts.Tensor, y *ts.Tensor, params []*ts.Tensor) {
	d := shape[len(shape)-1]
	x := scoped(s, k, xv, shape, true)
	w := scoped(s, k, wv, []int64{d}, true)
	b := scoped(s, k, bv, []int64{d}, true)
	if fused {
		y = s.Add(must(torchx.LayerNorm(x, w, b, 1e-6)))
	} else {
		y = s.Add(must(ts.LayerNorm(x, []int64{d}, w, b, 1e-6, false)))
	}
	r, q := scoped(s, k, rv, shape, false), scoped(s, k, qv, shape, false)
	lin := s.Add(must(s.Add(must(y.Mul(r, false))).Sum(k, false)))
	sq := s.Add(must(s.Add(must(s.Add(must(y.Mul(y, false))).Mul(q, false))).Sum(k, false)))
	half := ts.FloatScalar(0.5)
	defer half.MustDrop()
	loss = s.Add(must(lin.Add(s.Add(must(sq.MulScalar(half, false))), false)))
	return loss, y, []*ts.Tensor{x, w, b}
}

// TestLayerNormMatchesFloat64 checks torchx.LayerNorm in float32 against
// libtorch's layer_norm in float64: values, the gradient of a loss with
// respect to the input, weight and bias, and its Hessian-vector product,
// which runs the fused double backward against libtorch's composite one.
// Rows with a mean of 10 times their spread check that the statistics
// lose no digits.
func TestLayerNormMatchesFloat64(t *testing.T) {
	pin(t)
	for _, c := range []struct {
		name  string
		shape []int64
		mean  float64
	}{
		{"tokens", []int64{3, 5, 16}, 0},
		{"vit-mini rows", []int64{2, 65, 64}, 0},
		{"offset rows", []int64{9, 24}, 10},
		{"one row", []int64{1, 7}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s torchx.Scope
			defer s.Close()
			n, d := int64(1), c.shape[len(c.shape)-1]
			for _, v := range c.shape {
				n *= v
			}
			r := rand.New(rand.NewPCG(uint64(n), 11))
			xv := randVals(r, n, 1)
			for i := range xv {
				xv[i] = float64(float32(xv[i] + c.mean)) // the float32 input exactly
			}
			wv, bv := randVals(r, d, 1), randVals(r, d, 1)
			for _, v := range [][]float64{wv, bv} {
				for i := range v {
					v[i] = float64(float32(v[i]))
				}
			}
			rv, qv := randVals(r, n, 1), randVals(r, n, 1)
			vs := [][]float64{randVals(r, n, 1), randVals(r, d, 1), randVals(r, d, 1)}
			shapes := [][]int64{c.shape, {d}, {d}}
			run := func(k gotch.DType, fused bool) (y, g, hv []float64) {
				loss, out, params := lnLoss(&s, k, fused, xv, wv, bv, rv, qv, c.shape)
				h := must(torchx.NewHVP(loss, params))
				defer h.Close()
				v := make([]*ts.Tensor, 3)
				for i := range v {
					v[i] = scoped(&s, k, vs[i], shapes[i], false)
				}
				return flat(t, []*ts.Tensor{out}), flat(t, h.Grads()), flat(t, s.AddAll(must(h.Apply(v))))
			}
			y, g, hv := run(gotch.Float, true)
			wy, wg, whv := run(gotch.Double, false)
			for _, e := range []struct {
				what      string
				got, want []float64
				tol       float64
			}{{"values", y, wy, 3e-6}, {"gradient", g, wg, 3e-6}, {"Hessian-vector product", hv, whv, 1e-5}} {
				err := relErr(e.got, e.want)
				t.Logf("%s: relative error %.2g", e.what, err)
				if !(err <= e.tol) {
					t.Errorf("%s: relative error %.3g against libtorch in float64, want <= %g", e.what, err, e.tol)
				}
			}
		})
	}
}

// TestLayerNormOtherInputs: without a graph to record (no gradient wanted)
// or in float64, LayerNorm is libtorch's layer_norm, bit for bit; a weight
// of the wrong size is a one-line error, and a missing one is refused.
func TestLayerNormOtherInputs(t *testing.T) {
	pin(t)
	var s torchx.Scope
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []gotch.DType{gotch.Float, gotch.Double} {
		x := scoped(&s, k, randVals(r, 24, 1), []int64{4, 6}, false)
		w := scoped(&s, k, randVals(r, 6, 1), []int64{6}, false)
		b := scoped(&s, k, randVals(r, 6, 1), []int64{6}, false)
		got := flat(t, []*ts.Tensor{s.Add(must(torchx.LayerNorm(x, w, b, 1e-5)))})
		want := flat(t, []*ts.Tensor{s.Add(must(ts.LayerNorm(x, []int64{6}, w, b, 1e-5, false)))})
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v, no graph: entry %d is %v, libtorch's %v", k, i, got[i], want[i])
			}
		}
	}
	x := scoped(&s, gotch.Float, randVals(r, 24, 1), []int64{4, 6}, true)
	w := scoped(&s, gotch.Float, randVals(r, 5, 1), []int64{5}, true)
	b := scoped(&s, gotch.Float, randVals(r, 6, 1), []int64{6}, true)
	if _, err := torchx.LayerNorm(x, w, b, 1e-5); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("a weight of 5 for rows of 6: error %v, want one line", err)
	}
	if _, err := torchx.LayerNorm(x, nil, b, 1e-5); err == nil {
		t.Error("no weight: no error")
	}
}

package torchx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestConv2dMatchesLibtorch compares Conv2d with libtorch's conv2d on
// strided, padded, grouped, biased and channels-last convolutions, with
// and without a gradient for the input: the output and the gradients of a
// nonlinear loss (Σ r ⊙ y + ½ Σ y²) must be identical to the bit (they
// are the same libtorch calls), and a Hessian-vector product with respect
// to input, weight and bias must agree with libtorch's own double backward
// in float64 to float32 rounding (libtorch's float32 product is logged
// beside: the two are the same distance from float64, about 1e-7).
func TestConv2dMatchesLibtorch(t *testing.T) {
	for _, c := range []struct {
		cin, cout, k, stride, pad, groups int64
		bias, inputGrad, channelsLast     bool
	}{
		{4, 6, 3, 1, 1, 1, false, true, false},
		{4, 6, 3, 2, 1, 1, false, true, true},
		{4, 8, 1, 2, 0, 1, false, true, true},
		{4, 6, 3, 2, 1, 2, true, true, false},
		{1, 5, 3, 1, 1, 1, false, false, false},
		{3, 4, 2, 2, 0, 1, true, false, true},
	} {
		name := fmt.Sprintf("%dto%d_k%d_s%d_g%d_bias%v_xgrad%v_cl%v", c.cin, c.cout, c.k, c.stride, c.groups, c.bias, c.inputGrad, c.channelsLast)
		t.Run(name, func(t *testing.T) {
			pin(t)
			r := rand.New(rand.NewPCG(uint64(c.cin*100+c.cout), uint64(c.stride)))
			const n, hw = 3, 8
			xv := randVals(r, n*c.cin*hw*hw, 1)
			wv := randVals(r, c.cout*c.cin/c.groups*c.k*c.k, 0.3)
			bv := randVals(r, c.cout, 0.5)
			out := (hw+2*c.pad-c.k)/c.stride + 1
			rv := randVals(r, n*c.cout*out*out, 1)
			vx, vw, vb := randVals(r, int64(len(xv)), 1), randVals(r, int64(len(wv)), 1), randVals(r, c.cout, 1)
			type result struct{ y, g, hv []float64 }
			run := func(k gotch.DType, mine bool) result {
				var s torchx.Scope
				defer s.Close()
				mk := func(v []float64, shape []int64, grad bool) *ts.Tensor { return scoped(&s, k, v, shape, grad) }
				x := mk(xv, []int64{n, c.cin, hw, hw}, c.inputGrad)
				if c.channelsLast && k == gotch.Float {
					x = s.Add(must(torchx.ChannelsLast(x)))
				}
				w := mk(wv, []int64{c.cout, c.cin / c.groups, c.k, c.k}, true)
				params, vs := []*ts.Tensor{w}, []*ts.Tensor{mk(vw, []int64{c.cout, c.cin / c.groups, c.k, c.k}, false)}
				var b *ts.Tensor
				if c.bias {
					b = mk(bv, []int64{c.cout}, true)
					params, vs = append(params, b), append(vs, mk(vb, []int64{c.cout}, false))
				}
				if c.inputGrad {
					params, vs = append(params, x), append(vs, mk(vx, []int64{n, c.cin, hw, hw}, false))
				}
				var y *ts.Tensor
				if mine {
					y = s.Add(must(torchx.Conv2d(x, w, b, c.stride, c.pad, c.groups)))
				} else {
					bb := ts.None
					if b != nil {
						bb = b
					}
					y = s.Add(must(ts.Conv2d(x, w, bb, []int64{c.stride, c.stride}, []int64{c.pad, c.pad}, []int64{1, 1}, c.groups)))
				}
				loss := attnLoss(&s, y, mk(rv, []int64{n, c.cout, out, out}, false))
				h := must(torchx.NewHVP(loss, params))
				defer h.Close()
				hv := s.AddAll(must(h.Apply(vs)))
				return result{flat(t, []*ts.Tensor{y}), flat(t, h.Grads()), flat(t, hv)}
			}
			got, lib := run(gotch.Float, true), run(gotch.Float, false)
			ref := run(gotch.Double, false)
			for i := range lib.y {
				if got.y[i] != lib.y[i] {
					t.Fatalf("output %d: %v, conv2d %v", i, got.y[i], lib.y[i])
				}
			}
			for i := range lib.g {
				if got.g[i] != lib.g[i] {
					t.Fatalf("gradient %d: %v, conv2d %v", i, got.g[i], lib.g[i])
				}
			}
			e, el := relErr(got.hv, ref.hv), relErr(lib.hv, ref.hv)
			t.Logf("Hessian-vector product vs float64: %.2g (libtorch's float32: %.2g)", e, el)
			if !(e <= 2e-6) {
				t.Errorf("Hessian-vector product: relative error %.3g, want <= 2e-6", e)
			}
		})
	}
}

package torchx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestBatchNormTrainMatchesFloat64 compares BatchNormTrain on channels-last
// float32 maps with libtorch's batch_norm in float64 (standard layout): the
// output, the gradients of the nonlinear loss Σ r ⊙ y + ½ Σ y² with respect
// to x, w and b (the kernel's backward pass, and the composite one that a
// gradient with a graph takes), a Hessian-vector product of that loss, and
// the running statistics after two steps, each with the AVX2 row kernels
// (where the CPU has them) and with the generic ones, and the same for
// BatchNormReLU against batch_norm then relu and BatchNormAddReLU against
// batch_norm, the addition of a residual map, then relu (its gradient
// included). On maps whose mean is 1000 times their spread, libtorch's float32
// channels-last kernel is logged beside: it loses about three digits there
// (its output 3e-4 from float64), which is what the double sums avoid.
// Asked: 1e-6 for values, gradients and statistics, 1e-5 for the product
// (float32 outputs, and inputs such as the weights rounded to float32 on
// the way in); measured 4e-8..3e-7.
func TestBatchNormTrainMatchesFloat64(t *testing.T) {
	for _, c := range []struct {
		n, ch, hw   int64
		mean, scale float64
	}{
		{4, 8, 6, 0, 1},
		{3, 5, 7, 0, 1},
		{8, 16, 16, 100, 0.1},
		{2, 3, 33, 10, 1},
		{3, 40, 5, 5, 1}, // two strips of 16 channels and 8 after them
	} {
		for _, v := range []struct {
			simd bool
			op   string // "", "relu" or "addrelu"
		}{{true, ""}, {false, ""}, {true, "relu"}, {false, "relu"}, {true, "addrelu"}, {false, "addrelu"}} {
			simd, op := v.simd, v.op
			kernels := map[bool]string{true: "avx2", false: "generic"}[simd]
			if op != "" {
				kernels += "_" + op
			}
			name := map[string]string{"": "BatchNormTrain", "relu": "BatchNormReLU", "addrelu": "BatchNormAddReLU"}[op]
			t.Run(fmt.Sprintf("n%d_c%d_hw%d_mean%g_%s", c.n, c.ch, c.hw, c.mean, kernels), func(t *testing.T) {
				prev := torchx.BatchNormSIMD(simd)
				defer torchx.BatchNormSIMD(prev)
				r := rand.New(rand.NewPCG(uint64(c.ch), uint64(c.hw)))
				shape := []int64{c.n, c.ch, c.hw, c.hw}
				size := c.n * c.ch * c.hw * c.hw
				xv := randVals(r, size, c.scale)
				for i := range xv {
					// Rounded to float32 here, so that the float64 reference
					// sees the same map (float32 rounding of values near 100 is
					// already 4e-5 of a spread of 0.1).
					xv[i] = float64(float32(xv[i] + c.mean))
				}
				wv, bv := randVals(r, c.ch, 1), randVals(r, c.ch, 1)
				rv := randVals(r, size, 1)
				vx, vw, vb := randVals(r, size, 1), randVals(r, c.ch, 1), randVals(r, c.ch, 1)
				sv, vs := randVals(r, size, 1), randVals(r, size, 1) // the residual map, its direction
				rmv, rvv := randVals(r, c.ch, 1), randVals(r, c.ch, 0.1)
				for i := range rvv {
					rvv[i] += 1
				}
				type result struct{ y, g, g2, hv, stats []float64 }
				run := func(k gotch.DType, mine bool) result {
					var s torchx.Scope
					defer s.Close()
					mk := func(v []float64, shape []int64, grad bool) *ts.Tensor { return scoped(&s, k, v, shape, grad) }
					x := mk(xv, shape, true)
					w, b := mk(wv, []int64{c.ch}, true), mk(bv, []int64{c.ch}, true)
					rm, rvar := mk(rmv, []int64{c.ch}, false), mk(rvv, []int64{c.ch}, false)
					in := x
					if k == gotch.Float {
						in = s.Add(must(torchx.ChannelsLast(x)))
					}
					wrt := []*ts.Tensor{x, w, b}
					dirs := []*ts.Tensor{mk(vx, shape, false), mk(vw, []int64{c.ch}, false), mk(vb, []int64{c.ch}, false)}
					var res *ts.Tensor
					if op == "addrelu" {
						res = mk(sv, shape, true)
						wrt, dirs = append(wrt, res), append(dirs, mk(vs, shape, false))
					}
					bn := func() *ts.Tensor {
						switch {
						case mine && op == "relu":
							return s.Add(must(torchx.BatchNormReLU(in, w, b, rm, rvar, 0.1, 1e-5, nil, 0)))
						case mine && op == "addrelu":
							return s.Add(must(torchx.BatchNormAddReLU(in, w, b, res, rm, rvar, 0.1, 1e-5, nil, 0)))
						case mine:
							return s.Add(must(torchx.BatchNormTrain(in, w, b, rm, rvar, 0.1, 1e-5)))
						}
						y := s.Add(must(ts.BatchNorm(in, w, b, rm, rvar, true, 0.1, 1e-5, false)))
						if op == "addrelu" {
							y = s.Add(must(y.Add(res, false)))
						}
						if op != "" {
							y = s.Add(must(y.Relu(false)))
						}
						return y
					}
					y := bn()
					// The gradient without a graph (the kernel's backward
					// pass), then a second pass for the product (the
					// composite backward pass, differentiated).
					g := s.AddAll(must(torchx.Grad(attnLoss(&s, y, mk(rv, shape, false)), wrt)))
					y = bn()
					h := must(torchx.NewHVP(attnLoss(&s, y, mk(rv, shape, false)), wrt))
					defer h.Close()
					hv := s.AddAll(must(h.Apply(dirs)))
					return result{flat(t, []*ts.Tensor{y}), flat(t, g), flat(t, h.Grads()), flat(t, hv), flat(t, []*ts.Tensor{rm, rvar})}
				}
				got, lib, ref := run(gotch.Float, true), run(gotch.Float, false), run(gotch.Double, false)
				for _, x := range []struct {
					what     string
					a, l, rf []float64
					tol      float64
				}{
					{"output", got.y, lib.y, ref.y, 1e-6},
					{"gradient", got.g, lib.g, ref.g, 1e-6},
					{"gradient with a graph", got.g2, lib.g2, ref.g2, 1e-6},
					{"Hessian-vector product", got.hv, lib.hv, ref.hv, 1e-5},
					{"running statistics", got.stats, lib.stats, ref.stats, 1e-6},
				} {
					e, el := relErr(x.a, x.rf), relErr(x.l, x.rf)
					t.Logf("%s: %s vs float64 %.2g (libtorch's float32 channels-last kernel: %.2g)", x.what, name, e, el)
					if !(e <= x.tol) {
						t.Errorf("%s: relative error %.3g, want <= %g", x.what, e, x.tol)
					}
				}
			})
		}
	}
}

// TestBatchNormTrainOtherInputs checks that inputs the kernel does not take
// (the standard layout, float64) give libtorch's batch_norm, bit for bit.
func TestBatchNormTrainOtherInputs(t *testing.T) {
	pin(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []gotch.DType{gotch.Float, gotch.Double} {
		var s torchx.Scope
		x := s.Add(must(torchx.FromSlice(randVals(r, 2*3*4*4, 1), []int64{2, 3, 4, 4}, k)))
		w := s.Add(must(torchx.FromSlice(randVals(r, 3, 1), []int64{3}, k)))
		b := s.Add(must(torchx.FromSlice(randVals(r, 3, 1), []int64{3}, k)))
		got := flat(t, []*ts.Tensor{s.Add(must(torchx.BatchNormTrain(x, w, b, nil, nil, 0.1, 1e-5)))})
		want := flat(t, []*ts.Tensor{s.Add(must(ts.BatchNorm(x, w, b, ts.None, ts.None, true, 0.1, 1e-5, false)))})
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v, element %d: %v, batch_norm %v", k, i, got[i], want[i])
			}
		}
		s.Close()
	}
}

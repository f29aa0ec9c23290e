package torchx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// compositeAttention is multi-head attention from libtorch's own operators
// (reshape, matmul, softmax), the reference for the fused operator.
func compositeAttention(s *torchx.Scope, qkv, bias *ts.Tensor, g, n, h, d int64, scale float64) *ts.Tensor {
	x := s.Add(must(qkv.Reshape([]int64{g, n, 3, h, d}, false)))
	x = s.Add(must(x.Permute([]int64{2, 0, 3, 1, 4}, false))) // (3, G, H, N, d)
	q, k, v := s.Add(must(x.Select(0, 0, false))), s.Add(must(x.Select(0, 1, false))), s.Add(must(x.Select(0, 2, false)))
	kt := s.Add(must(k.Transpose(-2, -1, false)))
	sc := ts.FloatScalar(scale)
	defer sc.MustDrop()
	logits := s.Add(must(s.Add(must(q.Matmul(kt, false))).MulScalar(sc, false)))
	if bias != nil {
		logits = s.Add(must(logits.Add(bias, false)))
	}
	p := s.Add(must(logits.Softmax(-1, logits.DType(), false)))
	o := s.Add(must(p.Matmul(v, false)))                   // (G, H, N, d)
	o = s.Add(must(o.Permute([]int64{0, 2, 1, 3}, false))) // (G, N, H, d)
	return s.Add(must(o.Reshape([]int64{g, n, h * d}, false)))
}

// attnLoss is Σ w ⊙ o + ½ Σ o²: not linear in o, so that the incoming
// gradient of the attention depends on its inputs and Hessian-vector
// products exercise every term of the double backward.
func attnLoss(s *torchx.Scope, o, w *ts.Tensor) *ts.Tensor {
	a := s.Add(must(o.Mul(w, false)))
	b := s.Add(must(o.Mul(o, false)))
	half := ts.FloatScalar(0.5)
	defer half.MustDrop()
	b = s.Add(must(b.MulScalar(half, false)))
	sum := s.Add(must(a.Add(b, false)))
	return s.Add(must(sum.Sum(sum.DType(), false)))
}

func randVals(r *rand.Rand, n int64, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * r.NormFloat64()
	}
	return v
}

// TestAttentionMatchesComposite compares the fused operator in float32 with
// the composite in float64 (libtorch's matmul, softmax and their double
// backward): the output, the gradient of a nonlinear loss with respect to
// qkv and the bias, and a Hessian-vector product, on the shapes of
// vit-mini (65 tokens, 4 heads of 16) and of AlterNet's windows (16 tokens,
// with the bias) and an odd one (7 tokens, 3 dims). The composite itself,
// run in float32, is 1e-7..3e-7 away from float64 on these (the test logs
// both): float32 rounding (6e-8 per operation) over sums of up to 65 terms.
// The fused operator must be within 2e-6, ten times that: rounding, but
// no wrong term (a missing or wrong term of a derivative shows as an error
// of order 1).
func TestAttentionMatchesComposite(t *testing.T) {
	for _, c := range []struct {
		name       string
		g, n, h, d int64
		bias       bool
	}{
		{"vit-mini", 3, 65, 4, 16, false},
		{"window", 5, 16, 2, 16, true},
		{"odd", 2, 7, 3, 3, true},
		// The kernels' other paths: heads of 32 and 64 (the paper's
		// presets have 64, with 197 or 257 tokens), a width that is not a
		// multiple of 16 (strips over the head dimension), last strips
		// overlapping by 12 and 15 columns, one token.
		{"d32-bias", 2, 20, 2, 32, true},
		{"d64", 2, 40, 2, 64, false},
		{"d24", 2, 33, 2, 24, true},
		{"one-token", 3, 1, 2, 16, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(c.n*100+c.d)))
			scale := 1 / math.Sqrt(float64(c.d))
			qkvV := randVals(r, c.g*c.n*3*c.h*c.d, 1)
			biasV := randVals(r, c.n*c.n, 0.5)
			wV := randVals(r, c.g*c.n*c.h*c.d, 1)
			vQ := randVals(r, int64(len(qkvV)), 1)
			vB := randVals(r, int64(len(biasV)), 1)
			qShape := []int64{c.g, c.n, 3 * c.h * c.d}
			bShape := []int64{c.n, c.n}
			oShape := []int64{c.g, c.n, c.h * c.d}

			type result struct{ out, grad, hv []float64 }
			run := func(k gotch.DType, fused bool) result {
				var s torchx.Scope
				defer s.Close()
				mk := func(v []float64, shape []int64, leafGrad bool) *ts.Tensor { return scoped(&s, k, v, shape, leafGrad) }
				qkv := mk(qkvV, qShape, true)
				params := []*ts.Tensor{qkv}
				var bias *ts.Tensor
				vs := []*ts.Tensor{mk(vQ, qShape, false)}
				if c.bias {
					bias = mk(biasV, bShape, true)
					params = append(params, bias)
					vs = append(vs, mk(vB, bShape, false))
				}
				var o *ts.Tensor
				if fused {
					o = s.Add(must(torchx.Attention(qkv, bias, c.h, scale)))
				} else {
					o = compositeAttention(&s, qkv, bias, c.g, c.n, c.h, c.d, scale)
				}
				loss := attnLoss(&s, o, mk(wV, oShape, false))
				h := must(torchx.NewHVP(loss, params))
				defer h.Close()
				hv := s.AddAll(must(h.Apply(vs)))
				return result{out: flat(t, []*ts.Tensor{o}), grad: flat(t, h.Grads()), hv: flat(t, hv)}
			}
			got := run(gotch.Float, true)
			ref := run(gotch.Double, false)
			comp := run(gotch.Float, false)
			for _, x := range []struct {
				what      string
				a, b, c   []float64
				tolerance float64
			}{
				{"output", got.out, ref.out, comp.out, 2e-6},
				{"gradient", got.grad, ref.grad, comp.grad, 2e-6},
				{"Hessian-vector product", got.hv, ref.hv, comp.hv, 2e-6},
			} {
				e, ec := relErr(x.a, x.b), relErr(x.c, x.b)
				t.Logf("%s: fused float32 vs float64 %.2g (the composite in float32: %.2g)", x.what, e, ec)
				if !(e <= x.tolerance) {
					t.Errorf("%s: relative error %.3g of the fused operator, want <= %g", x.what, e, x.tolerance)
				}
			}
		})
	}
}

// TestAttentionBadShape checks that a qkv whose channels are not 3·heads·d
// is an error, not a crash.
func TestAttentionBadShape(t *testing.T) {
	x := must(ts.Zeros([]int64{2, 5, 10}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	if _, err := torchx.Attention(x, nil, 4, 1); err == nil {
		t.Fatal("10 channels for 4 heads: no error")
	}
	b := must(ts.Zeros([]int64{4, 4}, gotch.Float, gotch.CPU))
	defer b.MustDrop()
	if _, err := torchx.Attention(x, b, 1, 1); err == nil {
		t.Fatal("a 4x4 bias for 5 tokens: no error")
	}
}

// TestAttentionWithoutGraph checks the evaluation path (no graph to record:
// grad mode off, or inputs that do not require gradients), which keeps no
// attention weights for a backward pass: its output must equal the
// recorded path's bit for bit (the same kernel), with and without a bias
// holding -inf entries (a local-attention mask), and both must match the
// float64 composite within float32 rounding.
func TestAttentionWithoutGraph(t *testing.T) {
	for _, c := range []struct {
		name       string
		g, n, h, d int64
		mask       bool
	}{
		{"vit-mini", 3, 65, 4, 16, false},
		{"masked", 2, 17, 2, 16, true},
		{"odd", 2, 7, 3, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(2, uint64(c.n)))
			scale := 1 / math.Sqrt(float64(c.d))
			qkvV := randVals(r, c.g*c.n*3*c.h*c.d, 3)
			qShape := []int64{c.g, c.n, 3 * c.h * c.d}
			var biasV []float64
			if c.mask {
				biasV = make([]float64, c.n*c.n)
				for i := range c.n {
					for j := range c.n {
						if i-j > 4 || j-i > 4 {
							biasV[i*c.n+j] = math.Inf(-1)
						}
					}
				}
			}
			run := func(k gotch.DType, grad, noGrad, fused bool) []float64 {
				var s torchx.Scope
				defer s.Close()
				qkv := scoped(&s, k, qkvV, qShape, grad)
				var bias *ts.Tensor
				if c.mask {
					bias = scoped(&s, k, biasV, []int64{c.n, c.n}, false)
				}
				var o *ts.Tensor
				call := func() error {
					if !fused {
						o = compositeAttention(&s, qkv, bias, c.g, c.n, c.h, c.d, scale)
						return nil
					}
					var err error
					o, err = torchx.Attention(qkv, bias, c.h, scale)
					s.Add(o)
					return err
				}
				var err error
				if noGrad {
					err = torchx.NoGrad(call)
				} else {
					err = call()
				}
				if err != nil {
					t.Fatal(err)
				}
				return flat(t, []*ts.Tensor{o})
			}
			recorded := run(gotch.Float, true, false, true)
			ref := run(gotch.Double, false, false, false)
			for _, v := range []struct {
				what string
				got  []float64
			}{
				{"grad mode off", run(gotch.Float, true, true, true)},
				{"inputs without gradients", run(gotch.Float, false, false, true)},
			} {
				for i := range recorded {
					if v.got[i] != recorded[i] {
						t.Fatalf("%s: output %d is %v, the recorded path's %v", v.what, i, v.got[i], recorded[i])
					}
				}
			}
			if e := relErr(recorded, ref); !(e <= 2e-6) {
				t.Errorf("output: relative error %.3g against the float64 composite, want <= 2e-6", e)
			}
			for i, x := range recorded {
				if math.IsNaN(x) {
					t.Fatalf("output %d is NaN", i)
				}
			}
		})
	}
}

package torchx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestGeluMatchesClosedForm checks torchx.Gelu in float32, on channels-last
// and standard maps and on a 2-D tensor, against GELU's closed forms in
// float64: the values x·Φ(x), the gradient of Σ r ⊙ GELU(x), which is
// r ⊙ (Φ(x) + x·φ(x)), and a Hessian-vector product of that sum,
// r ⊙ φ(x)·(2 − x²) ⊙ v (the double backward through the permuted view).
// Asked: 1e-6 relative (float32 rounding of erf), measured about 1e-7. A
// channels-last input gives a channels-last output (the same storage comes
// back from ChannelsLast).
func TestGeluMatchesClosedForm(t *testing.T) {
	pin(t)
	for _, c := range []struct {
		name  string
		shape []int64
		cl    bool
	}{
		{"channels-last", []int64{3, 8, 5, 5}, true},
		{"standard", []int64{3, 8, 5, 5}, false},
		{"tokens", []int64{7, 12}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var s torchx.Scope
			defer s.Close()
			n := int64(1)
			for _, d := range c.shape {
				n *= d
			}
			r := rand.New(rand.NewPCG(uint64(n), 3))
			xv, rv, vv := randVals(r, n, 2), randVals(r, n, 1), randVals(r, n, 1)
			for i := range xv {
				xv[i] = float64(float32(xv[i])) // the float32 input exactly
			}
			mk := func(v []float64) *ts.Tensor { return s.Add(must(torchx.FromSlice(v, c.shape, gotch.Float))) }
			x := s.Add(must(mk(xv).SetRequiresGrad(true, false)))
			in := x
			if c.cl {
				in = s.Add(must(torchx.ChannelsLast(x)))
			}
			y := s.Add(must(torchx.Gelu(in)))
			if c.cl {
				again := s.Add(must(torchx.ChannelsLast(y)))
				p1, p2 := must(y.DataPtr()), must(again.DataPtr())
				if p1 != p2 {
					t.Error("the output of a channels-last input is not channels-last")
				}
			}
			loss := s.Add(must(s.Add(must(y.Mul(mk(rv), false))).Sum(gotch.Float, false)))
			h := must(torchx.NewHVP(loss, []*ts.Tensor{x}))
			defer h.Close()
			g := flat(t, h.Grads())
			hv := flat(t, s.AddAll(must(h.Apply([]*ts.Tensor{mk(vv)}))))
			val := flat(t, []*ts.Tensor{y})
			wantVal, wantG, wantHV := make([]float64, n), make([]float64, n), make([]float64, n)
			for i, xi := range xv {
				cdf := 0.5 * (1 + math.Erf(xi/math.Sqrt2))
				pdf := math.Exp(-xi*xi/2) / math.Sqrt(2*math.Pi)
				wantVal[i] = xi * cdf
				wantG[i] = rv[i] * (cdf + xi*pdf)
				wantHV[i] = rv[i] * pdf * (2 - xi*xi) * vv[i]
			}
			for _, e := range []struct {
				what      string
				got, want []float64
			}{{"values", val, wantVal}, {"gradient", g, wantG}, {"Hessian-vector product", hv, wantHV}} {
				err := relErr(e.got, e.want)
				t.Logf("%s: relative error %.2g", e.what, err)
				if !(err <= 1e-6) {
					t.Errorf("%s: relative error %.3g against the closed form, want <= 1e-6", e.what, err)
				}
			}
		})
	}
}

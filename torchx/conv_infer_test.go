package torchx_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestConvInferMatchesOperators compares ConvInfer with the operators it
// fuses (libtorch's conv2d, add and relu) on the shapes of a ResNet's
// inference pass: a one-channel stem read in the standard layout, 3x3
// convolutions with and without stride, a 1x1 strided shortcut, with and
// without bias, residual and ReLU, residuals in either layout. The
// reference is those operators in float64; ConvInfer (float32) must be
// within 2e-6 of it relative to the map's largest entry, as close as
// libtorch's own float32 operators are (logged beside), and the result
// must be channels-last.
func TestConvInferMatchesOperators(t *testing.T) {
	pin(t)
	for _, c := range []struct {
		cin, cout, k, stride, pad, hw int64
		bias, res, relu, inCL, resCL  bool
	}{
		{1, 16, 3, 1, 1, 12, true, false, true, false, false}, // the stem
		{16, 16, 3, 1, 1, 10, true, false, true, true, false},
		{16, 16, 3, 1, 1, 10, true, true, true, true, true}, // a block's second convolution
		{16, 16, 3, 1, 1, 10, false, true, true, true, false},
		{16, 32, 3, 2, 1, 10, true, false, false, true, false},
		{16, 32, 1, 2, 0, 10, true, false, false, true, false}, // the shortcut
		{8, 24, 3, 1, 0, 7, false, true, false, false, true},
	} {
		name := fmt.Sprintf("%dto%d_k%d_s%d_p%d_bias%v_res%v_relu%v_cl%v%v", c.cin, c.cout, c.k, c.stride, c.pad, c.bias, c.res, c.relu, c.inCL, c.resCL)
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.cin*100+c.cout), uint64(c.k*10+c.stride)))
			const n = 5
			out := (c.hw+2*c.pad-c.k)/c.stride + 1
			xv := randVals(r, n*c.cin*c.hw*c.hw, 1)
			wv := randVals(r, c.cout*c.cin*c.k*c.k, 0.3)
			bv := randVals(r, c.cout, 0.5)
			rv := randVals(r, n*c.cout*out*out, 1)
			run := func(k gotch.DType, fused bool) ([]float64, bool) {
				var s torchx.Scope
				defer s.Close()
				mk := func(v []float64, shape []int64, cl bool) *ts.Tensor {
					x := s.Add(must(torchx.FromSlice(v, shape, k)))
					if cl {
						x = s.Add(must(torchx.ChannelsLast(x)))
					}
					return x
				}
				x := mk(xv, []int64{n, c.cin, c.hw, c.hw}, c.inCL)
				w := mk(wv, []int64{c.cout, c.cin, c.k, c.k}, false)
				var b, res *ts.Tensor
				if c.bias {
					b = mk(bv, []int64{c.cout}, false)
				}
				if c.res {
					res = mk(rv, []int64{n, c.cout, out, out}, c.resCL)
				}
				var y *ts.Tensor
				if fused {
					y = s.Add(must(torchx.ConvInfer(x, w, b, res, c.stride, c.pad, c.relu)))
				} else {
					y = s.Add(must(ts.Conv2d(x, w, orNone(b), []int64{c.stride, c.stride}, []int64{c.pad, c.pad}, []int64{1, 1}, 1)))
					if res != nil {
						y = s.Add(must(y.Add(res, false)))
					}
					if c.relu {
						y = s.Add(must(y.Relu(false)))
					}
				}
				// ChannelsLast shares the storage of a channels-last map.
				ycl := s.Add(must(torchx.ChannelsLast(y)))
				cl := must(ycl.DataPtr()) == must(y.DataPtr())
				yd := s.Add(must(y.Totype(gotch.Double, false)))
				yc := s.Add(must(yd.Contiguous(false)))
				return must(torchx.Values[float64](yc)), cl
			}
			want, _ := run(gotch.Double, false)
			got, cl := run(gotch.Float, true)
			lib, _ := run(gotch.Float, false)
			if !cl {
				t.Errorf("the result is in the standard layout, want channels-last")
			}
			var scale float64
			for _, v := range want {
				scale = math.Max(scale, math.Abs(v))
			}
			maxDiff := func(a []float64) float64 {
				var d float64
				for i := range a {
					d = math.Max(d, math.Abs(a[i]-want[i]))
				}
				return d / scale
			}
			if len(got) != len(want) {
				t.Fatalf("%d values, want %d", len(got), len(want))
			}
			dg, dl := maxDiff(got), maxDiff(lib)
			t.Logf("largest difference from float64 operators, relative to the largest entry %.3g: ConvInfer %.2g, libtorch's float32 operators %.2g", scale, dg, dl)
			if dg > 2e-6 {
				t.Errorf("ConvInfer is %.3g (relative) from the float64 operators, want ≤ 2e-6", dg)
			}
			if c.relu {
				for i, v := range got {
					if v < 0 {
						t.Fatalf("entry %d is %g after ReLU", i, v)
					}
				}
			}
		})
	}
}

// TestConvInferErrors checks that bad arguments are errors naming the
// problem, not crashes, and that a weight requiring a gradient is refused
// only while gradients are on.
func TestConvInferErrors(t *testing.T) {
	pin(t)
	var s torchx.Scope
	defer s.Close()
	z := func(shape ...int64) *ts.Tensor {
		return s.Add(must(ts.Zeros(shape, gotch.Float, gotch.CPU)))
	}
	x, w := z(2, 3, 8, 8), z(4, 3, 3, 3)
	grad := s.Add(must(z(4, 3, 3, 3).SetRequiresGrad(true, false)))
	for _, c := range []struct {
		name         string
		x, w, b, res *ts.Tensor
		stride, pad  int64
		want         string
	}{
		{"channels", x, z(4, 5, 3, 3), nil, nil, 1, 1, "channels"},
		{"bias", x, w, z(5), nil, 1, 1, "bias"},
		{"residual", x, w, nil, z(2, 4, 7, 7), 1, 1, "residual"},
		{"gradient", x, grad, nil, nil, 1, 1, "gradient"},
		{"stride", x, w, nil, nil, 0, 1, "stride"},
		{"kernel", z(2, 3, 2, 2), w, nil, nil, 1, 0, "larger"},
		{"double", s.Add(must(ts.Zeros([]int64{2, 3, 8, 8}, gotch.Double, gotch.CPU))), w, nil, nil, 1, 1, "float32"},
	} {
		_, err := torchx.ConvInfer(c.x, c.w, c.b, c.res, c.stride, c.pad, true)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %q", c.name, err, c.want)
		}
	}
	// With gradients off, a weight that requires one is an ordinary input.
	if err := torchx.NoGrad(func() error {
		y, err := torchx.ConvInfer(x, grad, nil, nil, 1, 1, true)
		if err == nil {
			s.Add(y)
		}
		return err
	}); err != nil {
		t.Errorf("with gradients off: %v", err)
	}
}

func orNone(t *ts.Tensor) *ts.Tensor {
	if t == nil {
		return ts.None
	}
	return t
}

// TestConvInferAdd checks the in-place form: the result equals
// ConvInfer's bit for bit and lives in the residual's memory, which now
// holds it; a residual in the standard layout, or one that is the input
// itself, is left alone (a new tensor is returned).
func TestConvInferAdd(t *testing.T) {
	pin(t)
	var s torchx.Scope
	defer s.Close()
	r := rand.New(rand.NewPCG(9, 9))
	mk := func(shape ...int64) *ts.Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return s.Add(must(torchx.FromSlice(randVals(r, n, 1), shape, gotch.Float)))
	}
	vals := func(x *ts.Tensor) []float64 { return must(torchx.Values[float64](x)) }
	x := s.Add(must(torchx.ChannelsLast(mk(3, 8, 6, 6))))
	w, b := mk(8, 8, 3, 3), mk(8)
	res := s.Add(must(torchx.ChannelsLast(mk(3, 8, 6, 6))))
	want := vals(s.Add(must(torchx.ConvInfer(x, w, b, res, 1, 1, true))))
	got := s.Add(must(torchx.ConvInferAdd(res, x, w, b, 1, 1, true)))
	if relErr(vals(got), want) != 0 || relErr(vals(res), want) != 0 {
		t.Errorf("ConvInferAdd differs from ConvInfer, or the residual does not hold the result")
	}
	if must(got.DataPtr()) != must(res.DataPtr()) {
		t.Errorf("the result is not in the residual's memory")
	}
	for _, c := range []struct {
		what string
		res  *ts.Tensor
	}{{"standard layout", mk(3, 8, 6, 6)}, {"the input itself", x}} {
		before := vals(c.res)
		want := vals(s.Add(must(torchx.ConvInfer(x, w, b, c.res, 1, 1, false))))
		got := s.Add(must(torchx.ConvInferAdd(c.res, x, w, b, 1, 1, false)))
		if relErr(vals(got), want) != 0 {
			t.Errorf("%s: the result differs from ConvInfer's", c.what)
		}
		if relErr(vals(c.res), before) != 0 || must(got.DataPtr()) == must(c.res.DataPtr()) {
			t.Errorf("%s: the residual was written", c.what)
		}
	}
}

package torchx_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestChannelsLastOneChannel checks the layout of a one-channel batch (an
// MNIST batch): ChannelsLast returns a view of the same memory with
// channels-last strides, and a convolution of it produces a channels-last
// map whose values are those of the convolution of the standard layout
// (the same libtorch kernel family, so to float32 rounding), with the same
// weight gradient. A map of several channels is copied as before.
func TestChannelsLastOneChannel(t *testing.T) {
	pin(t)
	var s torchx.Scope
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	const n, h, w = 3, 6, 5
	x := s.Add(must(torchx.FromSlice(randVals(r, n*h*w, 1), []int64{n, 1, h, w}, gotch.Float)))
	cl := s.Add(must(torchx.ChannelsLast(x)))
	if got, want := must(torchx.Strides(cl)), []int64{h * w, 1, w, 1}; !slices.Equal(got, want) {
		t.Fatalf("strides %v, want %v", got, want)
	}
	if p, q := must(x.DataPtr()), must(cl.DataPtr()); p != q {
		t.Errorf("the one-channel view was copied (%p, %p)", p, q)
	}
	if d := maxAbsDiff(t, x, cl); d != 0 {
		t.Errorf("values differ by %g", d)
	}
	wt := s.Add(must(torchx.FromSlice(randVals(r, 4*9, 0.3), []int64{4, 1, 3, 3}, gotch.Float)))
	wt = s.Add(must(wt.SetRequiresGrad(true, false)))
	conv := func(in *ts.Tensor) (y, g *ts.Tensor) {
		y = s.Add(must(torchx.Conv2d(in, wt, nil, 1, 1, 1)))
		g = s.AddAll(must(torchx.GradDot([]*ts.Tensor{y}, []*ts.Tensor{y}, []*ts.Tensor{wt}, false, true)))[0]
		return y, g
	}
	y0, g0 := conv(x)
	y1, g1 := conv(cl)
	if got, want := must(torchx.Strides(y1)), []int64{h * w * 4, 1, w * 4, 4}; !slices.Equal(got, want) {
		t.Errorf("convolution of the view: strides %v, want channels-last %v", got, want)
	}
	if d := maxAbsDiff(t, y0, y1); d > 1e-5 {
		t.Errorf("convolution outputs differ by %g", d)
	}
	if d := maxAbsDiff(t, g0, g1); d > 1e-4 {
		t.Errorf("weight gradients differ by %g", d)
	}
	many := s.Add(must(torchx.FromSlice(randVals(r, n*2*h*w, 1), []int64{n, 2, h, w}, gotch.Float)))
	if got, want := must(torchx.Strides(s.Add(must(torchx.ChannelsLast(many))))), []int64{h * w * 2, 1, w * 2, 2}; !slices.Equal(got, want) {
		t.Errorf("two channels: strides %v, want %v", got, want)
	}
}

// maxAbsDiff returns the largest |a − b| over the elements of two tensors
// of one shape (in their logical order, whatever their layouts).
func maxAbsDiff(t *testing.T, a, b *ts.Tensor) float64 {
	t.Helper()
	x, y := flat(t, []*ts.Tensor{a}), flat(t, []*ts.Tensor{b})
	if len(x) != len(y) {
		t.Fatalf("%d values against %d", len(x), len(y))
	}
	d := 0.0
	for i := range x {
		d = max(d, math.Abs(x[i]-y[i]))
	}
	return d
}

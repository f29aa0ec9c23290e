package hessian

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/floats"
)

func TestSummarize(t *testing.T) {
	// Worked by hand: 2 of 6 negative, positives {2, 4, 6}; quantiles at
	// positions p·5 of the sorted list, interpolated linearly.
	s, err := Summarize([]float64{4, -1, 0, 6, -3, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{
		N: 6, Negative: 2, Positive: 3,
		NEP: 1.0 / 3, APE: 4,
		Min: -3, Max: 6, Mean: 8.0 / 6,
		P05: -2.5, Q1: -0.75, Median: 1, Q3: 3.5, P95: 5.5,
	}
	if !summariesEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	only, err := Summarize([]float64{-2, -1})
	if err != nil {
		t.Fatal(err)
	}
	if only.NEP != 1 || only.APE != 0 || only.Positive != 0 {
		t.Errorf("all negative: NEP %v APE %v positive %d, want 1, 0, 0", only.NEP, only.APE, only.Positive)
	}
	for _, bad := range [][]float64{nil, {1, math.NaN()}, {math.Inf(-1)}} {
		if _, err := Summarize(bad); err == nil {
			t.Errorf("Summarize(%v): no error", bad)
		}
	}
}

func summariesEqual(a, b Summary) bool {
	x := []float64{a.NEP, a.APE, a.Min, a.Max, a.Mean, a.P05, a.Q1, a.Median, a.Q3, a.P95}
	y := []float64{b.NEP, b.APE, b.Min, b.Max, b.Mean, b.P05, b.Q1, b.Median, b.Q3, b.P95}
	return a.N == b.N && a.Negative == b.Negative && a.Positive == b.Positive && floats.EqualApprox(x, y, 1e-14)
}

func TestScottBandwidth(t *testing.T) {
	// Sample variance of {-3,-1,0,2,4,6} is (498/9)/5; Scott's factor 6^(-1/5).
	want := math.Sqrt(498.0/9/5) * math.Pow(6, -0.2) // 2.3248...
	if got := ScottBandwidth([]float64{-3, -1, 0, 2, 4, 6}); math.Abs(got-want) > 1e-14 {
		t.Errorf("ScottBandwidth = %v, want %v", got, want)
	}
	if got := ScottBandwidth([]float64{3}); got != 0 {
		t.Errorf("one value: %v, want 0", got)
	}
}

func TestKDE(t *testing.T) {
	// Eigenvalues of both signs and very different scales, as pooled
	// minibatch spectra are.
	values := []float64{-80, -5, 0.5, 30, 45, 60, 300, 900}
	for _, bw := range []float64{0, 5, 200} {
		h := bw
		if h == 0 {
			h = ScottBandwidth(values)
		}
		// The grid reaches 10 bandwidths beyond the data with a spacing of
		// a fifth of a bandwidth: the trapezoid rule is then exact to far
		// below 1e-9 for Gaussians.
		lo, hi := -80-10*h, 900+10*h
		grid := floats.Span(make([]float64, int((hi-lo)/(h/5))+1), lo, hi)
		d, err := KDE(nil, grid, values, bw)
		if err != nil {
			t.Fatal(err)
		}
		if s := trapezoid(grid, d); math.Abs(s-1) > 1e-9 {
			t.Errorf("bandwidth %v: integral %v, want 1", h, s)
		}
	}
	// One value, bandwidth 2: the peak of N(7, 4).
	d, err := KDE(make([]float64, 1), []float64{7}, []float64{7}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 / (2 * math.Sqrt(2*math.Pi)); math.Abs(d[0]-want) > 1e-15 {
		t.Errorf("peak %v, want %v", d[0], want)
	}
	for _, c := range []struct {
		values []float64
		bw     float64
	}{{nil, 1}, {[]float64{1, 1}, 0}, {[]float64{1, 2}, -1}, {[]float64{1, 2}, math.NaN()}, {[]float64{math.NaN(), 1}, 1}} {
		if _, err := KDE(nil, []float64{0}, c.values, c.bw); err == nil {
			t.Errorf("KDE(%v, bandwidth %v): no error", c.values, c.bw)
		}
	}
}

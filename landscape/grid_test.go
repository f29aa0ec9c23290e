package landscape

import (
	"math"
	"strings"
	"testing"
)

func TestAxisCoordinates(t *testing.T) {
	a := PaperGrid().X
	if got := a.Coord(10); got != 0 || math.Signbit(got) {
		t.Errorf("paper grid centre = %g, want exactly +0", got)
	}
	if a.Coord(0) != -1 || a.Coord(20) != 1 {
		t.Errorf("ends %g, %g, want -1, 1", a.Coord(0), a.Coord(20))
	}
	// Values print as the short decimals people expect.
	if got := a.Coord(11); got != 0.1 {
		t.Errorf("Coord(11) = %v, want 0.1", got)
	}
	// Asymmetric ranges: 0 is exact where it is a grid point.
	if got := (Axis{Min: -1, Max: 2, N: 4}).Coord(1); got != 0 {
		t.Errorf("[-1, 2] at 4: Coord(1) = %g, want 0", got)
	}
	if got := (Axis{Min: -0.3, Max: 0.6, N: 4}).Coord(1); got != 0 {
		t.Errorf("[-0.3, 0.6] at 4: Coord(1) = %g, want 0", got)
	}
	// Odd ends stay exact and coordinates increase.
	b := Axis{Min: -0.7, Max: 1.3, N: 101}
	c := b.Coords()
	if c[0] != -0.7 || c[100] != 1.3 {
		t.Errorf("ends %v %v", c[0], c[100])
	}
	for i := 1; i < len(c); i++ {
		if c[i] <= c[i-1] {
			t.Fatalf("not increasing at %d: %g <= %g", i, c[i], c[i-1])
		}
	}
}

func TestGridValidation(t *testing.T) {
	cases := []struct {
		g    Grid
		want string
	}{
		{Grid{X: Axis{Min: 1, Max: -1, N: 21}}, "landscape: x range [1, -1]: min must be below max"},
		{Grid{X: Axis{Min: 1, Max: 1, N: 21}}, "min must be below max"},
		{Grid{X: Axis{Min: -1, Max: 1, N: 1}}, "landscape: x resolution 1: need at least 2 points"},
		{Grid{X: Axis{Min: math.NaN(), Max: 1, N: 5}}, "landscape: x range [NaN, 1]: bounds must be finite"},
		{Grid{X: Axis{Min: -1, Max: math.Inf(1), N: 5}}, "bounds must be finite"},
		{Grid{X: Axis{Min: -1, Max: 1, N: 5}, Y: Axis{Min: 0, Max: 0, N: 5}}, "landscape: y range [0, 0]: min must be below max"},
		{Grid{X: Axis{Min: -1, Max: 1, N: 5}, Y: Axis{Min: -1, Max: 1, N: 0}}, "landscape: y resolution 0"},
		{Grid{X: Axis{Min: -1, Max: 1, N: 5000}, Y: Axis{Min: -1, Max: 1, N: 5000}}, "too large"},
	}
	for _, c := range cases {
		err := c.g.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.g, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	if _, err := NewGrid2(-1, 1, 21, -1, 1, 21); err != nil {
		t.Errorf("paper grid: %v", err)
	}
	if _, err := NewGrid1(-0.5, 1.5, 2); err != nil {
		t.Errorf("1-D grid: %v", err)
	}
}

func TestGridIndexIsRowMajorXFastest(t *testing.T) {
	g, err := NewGrid2(0, 2, 3, 10, 30, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]float64{{0, 10}, {1, 10}, {2, 10}, {0, 20}, {1, 20}, {2, 20}, {0, 30}, {1, 30}, {2, 30}}
	if g.Len() != len(want) {
		t.Fatalf("Len = %d", g.Len())
	}
	for i, w := range want {
		x, y := g.Point(i)
		if x != w[0] || y != w[1] {
			t.Errorf("point %d = (%g, %g), want (%g, %g)", i, x, y, w[0], w[1])
		}
		ix, iy := g.Cell(i)
		if g.Index(ix, iy) != i {
			t.Errorf("Index(Cell(%d)) = %d", i, g.Index(ix, iy))
		}
	}
	g1, _ := NewGrid1(-1, 1, 5)
	if g1.Is2D() || g1.Len() != 5 || g1.Rows() != 1 {
		t.Errorf("1-D grid: Is2D %v Len %d Rows %d", g1.Is2D(), g1.Len(), g1.Rows())
	}
	if x, y := g1.Point(2); x != 0 || y != 0 {
		t.Errorf("1-D centre (%g, %g)", x, y)
	}
}

func TestNormsMatchL1L2(t *testing.T) {
	// Known answer: l2 is the sum of per-tensor Frobenius norms, buffers
	// excluded: |(3, 4)| + |(0, 5, 12)| = 5 + 13.
	p := []Param{
		{Name: "a", Shape: []int{2}, Data: []float64{3, -4}},
		{Name: "b", Shape: []int{3, 1}, Data: []float64{0, 5, -12}},
		{Name: "buf", Shape: []int{2}, Data: []float64{100, 100}, Buffer: true},
	}
	if got := L2(p); got != 18 {
		t.Errorf("L2 = %g, want 18", got)
	}
	if got := L1(p); got != 24 {
		t.Errorf("L1 = %g, want 24", got)
	}
	params := testParams(t, 8)
	d1, _ := Random(params, 1, 0, NormFilter)
	d2, _ := Random(params, 1, 1, NormFilter)
	s, err := NewSurface(params, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	w := s.At(nil, 0.3, -0.7)
	moved := make([]Param, len(params))
	for i := range params {
		moved[i] = params[i]
		moved[i].Data = w[i]
	}
	l1, l2 := s.Norms(0.3, -0.7)
	if l1 != L1(moved) || l2 != L2(moved) {
		t.Errorf("Norms = (%g, %g), L1/L2 of At = (%g, %g)", l1, l2, L1(moved), L2(moved))
	}
	if l1, l2 := s.Norms(0, 0); l1 != L1(params) || l2 != L2(params) {
		t.Errorf("Norms at the origin = (%g, %g), want (%g, %g)", l1, l2, L1(params), L2(params))
	}
	// At reuses dst.
	w2 := s.At(w, 0, 0)
	if &w2[2][0] != &w[2][0] || w2[2][0] != params[2].Data[0] {
		t.Error("At did not reuse dst or did not return the origin at (0, 0)")
	}
	if _, err := NewSurface(params, d1[:2]); err == nil || !strings.Contains(err.Error(), "direction 1 has 2 tensors") {
		t.Errorf("short direction: err = %v", err)
	}
	bad := Direction(append([][]float64(nil), d2...))
	bad[3] = append([]float64{math.NaN()}, d2[3][1:]...)
	if _, err := NewSurface(params, d1, bad); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("NaN direction: err = %v", err)
	}
}

// TestSqNorm: Σ‖w‖² over trainable tensors, known answer and along the
// plane against its expansion ‖w0 + x d1 + y d2‖², computed here term by
// term.
func TestSqNorm(t *testing.T) {
	p := []Param{
		{Name: "a", Shape: []int{2}, Data: []float64{3, -4}},
		{Name: "b", Shape: []int{3, 1}, Data: []float64{0, 5, -12}},
		{Name: "buf", Shape: []int{2}, Data: []float64{100, 100}, Buffer: true},
	}
	if got := SqNorm(p); got != 25+169 {
		t.Errorf("SqNorm = %g, want 194", got)
	}
	params := testParams(t, 8)
	d1, _ := Random(params, 1, 0, NormFilter)
	d2, _ := Random(params, 1, 1, NormFilter)
	s, err := NewSurface(params, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	x, y := 0.3, -0.7
	var want float64
	for i, q := range params {
		if q.Buffer {
			continue
		}
		var w2, wd1, wd2, d11, d22, d12 float64
		for j, w := range q.Data {
			a, b := d1[i][j], d2[i][j]
			w2, wd1, wd2 = w2+w*w, wd1+w*a, wd2+w*b
			d11, d22, d12 = d11+a*a, d22+b*b, d12+a*b
		}
		want += w2 + 2*x*wd1 + 2*y*wd2 + x*x*d11 + y*y*d22 + 2*x*y*d12
	}
	l1, l2, sq := s.NormsSq(x, y)
	if math.Abs(sq-want) > 1e-9*want {
		t.Errorf("NormsSq: Σ‖w‖² = %v, expansion %v", sq, want)
	}
	if nl1, nl2 := s.Norms(x, y); nl1 != l1 || nl2 != l2 {
		t.Errorf("NormsSq's l1, l2 (%v, %v) differ from Norms' (%v, %v)", l1, l2, nl1, nl2)
	}
	if _, _, sq0 := s.NormsSq(0, 0); sq0 != SqNorm(params) {
		t.Errorf("at the origin %v, SqNorm %v", sq0, SqNorm(params))
	}
}

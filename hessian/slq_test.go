package hessian

import (
	"errors"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// trapezoid integrates samples y on an equally spaced grid x.
func trapezoid(x, y []float64) float64 {
	var s float64
	for i := 1; i < len(x); i++ {
		s += (y[i] + y[i-1]) / 2 * (x[i] - x[i-1])
	}
	return s
}

func TestSLQDensityIntegratesToOne(t *testing.T) {
	lambda := decaying(200)
	q, err := SLQ(NewDense(withSpectrum(lambda, newRand(41))), &SLQSettings{Steps: 40, Vectors: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if q.Products != 120 || len(q.Nodes) != 3 {
		t.Fatalf("%d products, %d vectors; want 120, 3", q.Products, len(q.Nodes))
	}
	for l, w := range q.Weights {
		if s := floats.Sum(w); math.Abs(s-1) > 1e-12 {
			t.Errorf("weights of vector %d sum to %v", l, s)
		}
		if lo, hi := floats.Min(q.Nodes[l]), floats.Max(q.Nodes[l]); lo < -2-1e-9 || hi > 100+1e-9 {
			t.Errorf("nodes of vector %d span [%v, %v], outside the spectrum [-2, 100]", l, lo, hi)
		}
	}
	// The grid extends 10 standard deviations beyond the spectrum, and its
	// spacing is a fifth of a standard deviation, where the trapezoid rule
	// for Gaussians is accurate to far below 1e-9.
	for _, variance := range []float64{1e-2, 1, 25} {
		sd := math.Sqrt(variance)
		lo, hi := -2-10*sd, 100+10*sd
		grid := floats.Span(make([]float64, int((hi-lo)/(sd/5))+1), lo, hi)
		d := q.Density(nil, grid, variance)
		if s := trapezoid(grid, d); math.Abs(s-1) > 1e-9 {
			t.Errorf("variance %v: density integrates to %v", variance, s)
		}
	}
}

// TestSLQMoments: Gauss quadrature from m Lanczos steps is exact for
// polynomials of degree below 2m, so each vector's moment p is exactly
// vᵀAᵖv/n; the only error is that of the Rademacher probe, whose standard
// deviation for B = Aᵖ is sqrt(2·Σ_{i≠j} b_ij²)/n per vector.
func TestSLQMoments(t *testing.T) {
	lambda := decaying(300)
	a := withSpectrum(lambda, newRand(42))
	const nv = 10
	q, err := SLQ(NewDense(a), &SLQSettings{Steps: 30, Vectors: nv, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(lambda))
	var a2 mat.SymDense
	a2.SymOuterK(1, a) // a·aᵀ = a²
	for p, b := range map[int]mat.Symmetric{1: a, 2: &a2} {
		var exact float64
		for _, l := range lambda {
			exact += math.Pow(l, float64(p))
		}
		exact /= n
		sd := rademacherSD(b) / n / math.Sqrt(nv)
		got := q.Moment(p)
		z := (got - exact) / sd
		t.Logf("moment %d: %.5g, trace(A^%d)/n = %.5g, sampling sd %.2g (z = %.2f)", p, got, p, exact, sd, z)
		// Four standard deviations: a false alarm has probability 6e-5.
		if math.Abs(z) > 4 {
			t.Errorf("moment %d = %v, want %v ± %v", p, got, exact, sd)
		}
	}
	if m0 := q.Moment(0); math.Abs(m0-1) > 1e-12 {
		t.Errorf("moment 0 = %v, want 1", m0)
	}
}

// TestSLQDiagonal: for a diagonal matrix a Rademacher probe sees every
// eigenvalue with weight 1/n, so the quadrature is the exact spectral
// density; with 3 distinct eigenvalues Lanczos stops after 3 steps.
func TestSLQDiagonal(t *testing.T) {
	var diag []float64
	for range 10 {
		diag = append(diag, -1)
	}
	for range 20 {
		diag = append(diag, 2)
	}
	for range 70 {
		diag = append(diag, 5)
	}
	d := mat.NewSymDense(len(diag), nil)
	for i, x := range diag {
		d.SetSym(i, i, x)
	}
	q, err := SLQ(NewDense(d), &SLQSettings{Vectors: 2})
	if err != nil {
		t.Fatal(err)
	}
	if q.Products != 6 {
		t.Errorf("%d products, want 3 per vector", q.Products)
	}
	for l := range q.Nodes {
		if maxRelErr(q.Nodes[l], []float64{-1, 2, 5}) > 1e-12 || maxRelErr(q.Weights[l], []float64{0.1, 0.2, 0.7}) > 1e-12 {
			t.Errorf("vector %d: nodes %v weights %v, want [-1 2 5] and [0.1 0.2 0.7]", l, q.Nodes[l], q.Weights[l])
		}
	}
	for p := range 6 {
		want := (10*math.Pow(-1, float64(p)) + 20*math.Pow(2, float64(p)) + 70*math.Pow(5, float64(p))) / 100
		if got := q.Moment(p); math.Abs(got-want) > 1e-12*want {
			t.Errorf("moment %d = %v, want %v", p, got, want)
		}
	}
}

func TestSLQStepsCappedAtDimension(t *testing.T) {
	q, err := SLQ(NewDense(withSpectrum(decaying(20), newRand(43))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Products != 20 || len(q.Nodes[0]) != 20 {
		t.Errorf("%d products, %d nodes; want 20 (the dimension)", q.Products, len(q.Nodes[0]))
	}
	// 20 steps on a 20-dimensional space: the nodes are the eigenvalues.
	want := decaying(20)
	slices.Sort(want)
	if maxRelErr(q.Nodes[0], want) > 1e-9 {
		t.Errorf("nodes %v, want the eigenvalues %v", q.Nodes[0], want)
	}
}

// TestSLQQuadratureExact checks each vector's quadrature against the
// quadratic forms vᵀAᵖv/n of its own start vector (drawn again from the
// same generator): Gauss quadrature from m steps is exact up to degree
// 2m-1.
func TestSLQQuadratureExact(t *testing.T) {
	a := withSpectrum(decaying(100), newRand(45))
	const steps, nv, seed = 4, 3, 9
	q, err := SLQ(NewDense(a), &SLQSettings{Steps: steps, Vectors: nv, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	rng := newRand(seed)
	v := make([]float64, 100)
	av := make([]float64, 100)
	for l := range nv {
		rademacher(v, rng)
		x := slices.Clone(v)
		for p := 1; p < 2*steps; p++ {
			mat.NewVecDense(100, av).MulVec(a, mat.NewVecDense(100, x))
			copy(x, av)
			want := floats.Dot(v, x) / 100
			var got float64
			for j, th := range q.Nodes[l] {
				got += q.Weights[l][j] * math.Pow(th, float64(p))
			}
			if math.Abs(got-want) > 1e-10*math.Abs(want) {
				t.Errorf("vector %d, degree %d: quadrature %v, vᵀAᵖv/n = %v", l, p, got, want)
			}
		}
	}
}

// TestPyHessianDensity checks the grid and broadening rule of PyHessian's
// density_generate and the renormalisation on the grid.
func TestPyHessianDensity(t *testing.T) {
	q := &Quadrature{
		Nodes:   [][]float64{{-4, 0, 10}, {-2, 1, 20}},
		Weights: [][]float64{{0.2, 0.5, 0.3}, {0.1, 0.6, 0.3}},
	}
	grid, d := q.PyHessianDensity()
	// lo = mean(-4, -2) - 0.01, hi = mean(10, 20) + 0.01.
	if len(grid) != 10000 || grid[0] != -3.01 || math.Abs(grid[9999]-15.01) > 1e-12 {
		t.Fatalf("grid of %d points from %v to %v, want 10000 from -3.01 to 15.01", len(grid), grid[0], grid[len(grid)-1])
	}
	if s := floats.Sum(d) * (grid[1] - grid[0]); math.Abs(s-1) > 1e-12 {
		t.Errorf("Riemann sum %v, want 1", s)
	}
	// Before renormalisation it is Density with variance 1e-5·(hi-lo).
	raw := q.Density(nil, grid, 1e-5*18.02)
	scale := d[5000] / raw[5000]
	for i := range d {
		if math.Abs(d[i]-scale*raw[i]) > 1e-9*(1+d[i]) {
			t.Fatalf("point %d: %v, want %v", i, d[i], scale*raw[i])
		}
	}
}

func TestSLQFailures(t *testing.T) {
	a := withSpectrum(decaying(30), newRand(44))
	if _, err := SLQ(failing(a, 7, nil), nil); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN product: error %v, want ErrNonFinite", err)
	}
	_, err := SLQ(failing(a, 33, errBoom), &SLQSettings{Steps: 30, Vectors: 2})
	if !errors.Is(err, errBoom) || err.Error() != "hessian: SLQ: vector 2, step 3: boom" {
		t.Errorf("operator error: %v", err)
	}
}

// TestNegativeShare: on a hand-made quadrature the shares are the weighted
// sums; on a 120×120 matrix with 30 negative eigenvalues of known sizes,
// SLQ run to the dimension with 60 start vectors estimates the count
// share 0.25 within three standard errors and the magnitude share (a ratio
// of two such estimates) within 25% of its exact value (10% measured).
func TestNegativeShare(t *testing.T) {
	q := &Quadrature{Nodes: [][]float64{{-2, -1e-9, 3}, {-1, 1}}, Weights: [][]float64{{0.5, 0.25, 0.25}, {0.5, 0.5}}}
	c, m := q.NegativeShare(1e-6)
	// count: (0.5 + 0.5)/2; magnitude: (1 + 0.5) / (1 + 0.25e-9 + 0.75 + 0.5 + 0.5)
	if math.Abs(c-0.5) > 1e-15 || math.Abs(m-1.5/2.75) > 1e-9 {
		t.Errorf("shares %v, %v; want 0.5, %v", c, m, 1.5/2.75)
	}
	lambda := make([]float64, 120)
	var negMass, allMass float64
	for i := range lambda {
		lambda[i] = 1 + float64(i)
		if i < 30 {
			lambda[i] = -0.5 * float64(i+1)
		}
		allMass += math.Abs(lambda[i])
		if lambda[i] < 0 {
			negMass += -lambda[i]
		}
	}
	sq, err := SLQ(NewDense(withSpectrum(lambda, newRand(91))), &SLQSettings{Steps: 120, Vectors: 60, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, m = sq.NegativeShare(0)
	// Each vector's count share is Σ_i z_i² [λ_i < 0] / |z|², z Rademacher
	// in the eigenbasis (Haar-rotated): variance about 0.25·0.75·2/120.
	se := math.Sqrt(0.25*0.75*2/120) / math.Sqrt(60)
	t.Logf("count share %.4f (exact 0.25, s.e. %.4f); magnitude share %.4f (exact %.4f)", c, se, m, negMass/allMass)
	if math.Abs(c-0.25) > 3*se || math.Abs(m/(negMass/allMass)-1) > 0.25 {
		t.Errorf("shares %v and %v, want 0.25 and %v", c, m, negMass/allMass)
	}
}

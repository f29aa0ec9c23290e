package hessian

import (
	"math"
	"os"
	"slices"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// clustered returns a spectrum whose top eigenvalues come in close pairs
// (relative gaps 1e-3 and 1e-2), above a decaying positive bulk and a few
// negative values: the hard case for a stopping rule that trusts the gaps
// between Ritz values.
func clustered(n int) []float64 {
	l := []float64{100, 99.9, 60, 59.4, 30, 29.97}
	for i := len(l); i < n-10; i++ {
		l = append(l, 20*math.Pow(float64(i), -1))
	}
	for i := range 10 {
		l = append(l, -0.3*float64(i+1))
	}
	return l
}

// TestLanczosStopEigenvalue: the eigenvalue rule at Tol 1e-4 returns every
// converged value of the top 5 to 1e-4 relative (against the exact
// spectrum), for several seeds, with fewer products than the residual rule
// at the same Tol, and BoundResiduals saves the k residual products. On a
// spectrum whose top eigenvalues come in close pairs the rule may stop
// before the Krylov space has found both of a pair (seed 2 below returns
// 29.97 for the fifth value and misses 30): each value is then only
// guaranteed to lie within its residual bound of some eigenvalue, which
// the test checks instead (docs/curvature.md states the limitation).
func TestLanczosStopEigenvalue(t *testing.T) {
	cases := []struct {
		name      string
		lambda    []float64
		clustered bool
	}{
		{"hessian-like 1000", decaying(1000), false},
		{"clustered 500", clustered(500), true},
		{"indefinite", spectra[1].lambda(), false},
		{"decaying positive", spectra[0].lambda(), false},
	}
	for _, tc := range cases {
		for _, which := range []Which{LargestMagnitude, LargestAlgebraic, SmallestAlgebraic} {
			if tc.name == "hessian-like 1000" && which == SmallestAlgebraic {
				continue // evenly spaced small negatives: neither rule converges in 100 steps
			}
			t.Run(tc.name+", "+which.String(), func(t *testing.T) {
				op := NewDense(reflected(tc.lambda, 4, newRand(61)))
				want := topBy(tc.lambda, 5, which)
				var fast, slow, converged int
				for seed := range uint64(4) {
					ev, err := Lanczos(op, 5, &LanczosSettings{Which: which, Tol: 1e-4, Stop: StopEigenvalue, BoundResiduals: true, Seed: seed})
					if err != nil {
						t.Fatal(err)
					}
					rs, err := Lanczos(op, 5, &LanczosSettings{Which: which, Tol: 1e-4, Seed: seed})
					if err != nil {
						t.Fatal(err)
					}
					for i, ok := range ev.Converged {
						if !ok {
							continue
						}
						converged++
						e := math.Abs(ev.Values[i] - want[i])
						if tc.clustered {
							e = math.Inf(1)
							for _, l := range tc.lambda {
								e = math.Min(e, math.Abs(ev.Values[i]-l))
							}
						}
						if tc.clustered && e > ev.Residuals[i] || !tc.clustered && e > 1e-4*math.Abs(want[i]) {
							t.Errorf("seed %d, pair %d: %v, want %v (error %.1e, residual bound %.1e)", seed, i, ev.Values[i], want[i], e, ev.Residuals[i])
						}
					}
					if ev.Products != ev.Steps {
						t.Errorf("seed %d: %d products for %d steps with BoundResiduals", seed, ev.Products, ev.Steps)
					}
					if ev.Steps > rs.Steps {
						t.Errorf("seed %d: eigenvalue rule took %d steps, residual rule %d", seed, ev.Steps, rs.Steps)
					}
					fast += ev.Products
					slow += rs.Products
				}
				t.Logf("products over 4 seeds: eigenvalue rule + bound residuals %d, residual rule %d; %d of 20 pairs converged",
					fast, slow, converged)
				if fast >= slow {
					t.Errorf("eigenvalue rule used %d products, residual rule %d", fast, slow)
				}
			})
		}
	}
}

// TestLanczosBoundResiduals: the bounds |β s| equal the true residuals
// |Hx - θx| up to rounding.
func TestLanczosBoundResiduals(t *testing.T) {
	a := withSpectrum(decaying(200), newRand(62))
	e, err := Lanczos(NewDense(a), 5, &LanczosSettings{BoundResiduals: true, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := a.SymmetricDim()
	av := make([]float64, n)
	for i, v := range e.Vectors {
		mat.NewVecDense(n, av).MulVec(a, mat.NewVecDense(n, v))
		r := residual(av, v, e.Values[i])
		if math.Abs(r-e.Residuals[i]) > 1e-3*r+1e-12*math.Abs(e.Values[i]) {
			t.Errorf("pair %d: bound %.6e, true residual %.6e", i, e.Residuals[i], r)
		}
	}
}

// TestLanczosStart: a start vector close to the span of the top 5
// eigenvectors saves steps; a zero or misfit start vector is an error.
func TestLanczosStart(t *testing.T) {
	lambda := decaying(300)
	q := haar(300, newRand(63))
	var qd mat.Dense
	qd.Apply(func(_, j int, v float64) float64 { return v * lambda[j] }, q)
	var ad mat.Dense
	ad.Mul(&qd, q.T())
	a := mat.NewSymDense(300, nil)
	for i := range 300 {
		for j := i; j < 300; j++ {
			a.SetSym(i, j, (ad.At(i, j)+ad.At(j, i))/2)
		}
	}
	// The top 5 eigenvectors (decaying is sorted by magnitude at the
	// top), plus noise of 1% of their size.
	start := make([]float64, 300)
	gaussian(start, newRand(66))
	floats.Scale(0.01*math.Sqrt(5.0/300), start)
	for j := range 5 {
		floats.Add(start, mat.Col(nil, j, q))
	}
	e, err := Lanczos(NewDense(a), 5, &LanczosSettings{Start: start, Tol: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	if got := maxRelErr(e.Values, lambda[:5]); got > 1e-8 {
		t.Errorf("values %v, want %v", e.Values, lambda[:5])
	}
	r, err := Lanczos(NewDense(a), 5, &LanczosSettings{Tol: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start in the top-5 span: %d steps; random start: %d steps", e.Steps, r.Steps)
	if e.Steps >= r.Steps {
		t.Errorf("start in the top-5 span took %d steps, a random one %d", e.Steps, r.Steps)
	}
	if _, err := Lanczos(NewDense(a), 5, &LanczosSettings{Start: make([]float64, 300)}); err == nil {
		t.Error("zero start vector accepted")
	}
	if _, err := Lanczos(NewDense(a), 5, &LanczosSettings{Start: make([]float64, 3)}); err == nil {
		t.Error("start vector of the wrong length accepted")
	}
	if _, err := Lanczos(NewDense(a), 5, &LanczosSettings{Stop: 7}); err == nil {
		t.Error("unknown stopping rule accepted")
	}
}

// TestLanczosBasisStorage: a float64 basis on disk gives bit-identical
// results to the default; a float32 basis, in memory or on disk, the same
// eigenvalues to 1e-6; the file is gone afterwards. SLQ likewise.
func TestLanczosBasisStorage(t *testing.T) {
	op := NewDense(reflected(decaying(400), 4, newRand(64)))
	dir := t.TempDir()
	ref, err := Lanczos(op, 5, &LanczosSettings{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Basis{{Dir: dir}, {Float32: true}, {Float32: true, Dir: dir}} {
		e, err := Lanczos(op, 5, &LanczosSettings{Seed: 3, Basis: b})
		if err != nil {
			t.Fatal(b, err)
		}
		if b.Float32 {
			if got := maxRelErr(e.Values, ref.Values); got > 1e-6 {
				t.Errorf("%v: values %v, float64 %v (%.1e)", b, e.Values, ref.Values, got)
			}
		} else if !slices.Equal(e.Values, ref.Values) || !slices.Equal(e.Residuals, ref.Residuals) || e.Products != ref.Products {
			t.Errorf("%v: values %v residuals %v products %d; in memory %v %v %d", b, e.Values, e.Residuals, e.Products, ref.Values, ref.Residuals, ref.Products)
		}
		t.Logf("%v: %d steps, max relative difference %.1e", b, e.Steps, maxRelErr(e.Values, ref.Values))
	}
	qref, err := SLQ(op, &SLQSettings{Steps: 30, Vectors: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Basis{{Dir: dir}, {Float32: true}} {
		q, err := SLQ(op, &SLQSettings{Steps: 30, Vectors: 2, Seed: 4, Basis: b})
		if err != nil {
			t.Fatal(err)
		}
		for l := range q.Nodes {
			d := maxRelErr(q.Nodes[l][len(q.Nodes[l])-3:], qref.Nodes[l][len(qref.Nodes[l])-3:])
			if !b.Float32 && !slices.Equal(q.Nodes[l], qref.Nodes[l]) || d > 1e-6 {
				t.Errorf("SLQ %v, vector %d: top nodes differ by %.1e", b, l, d)
			}
		}
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("basis files left behind: %v", left)
	}
	if _, err := Lanczos(op, 5, &LanczosSettings{Basis: Basis{Dir: dir + "/missing"}}); err == nil {
		t.Error("basis in a missing directory accepted")
	}
}

// TestLanczosSmallestAlgebraic finds the most negative eigenvalues of a
// matrix whose spectrum is dominated by positive ones.
func TestLanczosSmallestAlgebraic(t *testing.T) {
	lambda := decaying(300) // negatives down to -2, positives up to 100
	e, err := Lanczos(NewDense(withSpectrum(lambda, newRand(65))), 3, &LanczosSettings{Which: SmallestAlgebraic, Tol: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	want := topBy(lambda, 3, SmallestAlgebraic)
	if got := maxRelErr(e.Values, want); got > 1e-8 {
		t.Errorf("values %v, want %v", e.Values, want)
	}
}

// TestLanczosGuard: on the clustered spectrum the eigenvalue rule at 1e-4
// without guard pairs misses the top-5 eigenvalue 30 (returning its
// neighbour 29.97) for some of 20 seeds; with one guard pair it finds the
// top 5 to 1e-4 for every seed, at a few more products. A negative Guard
// is an error.
func TestLanczosGuard(t *testing.T) {
	lambda := clustered(500)
	op := NewDense(reflected(lambda, 4, newRand(61)))
	want := topBy(lambda, 5, LargestMagnitude)
	misses := map[int]int{}
	products := map[int]int{}
	for _, guard := range []int{0, 1} {
		for seed := range uint64(20) {
			e, err := Lanczos(op, 5, &LanczosSettings{Tol: 1e-4, Stop: StopEigenvalue, BoundResiduals: true, Guard: guard, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Values) != 5 {
				t.Fatalf("guard %d: %d values returned", guard, len(e.Values))
			}
			if maxRelErr(e.Values, want) > 1e-4 {
				misses[guard]++
			}
			products[guard] += e.Products
		}
	}
	t.Logf("20 seeds: without guard %d misses, %d products; one guard pair %d misses, %d products", misses[0], products[0], misses[1], products[1])
	if misses[0] == 0 || misses[1] != 0 {
		t.Errorf("misses without guard %d (want some), with one guard pair %d (want none)", misses[0], misses[1])
	}
	if _, err := Lanczos(op, 5, &LanczosSettings{Guard: -1}); err == nil {
		t.Error("negative guard accepted")
	}
}

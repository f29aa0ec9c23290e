package hessian

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// rademacherSD returns the standard deviation of vᵀAv for v with
// independent ±1 entries: sqrt(2·Σ_{i≠j} a_ij²).
func rademacherSD(a mat.Symmetric) float64 {
	n := a.SymmetricDim()
	var s float64
	for i := range n {
		for j := range n {
			if i != j {
				s += a.At(i, j) * a.At(i, j)
			}
		}
	}
	return math.Sqrt(2 * s)
}

func TestHutchinsonFixed(t *testing.T) {
	lambda := decaying(200)
	a := withSpectrum(lambda, newRand(31))
	exact := floats.Sum(lambda)
	const samples = 400
	tr, err := Hutchinson(NewDense(a), &TraceSettings{Samples: samples, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Values) != samples || tr.Products != samples || !tr.Converged {
		t.Fatalf("%d values, %d products, converged %v; want %d, %d, true", len(tr.Values), tr.Products, tr.Converged, samples, samples)
	}
	z := (tr.Mean - exact) / tr.StdErr
	t.Logf("trace %.2f ± %.2f, exact %.2f (z = %.2f)", tr.Mean, tr.StdErr, exact, z)
	if math.Abs(z) > 3 {
		t.Errorf("estimate %v ± %v is %.1f standard errors from the exact trace %v", tr.Mean, tr.StdErr, z, exact)
	}
	// The sample standard deviation of 400 samples is within about 10% of
	// the true one (relative standard error sqrt((κ-1)/(4N)) with κ the
	// kurtosis, a few here): 30% is a wide margin.
	want := rademacherSD(a) / math.Sqrt(samples)
	if r := tr.StdErr / want; r < 0.7 || r > 1.3 {
		t.Errorf("standard error %v, theory %v (ratio %.2f)", tr.StdErr, want, r)
	}
}

func TestHutchinsonAdaptive(t *testing.T) {
	lambda := decaying(200)
	a := withSpectrum(lambda, newRand(32))
	exact := floats.Sum(lambda)
	tr, err := Hutchinson(NewDense(a), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rule watches the running mean, not the standard error: measured
	// here, it stops after 9 samples with a relative standard error of 8%.
	t.Logf("PyHessian rule: %d samples, trace %.2f ± %.2f, exact %.2f", len(tr.Values), tr.Mean, tr.StdErr, exact)
	if !tr.Converged || len(tr.Values) < 2 || len(tr.Values) > 100 || tr.Products != len(tr.Values) {
		t.Errorf("converged %v after %d samples (%d products)", tr.Converged, len(tr.Values), tr.Products)
	}
	if math.Abs(tr.Mean-floats.Sum(tr.Values)/float64(len(tr.Values))) > 1e-9*math.Abs(tr.Mean) {
		t.Errorf("mean %v is not the mean of the values", tr.Mean)
	}
	if math.Abs(tr.Mean-exact) > 3*tr.StdErr {
		t.Errorf("estimate %v ± %v, exact %v", tr.Mean, tr.StdErr, exact)
	}
	// Tol so small that the cap is reached.
	capped, err := Hutchinson(NewDense(a), &TraceSettings{MaxIter: 10, Tol: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	if capped.Converged || len(capped.Values) != 10 {
		t.Errorf("tiny tolerance: converged %v after %d samples, want false after 10", capped.Converged, len(capped.Values))
	}
}

// TestHutchinsonDiagonal: for a diagonal matrix every sample vᵀAv equals
// the trace exactly, since v_i² = 1.
func TestHutchinsonDiagonal(t *testing.T) {
	d := mat.NewSymDense(5, nil)
	for i, x := range []float64{3, -1, 2.5, 0, 7} {
		d.SetSym(i, i, x)
	}
	tr, err := Hutchinson(NewDense(d), &TraceSettings{Samples: 10})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Mean != 11.5 || tr.StdErr != 0 {
		t.Errorf("trace %v ± %v, want exactly 11.5 ± 0", tr.Mean, tr.StdErr)
	}
}

func TestHutchinsonFailures(t *testing.T) {
	a := withSpectrum(decaying(20), newRand(33))
	if _, err := Hutchinson(failing(a, 5, nil), &TraceSettings{Samples: 10}); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN product: error %v, want ErrNonFinite", err)
	}
	_, err := Hutchinson(failing(a, 2, errBoom), nil)
	if !errors.Is(err, errBoom) || err.Error() != "hessian: Hutchinson: sample 2: boom" {
		t.Errorf("operator error: %v", err)
	}
}

package hessian

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// Eigen holds approximate eigenpairs of an Operator.
type Eigen struct {
	// Values are the eigenvalues: in the order found for power iteration
	// (roughly by decreasing magnitude), ordered by the Which criterion
	// for Lanczos.
	Values []float64
	// Vectors[i] is a unit eigenvector for Values[i].
	Vectors [][]float64
	// Residuals[i] is |H x - λ x| for the returned pair (λ, x), from an
	// actual operator product.
	Residuals []float64
	// Converged[i] reports whether pair i met the method's stopping rule
	// (rather than its iteration cap).
	Converged []bool
	// Products is the number of operator products used, residuals included.
	Products int
	// Iterations[i] is the number of products power iteration spent on
	// Values[i]; nil for Lanczos.
	Iterations []int
	// Steps is the dimension of the Krylov space Lanczos built; 0 for
	// power iteration.
	Steps int
}

// PowerSettings configures PowerIteration. The zero value, or a nil
// pointer, is PyHessian's hessian.eigenvalues defaults.
type PowerSettings struct {
	// MaxIter is the maximum number of products per eigenvalue; 0 means 100.
	MaxIter int
	// Tol is the relative-change tolerance: iteration stops when
	// |λ - λprev| / (|λprev| + 1e-6) < Tol; 0 means 1e-3.
	Tol float64
	// Seed seeds the random start vectors.
	Seed uint64
}

// PowerIteration computes k eigenpairs of op by power iteration with
// deflation, following PyHessian's hessian.eigenvalues step by step, so that
// it finds the k eigenvalues of largest magnitude, in the order found.
//
// For each eigenvalue a start vector with independent N(0,1) entries is
// drawn and normalised. Then, up to MaxIter times: v is orthogonalised
// (modified Gram-Schmidt) against the eigenvectors already found and
// normalised; w = H v; λ = <w, v>; iteration stops when the relative change
// |λ - λprev| / (|λprev| + 1e-6) falls below Tol (never on the first
// product), and otherwise continues from v = w / |w|. From the same start
// vector the first eigenvalue takes exactly PyHessian's products and
// stopping decision. Two deliberate differences, both below Tol in effect:
//   - the value returned is the last Rayleigh quotient λ = <Hv, v> and the
//     vector is its v, so Residuals[i] = |Hv - λv| costs no extra product;
//     PyHessian returns the previous quotient with the vector Hv/|Hv|, one
//     power step further, and deflates against that vector (so later
//     eigenvalues may stop an iteration earlier or later than PyHessian's);
//   - vectors are normalised exactly, where PyHessian divides by |v| + 1e-6.
//
// If H v = 0 the pair (0, v) is exact and iteration stops. The error is
// non-nil for bad arguments, an operator error or a non-finite product
// (wrapping ErrNonFinite); results are never NaN.
//
// Cost: at most k·MaxIter products; memory (k+2)·Dim values
// (PowerSettings.Memory).
func PowerIteration(op Operator, k int, s *PowerSettings) (*Eigen, error) {
	n, err := dimOf(op, k)
	if err != nil {
		return nil, err
	}
	var set PowerSettings
	if s != nil {
		set = *s
	}
	maxIter, err := checkCount("power iteration", "MaxIter", set.MaxIter, 100)
	if err != nil {
		return nil, err
	}
	tol, err := checkTol("power iteration", "Tol", set.Tol, 1e-3)
	if err != nil {
		return nil, err
	}

	rng := newRand(set.Seed)
	c := &counter{op: op}
	res := &Eigen{
		Values:     make([]float64, 0, k),
		Vectors:    make([][]float64, 0, k),
		Residuals:  make([]float64, 0, k),
		Converged:  make([]bool, 0, k),
		Iterations: make([]int, 0, k),
	}
	v := make([]float64, n)
	hv := make([]float64, n)
	for i := range k {
		gaussian(v, rng)
		normalize(v)
		var lambda, prev float64
		converged := false
		it := 0
		for {
			it++
			for _, u := range res.Vectors {
				floats.AddScaled(v, -floats.Dot(v, u), u)
			}
			if normalize(v) == 0 {
				// Only possible when rounding makes the found vectors
				// span the space; k <= Dim rules it out in exact arithmetic.
				return nil, fmt.Errorf("hessian: power iteration: eigenvalue %d: start vector lost in deflation", i+1)
			}
			if err := c.mul(hv, v); err != nil {
				return nil, fmt.Errorf("hessian: power iteration: eigenvalue %d, iteration %d: %w", i+1, it, err)
			}
			lambda = floats.Dot(hv, v)
			hn := floats.Norm(hv, 2)
			if hn == 0 || (it > 1 && math.Abs(lambda-prev)/(math.Abs(prev)+1e-6) < tol) {
				converged = true
				break
			}
			if it == maxIter {
				break
			}
			prev = lambda
			for j, x := range hv {
				v[j] = x / hn
			}
		}
		res.Values = append(res.Values, lambda)
		res.Vectors = append(res.Vectors, append([]float64(nil), v...))
		res.Residuals = append(res.Residuals, residual(hv, v, lambda))
		res.Converged = append(res.Converged, converged)
		res.Iterations = append(res.Iterations, it)
	}
	res.Products = c.products
	return res, nil
}

package hessian

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// SLQSettings configures SLQ. The zero value, or a nil pointer, is
// PyHessian's hessian.density defaults.
type SLQSettings struct {
	// Steps is the number of Lanczos steps per vector; 0 means 100. It is
	// capped at the dimension.
	Steps int
	// Vectors is the number of random start vectors; 0 means 1. Each
	// gives its own quadrature, so their spread measures the sampling
	// error of the density.
	Vectors int
	// Basis selects the storage of the Krylov basis of each vector; the
	// zero value keeps it in memory in float64.
	Basis Basis
	// Seed seeds the Rademacher start vectors.
	Seed uint64
}

// Quadrature is a stochastic Lanczos quadrature of the spectral density
// φ(t) = (1/n) Σ_i δ(t - λ_i) of an operator: for each start vector l,
// Σ_j Weights[l][j] f(Nodes[l][j]) approximates (1/n)·trace f(H), and is
// the exact value of vᵀf(H)v/|v|² for every polynomial f of degree below
// 2·len(Nodes[l]).
type Quadrature struct {
	// Nodes[l] are the Ritz values of the tridiagonal matrix built from
	// start vector l, ascending.
	Nodes [][]float64
	// Weights[l][j] is the squared first component of the eigenvector of
	// the tridiagonal matrix for Nodes[l][j]; each Weights[l] sums to 1.
	Weights [][]float64
	// Products is the number of operator products.
	Products int
}

// SLQ computes the stochastic Lanczos quadrature of op's eigenvalue
// density (Ghorbani, Krishnan and Xiao 2019; PyHessian's hessian.density):
// for each of Vectors start vectors with independent ±1 entries,
// normalised, Steps Lanczos steps with full reorthogonalisation, then the
// nodes and weights of the Gauss quadrature rule defined by the
// tridiagonal matrix.
//
// If the Krylov space becomes invariant before Steps (β ≈ 0), the run stops
// there: its quadrature is then exact for every f. (PyHessian restarts from
// a random vector instead; the nodes this adds carry zero weight, so the
// estimate is the same.)
//
// Cost: Steps products per vector, O(Steps·Dim) work per step; memory as
// SLQSettings.Memory states.
func SLQ(op Operator, s *SLQSettings) (*Quadrature, error) {
	n, err := dimOf(op, 1)
	if err != nil {
		return nil, err
	}
	var set SLQSettings
	if s != nil {
		set = *s
	}
	steps, err := checkCount("SLQ", "Steps", set.Steps, 100)
	if err != nil {
		return nil, err
	}
	steps = min(steps, n)
	nv, err := checkCount("SLQ", "Vectors", set.Vectors, 1)
	if err != nil {
		return nil, err
	}

	rng := newRand(set.Seed)
	c := &counter{op: op}
	q := &Quadrature{}
	v := make([]float64, n)
	for vec := range nv {
		rademacher(v, rng)
		normalize(v)
		l, err := newKrylov(c, n, set.Basis)
		if err != nil {
			return nil, fmt.Errorf("hessian: SLQ: %w", err)
		}
		err = slqRun(l, v, steps)
		step := l.dim()
		if cerr := l.close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("hessian: SLQ: vector %d, step %d: %w", vec+1, step, err)
		}
		vals, vecs := eigenTridiag(l.tridiag(0))
		w := make([]float64, len(vals))
		for j := range w {
			x := vecs.At(0, j)
			w[j] = x * x
		}
		q.Nodes = append(q.Nodes, vals)
		q.Weights = append(q.Weights, w)
	}
	q.Products = c.products
	return q, nil
}

// slqRun grows the Krylov basis l from the unit vector v for up to steps
// steps, stopping early on an invariant subspace.
func slqRun(l *krylov, v []float64, steps int) error {
	if err := l.push(v, 0); err != nil {
		return err
	}
	for {
		b, err := l.extend()
		if err != nil {
			return err
		}
		if l.dim() == steps || b <= breakdownTol*l.norm {
			return nil
		}
		if err := l.push(l.w, b); err != nil {
			return err
		}
	}
}

// Moment returns the quadrature estimate of (1/n)·trace(Hᵖ): the mean over
// start vectors of Σ_j w_j θ_jᵖ. It is exact for each vector's quadratic
// form when p < 2·Steps, so its error is the sampling error of the start
// vectors.
func (q *Quadrature) Moment(p int) float64 {
	if p < 0 {
		panic(fmt.Sprintf("hessian: Moment order %d is negative", p))
	}
	var sum float64
	for l, nodes := range q.Nodes {
		for j, t := range nodes {
			x := 1.0
			for range p {
				x *= t
			}
			sum += q.Weights[l][j] * x
		}
	}
	return sum / float64(len(q.Nodes))
}

// Density stores in dst, and returns, the quadrature smoothed by a Gaussian
// of the given variance, evaluated at grid:
//
//	φ(t) = (1/Vectors) Σ_l Σ_j w_lj · exp(-(t-θ_lj)²/(2·variance)) / sqrt(2π·variance).
//
// It integrates to 1 over the real line (the weights of each vector sum to
// 1); it is not renormalised on the grid. If dst is nil a new slice is
// allocated; otherwise it must have the length of grid.
func (q *Quadrature) Density(dst, grid []float64, variance float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(grid))
	}
	if len(dst) != len(grid) {
		panic(fmt.Sprintf("hessian: Density dst length %d, grid length %d", len(dst), len(grid)))
	}
	if !(variance > 0) || math.IsInf(variance, 1) {
		panic(fmt.Sprintf("hessian: Density variance %v must be positive and finite", variance))
	}
	norm := 1 / (math.Sqrt(2*math.Pi*variance) * float64(len(q.Nodes)))
	for g, t := range grid {
		var sum float64
		for l, nodes := range q.Nodes {
			for j, x := range nodes {
				d := t - x
				sum += q.Weights[l][j] * math.Exp(-d*d/(2*variance))
			}
		}
		dst[g] = sum * norm
	}
	return dst
}

// PyHessianDensity returns the smoothed density exactly as PyHessian's
// density_plot.density_generate computes it from this quadrature, with its
// defaults (num_bins 10000, sigma_squared 1e-5, overhead 0.01):
//   - the grid has 10000 equally spaced points from lo = (mean over
//     vectors of the smallest node) - 0.01 to hi = (mean of the largest
//     node) + 0.01;
//   - each node is broadened by a Gaussian of variance
//     1e-5·max(1, hi - lo) in eigenvalue units (PyHessian's sigma_squared
//     = 1e-5 scaled by the range; the value is named sigma there but used
//     as the variance). So 1e-5 is the variance for a range up to 1; for a
//     wider range the variance grows linearly with it, the standard
//     deviation as its square root: rescaled to a grid of unit width the
//     variance is 1e-5/(hi - lo), peaks get relatively narrower as the
//     spectrum widens, and the 10000-point grid spacing exceeds the
//     standard deviation once hi - lo > 1000;
//   - the result is divided by its Riemann sum Σ density·Δt on the grid.
//
// The same density without the grid renormalisation is Density(nil, grid,
// 1e-5·max(1, hi-lo)).
func (q *Quadrature) PyHessianDensity() (grid, density []float64) {
	const bins, variance0, overhead = 10000, 1e-5, 0.01
	var lo, hi float64
	for _, nodes := range q.Nodes {
		lo += floats.Min(nodes)
		hi += floats.Max(nodes)
	}
	lo = lo/float64(len(q.Nodes)) - overhead
	hi = hi/float64(len(q.Nodes)) + overhead
	grid = floats.Span(make([]float64, bins), lo, hi)
	density = q.Density(nil, grid, variance0*max(1, hi-lo))
	floats.Scale(1/(floats.Sum(density)*(grid[1]-grid[0])), density)
	return grid, density
}

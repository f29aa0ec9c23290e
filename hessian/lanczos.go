package hessian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Which selects the end of the spectrum Lanczos looks for.
type Which int

const (
	// LargestMagnitude selects the eigenvalues of largest |λ|: those
	// power iteration converges to, and the default.
	LargestMagnitude Which = iota
	// LargestAlgebraic selects the largest (most positive) eigenvalues.
	LargestAlgebraic
)

// String returns the criterion's name.
func (w Which) String() string {
	switch w {
	case LargestMagnitude:
		return "largest magnitude"
	case LargestAlgebraic:
		return "largest algebraic"
	}
	return fmt.Sprintf("Which(%d)", int(w))
}

// key is the quantity Which sorts on, larger first.
func (w Which) key(x float64) float64 {
	if w == LargestMagnitude {
		return math.Abs(x)
	}
	return x
}

// LanczosSettings configures Lanczos. The zero value, or a nil pointer,
// selects the defaults.
type LanczosSettings struct {
	// Which selects the end of the spectrum; the zero value is
	// LargestMagnitude.
	Which Which
	// MaxSteps caps the dimension of the Krylov space (and the number of
	// stored basis vectors); 0 means max(100, 4k), at most the dimension.
	MaxSteps int
	// Tol is the relative accuracy asked of each Ritz pair: the residual
	// bound |β_m s_{m,i}| must be at most Tol·|θ_i|; 0 means 1e-6.
	Tol float64
	// Seed seeds the random start vector (and restart vectors).
	Seed uint64
}

// breakdownTol is the size of β, relative to the estimate of |H|, below
// which the Krylov space is taken to be invariant. Rounding alone leaves
// β ≈ ε·|H|·sqrt(Dim) after full reorthogonalisation, far below it, and
// zeroing a β this small moves no eigenvalue of T by more than
// 1e-12·|H|.
const breakdownTol = 1e-12

// roundingFloor is the residual bound, relative to |H|, below which a Ritz
// pair counts as converged whatever Tol asks: rounding keeps true
// residuals around ε·|H|.
const roundingFloor = 64 * 0x1p-52

// Lanczos computes k eigenpairs of op at the end of the spectrum chosen by
// Which, by the Lanczos process with full reorthogonalisation.
//
// From a random N(0,1) start vector the Krylov basis q_1..q_m is grown one
// product at a time; each new direction is orthogonalised against every
// stored basis vector (two passes of classical Gram-Schmidt, a third when
// the second still cancels, the DGKS criterion), so no spurious copies of
// eigenvalues appear. After each step with m >= k the tridiagonal T_m is
// diagonalised with mat.EigenSym; Ritz pair i (θ_i, Q s_i) has residual
// |β_m s_{m,i}|, an upper bound on the distance from θ_i to an eigenvalue.
// Lanczos stops when the bound of each of the top k pairs is at most
// Tol·|θ_i| (or below a rounding floor of 64ε·|T|), or when MaxSteps
// or the dimension is reached.
//
// Breakdown: when β_m is negligible the basis spans an invariant subspace
// and its Ritz values are exact. If the space is not exhausted, Lanczos
// continues with a fresh random vector orthogonal to the basis (T becomes
// block diagonal), since eigenvalues outside the invariant subspace (further
// copies of a multiple eigenvalue, say) may belong to the top k. It stops
// only once the newest block's leading Ritz value has converged and, if
// that block is itself invariant, does not beat the k-th value. As with
// any single-vector Krylov method, a multiple eigenvalue is otherwise found
// once.
//
// The returned Residuals are |H x - θ x| from one more product per pair.
// Converged[i] reports whether pair i met the tolerance. The error is
// non-nil for bad arguments, an operator error, or a non-finite product
// (wrapping ErrNonFinite).
//
// Cost: m + k products for a Krylov dimension m, O(m·Dim) work per step
// for the reorthogonalisation, O(m³) per step for the eigendecomposition of
// T, and memory (m + 4)·Dim values for the basis. Lanczos needs far fewer
// products than power iteration for the same accuracy.
func Lanczos(op Operator, k int, s *LanczosSettings) (*Eigen, error) {
	n, err := dimOf(op, k)
	if err != nil {
		return nil, err
	}
	var set LanczosSettings
	if s != nil {
		set = *s
	}
	if set.Which != LargestMagnitude && set.Which != LargestAlgebraic {
		return nil, fmt.Errorf("hessian: Lanczos: unknown %v", set.Which)
	}
	maxSteps, err := checkCount("Lanczos", "MaxSteps", set.MaxSteps, min(n, max(100, 4*k)))
	if err != nil {
		return nil, err
	}
	if maxSteps < k {
		return nil, fmt.Errorf("hessian: Lanczos: MaxSteps = %d smaller than k = %d", maxSteps, k)
	}
	maxSteps = min(maxSteps, n)
	tol, err := checkTol("Lanczos", "Tol", set.Tol, 1e-6)
	if err != nil {
		return nil, err
	}

	rng := newRand(set.Seed)
	c := &counter{op: op}
	l := newKrylov(c, n)
	v := make([]float64, n)
	gaussian(v, rng)
	normalize(v)
	l.push(v, 0)

	block := 0 // first basis index of the newest block
	var r *ritz
	for {
		b, err := l.extend()
		if err != nil {
			return nil, fmt.Errorf("hessian: Lanczos: step %d: %w", l.dim(), err)
		}
		m := l.dim()
		invariant := b <= breakdownTol*l.norm || m == n
		if invariant {
			b = 0
		}
		if m >= k {
			r = l.ritz(b, k, set.Which)
			done := r.converged(tol, l.norm) && l.probeDone(b, block, invariant, r, tol, set.Which)
			if done || m == n || m >= maxSteps {
				break
			}
		}
		if invariant {
			if err := l.restart(rng); err != nil {
				return nil, fmt.Errorf("hessian: Lanczos: step %d: %w", m, err)
			}
			block = m
		} else {
			l.push(l.w, b)
		}
	}

	res := &Eigen{
		Values:    make([]float64, k),
		Vectors:   make([][]float64, k),
		Residuals: make([]float64, k),
		Converged: make([]bool, k),
		Steps:     l.dim(),
	}
	hx := l.w // the last direction is no longer needed
	for i, j := range r.idx {
		theta := r.values[j]
		x := make([]float64, n)
		for p, q := range l.q {
			floats.AddScaled(x, r.vectors.At(p, j), q)
		}
		normalize(x) // unit already, up to rounding
		if err := c.mul(hx, x); err != nil {
			return nil, fmt.Errorf("hessian: Lanczos: residual of pair %d: %w", i+1, err)
		}
		res.Values[i] = theta
		res.Vectors[i] = x
		res.Residuals[i] = residual(hx, x, theta)
		res.Converged[i] = r.bounds[i] <= threshold(tol, theta, l.norm)
	}
	res.Products = c.products
	return res, nil
}

// threshold is the residual bound a Ritz value θ must reach.
func threshold(tol, theta, norm float64) float64 {
	return max(tol*math.Abs(theta), roundingFloor*norm)
}

// krylov is a Lanczos basis with full reorthogonalisation, shared by
// Lanczos and SLQ.
type krylov struct {
	c     *counter
	q     [][]float64 // orthonormal basis
	alpha []float64   // diagonal of T
	beta  []float64   // beta[j] couples q[j] and q[j+1]; 0 between blocks
	w     []float64   // the residual direction left by extend
	coef  []float64   // scratch for the Gram-Schmidt coefficients
	norm  float64     // running estimate of |T| (max row sum)
}

func newKrylov(c *counter, n int) *krylov {
	return &krylov{c: c, w: make([]float64, n)}
}

func (l *krylov) dim() int { return len(l.q) }

// push appends a copy of v to the basis, scaled by 1/b when b > 0 (the
// Lanczos recurrence) or as is when b = 0 (a unit vector starting a block),
// and records the coupling b.
func (l *krylov) push(v []float64, b float64) {
	q := append([]float64(nil), v...)
	if b > 0 {
		floats.Scale(1/b, q)
	}
	if len(l.q) > 0 {
		l.beta = append(l.beta, b)
	}
	l.q = append(l.q, q)
}

// extend multiplies the newest basis vector by H, appends the diagonal
// entry of T and leaves in w the new direction, orthogonal to the basis.
// It returns |w|.
func (l *krylov) extend() (float64, error) {
	j := len(l.q) - 1
	qj := l.q[j]
	if err := l.c.mul(l.w, qj); err != nil {
		return 0, err
	}
	a := floats.Dot(l.w, qj)
	floats.AddScaled(l.w, -a, qj)
	var bprev float64
	if j > 0 {
		bprev = l.beta[j-1]
		floats.AddScaled(l.w, -bprev, l.q[j-1])
	}
	a += l.reorth(l.w)
	l.alpha = append(l.alpha, a)
	b := floats.Norm(l.w, 2)
	l.norm = max(l.norm, math.Abs(a)+b+bprev)
	return b, nil
}

// reorth orthogonalises w against the whole basis by classical Gram-Schmidt,
// repeating while a pass shrinks w by more than 1/sqrt(2) (at most three
// passes). It returns the total coefficient removed along the newest basis
// vector, a correction to the diagonal entry of T.
func (l *krylov) reorth(w []float64) float64 {
	last := len(l.q) - 1
	var along float64
	before := floats.Norm(w, 2)
	for range 3 {
		l.coef = l.coef[:0]
		for _, q := range l.q {
			l.coef = append(l.coef, floats.Dot(w, q))
		}
		for p, q := range l.q {
			floats.AddScaled(w, -l.coef[p], q)
		}
		along += l.coef[last]
		after := floats.Norm(w, 2)
		if after > before/math.Sqrt2 || after == 0 {
			break
		}
		before = after
	}
	return along
}

// restart starts a new block from a random vector orthogonal to the basis.
func (l *krylov) restart(rng *rand.Rand) error {
	v := make([]float64, len(l.w))
	gaussian(v, rng)
	normalize(v)
	l.reorth(v)
	l.reorth(v) // the projection may be small: make sure it is orthogonal
	if normalize(v) == 0 {
		return errors.New("hessian: no direction left for a restart")
	}
	l.push(v, 0)
	return nil
}

// tridiag returns the symmetric tridiagonal T of basis rows [from, dim).
func (l *krylov) tridiag(from int) *mat.SymDense {
	m := len(l.alpha) - from
	t := mat.NewSymDense(m, nil)
	for i := range m {
		t.SetSym(i, i, l.alpha[from+i])
		if i+1 < m {
			t.SetSym(i, i+1, l.beta[from+i])
		}
	}
	return t
}

// ritz is the eigendecomposition of T and its top k Ritz pairs.
type ritz struct {
	values  []float64 // eigenvalues of T, ascending
	vectors mat.Dense // eigenvectors of T, by column
	idx     []int     // the top k columns, best first
	bounds  []float64 // |β s_m| for idx
}

// eigenTridiag diagonalises a tridiagonal matrix built by tridiag.
func eigenTridiag(t *mat.SymDense) ([]float64, mat.Dense) {
	var es mat.EigenSym
	if !es.Factorize(t, true) {
		// The symmetric QR algorithm converges for any finite input, and
		// T is finite since every product was checked.
		panic("hessian: eigendecomposition of T failed")
	}
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	return es.Values(nil), vecs
}

// order returns the column indices sorted by which, best first; ties go to
// the larger value.
func order(values []float64, which Which) []int {
	idx := make([]int, len(values))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := which.key(values[idx[a]]), which.key(values[idx[b]])
		if ka != kb {
			return ka > kb
		}
		return values[idx[a]] > values[idx[b]]
	})
	return idx
}

// ritz diagonalises T and selects its top k Ritz pairs; b is the coupling to
// the next (unbuilt) basis vector.
func (l *krylov) ritz(b float64, k int, which Which) *ritz {
	vals, vecs := eigenTridiag(l.tridiag(0))
	r := &ritz{values: vals, vectors: vecs, idx: order(vals, which)[:k]}
	last := len(vals) - 1
	r.bounds = make([]float64, k)
	for i, j := range r.idx {
		r.bounds[i] = b * math.Abs(vecs.At(last, j))
	}
	return r
}

// converged reports whether every selected pair meets the tolerance.
func (r *ritz) converged(tol, norm float64) bool {
	for i, j := range r.idx {
		if r.bounds[i] > threshold(tol, r.values[j], norm) {
			return false
		}
	}
	return true
}

// probeDone decides whether the newest block rules out eigenvalues missed
// outside the earlier, invariant, blocks. The newest block starts at basis
// index block and is invariant when the coupling b was zeroed.
func (l *krylov) probeDone(b float64, block int, invariant bool, r *ritz, tol float64, which Which) bool {
	if block == 0 && !invariant {
		return true // a single growing block: its lead pair is among the top k
	}
	vals, vecs := eigenTridiag(l.tridiag(block))
	top := order(vals, which)[0]
	lead := vals[top]
	if b*math.Abs(vecs.At(len(vals)-1, top)) > threshold(tol, lead, l.norm) {
		return false
	}
	if !invariant {
		return true
	}
	// The block is invariant: copies of its leading eigenvalue may remain
	// in its complement. They matter only if it beats the k-th value.
	kth := r.values[r.idx[len(r.idx)-1]]
	return which.key(lead) <= which.key(kth)+threshold(tol, kth, l.norm)
}

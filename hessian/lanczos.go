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
	// SmallestAlgebraic selects the smallest (most negative) eigenvalues.
	SmallestAlgebraic
)

// String returns the criterion's name.
func (w Which) String() string {
	switch w {
	case LargestMagnitude:
		return "largest magnitude"
	case LargestAlgebraic:
		return "largest algebraic"
	case SmallestAlgebraic:
		return "smallest algebraic"
	}
	return fmt.Sprintf("Which(%d)", int(w))
}

// key is the quantity Which sorts on, larger first.
func (w Which) key(x float64) float64 {
	switch w {
	case LargestMagnitude:
		return math.Abs(x)
	case SmallestAlgebraic:
		return -x
	}
	return x
}

// StopRule selects when Lanczos considers a Ritz pair converged.
type StopRule int

const (
	// StopResidual asks the residual bound r_i = |β_m s_{m,i}| of each of
	// the top k Ritz pairs (θ_i, x_i) to be at most Tol·|θ_i|: the pair is
	// then an eigenpair to that accuracy, vector included, and
	// |λ - θ_i| <= r_i. The default.
	StopResidual StopRule = iota
	// StopEigenvalue asks only the eigenvalues to be accurate: the error
	// bound min(r_i, r_i²/g_i) of each top-k Ritz value must be at most
	// Tol·|θ_i|, where g_i is the distance from θ_i to the nearest other
	// Ritz value. For a symmetric operator the distance from θ_i to the
	// nearest eigenvalue is at most r_i²/δ_i, δ_i being the gap between
	// θ_i and the rest of the spectrum, of which g_i is the estimate the
	// Krylov space offers. The error of an eigenvalue is quadratic in the
	// residual, so this stops several steps earlier for the same
	// eigenvalue accuracy; the vectors are then accurate to about
	// sqrt(Tol·|θ_i|·g_i) only.
	StopEigenvalue
)

// String returns the rule's name.
func (r StopRule) String() string {
	switch r {
	case StopResidual:
		return "residual"
	case StopEigenvalue:
		return "eigenvalue"
	}
	return fmt.Sprintf("StopRule(%d)", int(r))
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
	// Tol is the relative accuracy asked of each Ritz pair, in the sense
	// of Stop; 0 means 1e-6.
	Tol float64
	// Stop is the stopping rule; the zero value is StopResidual.
	Stop StopRule
	// BoundResiduals, when true, returns the residual bounds |β_m s_{m,i}|
	// as Residuals instead of measuring |H x - θ x| with one more product
	// per pair: k products fewer. With full reorthogonalisation the two
	// agree up to rounding.
	BoundResiduals bool
	// Guard is the number of Ritz pairs beyond the k-th that must also
	// meet the stopping rule before Lanczos stops (they are not
	// returned). A Krylov space of few steps can miss an eigenvalue near
	// the k-th one, whose Ritz value has not appeared yet; guard pairs
	// make Lanczos explore that part of the spectrum a little longer. 0
	// (the default) asks only the k pairs returned.
	Guard int
	// Start, when not nil, is the start vector (any non-zero vector of
	// length Dim, normalised by Lanczos), for instance the sum of
	// eigenvectors found on a similar operator; nil draws a random one.
	Start []float64
	// Basis selects the storage of the Krylov basis; the zero value keeps
	// it in memory in float64.
	Basis Basis
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

// lanczosSteps validates the step cap and returns it.
func lanczosSteps(set *LanczosSettings, n, k int) (int, error) {
	maxSteps, err := checkCount("Lanczos", "MaxSteps", set.MaxSteps, min(n, max(100, 4*k)))
	if err != nil {
		return 0, err
	}
	if maxSteps < k {
		return 0, fmt.Errorf("hessian: Lanczos: MaxSteps = %d smaller than k = %d", maxSteps, k)
	}
	return min(maxSteps, n), nil
}

// Lanczos computes k eigenpairs of op at the end of the spectrum chosen by
// Which, by the Lanczos process with full reorthogonalisation.
//
// From a start vector (random N(0,1) entries unless Start is given) the
// Krylov basis q_1..q_m is grown one product at a time; each new direction
// is orthogonalised against every stored basis vector (two passes of
// classical Gram-Schmidt, a third when the second still cancels, the DGKS
// criterion), so no spurious copies of eigenvalues appear. After each step
// with m >= k the tridiagonal T_m is diagonalised with mat.EigenSym; Ritz
// pair i (θ_i, Q s_i) has residual |β_m s_{m,i}|, an upper bound on the
// distance from θ_i to an eigenvalue. Lanczos stops when each of the top k
// pairs meets the Stop rule at Tol (or its residual bound is below a
// rounding floor of 64ε·|T|), or when MaxSteps or the dimension is
// reached.
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
// The returned Residuals are |H x - θ x| from one more product per pair
// (the bounds |β_m s_{m,i}| with BoundResiduals). Converged[i] reports
// whether pair i met the rule. The error is non-nil for bad arguments, an
// operator error, a non-finite product (wrapping ErrNonFinite) or a failure
// of the basis storage on disk.
//
// Cost: m + k products for a Krylov dimension m (m with BoundResiduals),
// O(m·Dim) work per step for the reorthogonalisation, O(m³) per step for
// the eigendecomposition of T; memory as LanczosSettings.Memory states.
// Lanczos needs far fewer products than power iteration for the same
// accuracy.
func Lanczos(op Operator, k int, s *LanczosSettings) (*Eigen, error) {
	n, err := dimOf(op, k)
	if err != nil {
		return nil, err
	}
	var set LanczosSettings
	if s != nil {
		set = *s
	}
	if set.Which < LargestMagnitude || set.Which > SmallestAlgebraic {
		return nil, fmt.Errorf("hessian: Lanczos: unknown %v", set.Which)
	}
	if set.Stop != StopResidual && set.Stop != StopEigenvalue {
		return nil, fmt.Errorf("hessian: Lanczos: unknown %v", set.Stop)
	}
	maxSteps, err := lanczosSteps(&set, n, k)
	if err != nil {
		return nil, err
	}
	tol, err := checkTol("Lanczos", "Tol", set.Tol, 1e-6)
	if err != nil {
		return nil, err
	}
	if set.Guard < 0 {
		return nil, fmt.Errorf("hessian: Lanczos: Guard = %d must be non-negative", set.Guard)
	}
	if set.Start != nil && len(set.Start) != n {
		return nil, fmt.Errorf("hessian: Lanczos: start vector of length %d, dimension %d", len(set.Start), n)
	}

	rng := newRand(set.Seed)
	c := &counter{op: op}
	l, err := newKrylov(c, n, set.Basis)
	if err != nil {
		return nil, fmt.Errorf("hessian: Lanczos: %w", err)
	}
	res, err := lanczos(l, rng, c, k, maxSteps, tol, &set)
	if cerr := l.close(); cerr != nil && err == nil {
		return nil, fmt.Errorf("hessian: Lanczos: %w", cerr)
	}
	return res, err
}

// lanczos runs the iteration of Lanczos on the basis l.
func lanczos(l *krylov, rng *rand.Rand, c *counter, k, maxSteps int, tol float64, set *LanczosSettings) (*Eigen, error) {
	n := len(l.w)
	v := make([]float64, n)
	if set.Start != nil {
		copy(v, set.Start)
		if normalize(v) == 0 {
			return nil, errors.New("hessian: Lanczos: zero start vector")
		}
	} else {
		gaussian(v, rng)
		normalize(v)
	}
	if err := l.push(v, 0); err != nil {
		return nil, fmt.Errorf("hessian: Lanczos: %w", err)
	}

	kk := min(k+set.Guard, maxSteps) // pairs that must converge, guard pairs included
	block := 0                       // first basis index of the newest block
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
		if m >= kk {
			r = l.ritz(b, kk, set.Which, set.Stop)
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
		} else if err := l.push(l.w, b); err != nil {
			return nil, fmt.Errorf("hessian: Lanczos: step %d: %w", m, err)
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
	for i, j := range r.idx[:k] {
		theta := r.values[j]
		x := make([]float64, n)
		if err := l.store.combine(x, func(p int) float64 { return r.vectors.At(p, j) }); err != nil {
			return nil, fmt.Errorf("hessian: Lanczos: Ritz vector %d: %w", i+1, err)
		}
		normalize(x) // unit already, up to rounding
		res.Values[i] = theta
		res.Vectors[i] = x
		if set.BoundResiduals {
			res.Residuals[i] = r.resid[i]
		} else {
			if err := c.mul(hx, x); err != nil {
				return nil, fmt.Errorf("hessian: Lanczos: residual of pair %d: %w", i+1, err)
			}
			res.Residuals[i] = residual(hx, x, theta)
		}
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
// Lanczos and SLQ. The basis lives in a basisStore; the two newest vectors,
// which the three-term recurrence uses, are also kept as float64 slices
// (shared with the store when it keeps float64 slices itself).
type krylov struct {
	c     *counter
	store basisStore
	owns  bool      // the store keeps the slices it is given
	cur   []float64 // the newest basis vector
	prev  []float64 // the one before it
	alpha []float64 // diagonal of T
	beta  []float64 // beta[j] couples q[j] and q[j+1]; 0 between blocks
	w     []float64 // the residual direction left by extend
	coef  []float64 // scratch for the Gram-Schmidt coefficients
	norm  float64   // running estimate of |T| (max row sum)
}

func newKrylov(c *counter, n int, b Basis) (*krylov, error) {
	st, err := newBasisStore(b, n)
	if err != nil {
		return nil, err
	}
	return &krylov{c: c, store: st, owns: b.owns(), w: make([]float64, n)}, nil
}

func (l *krylov) dim() int { return l.store.len() }

// close releases the basis.
func (l *krylov) close() error { return l.store.close() }

// push appends a copy of v to the basis, scaled by 1/b when b > 0 (the
// Lanczos recurrence) or as is when b = 0 (a unit vector starting a block),
// and records the coupling b.
func (l *krylov) push(v []float64, b float64) error {
	var q []float64
	if l.owns || l.prev == nil {
		q = make([]float64, len(v))
	} else {
		q = l.prev // no longer needed: reuse it
	}
	copy(q, v)
	if b > 0 {
		floats.Scale(1/b, q)
	}
	if err := l.store.add(q); err != nil {
		return err
	}
	if l.store.len() > 1 {
		l.beta = append(l.beta, b)
	}
	l.prev, l.cur = l.cur, q
	return nil
}

// extend multiplies the newest basis vector by H, appends the diagonal
// entry of T and leaves in w the new direction, orthogonal to the basis.
// It returns |w|.
func (l *krylov) extend() (float64, error) {
	j := l.store.len() - 1
	qj := l.cur
	if err := l.c.mul(l.w, qj); err != nil {
		return 0, err
	}
	a := floats.Dot(l.w, qj)
	floats.AddScaled(l.w, -a, qj)
	var bprev float64
	if j > 0 {
		bprev = l.beta[j-1]
		floats.AddScaled(l.w, -bprev, l.prev)
	}
	along, err := l.reorth(l.w)
	if err != nil {
		return 0, err
	}
	a += along
	l.alpha = append(l.alpha, a)
	b := floats.Norm(l.w, 2)
	l.norm = max(l.norm, math.Abs(a)+b+bprev)
	return b, nil
}

// reorth orthogonalises w against the whole basis by classical Gram-Schmidt,
// repeating while a pass shrinks w by more than 1/sqrt(2) (at most three
// passes). It returns the total coefficient removed along the newest basis
// vector, a correction to the diagonal entry of T.
func (l *krylov) reorth(w []float64) (float64, error) {
	m := l.store.len()
	last := m - 1
	var along float64
	before := floats.Norm(w, 2)
	for range 3 {
		if cap(l.coef) < m {
			l.coef = make([]float64, m, 2*m)
		}
		l.coef = l.coef[:m]
		if err := l.store.dots(l.coef, w); err != nil {
			return 0, err
		}
		if err := l.store.subtract(w, l.coef); err != nil {
			return 0, err
		}
		along += l.coef[last]
		after := floats.Norm(w, 2)
		if after > before/math.Sqrt2 || after == 0 {
			break
		}
		before = after
	}
	return along, nil
}

// restart starts a new block from a random vector orthogonal to the basis.
func (l *krylov) restart(rng *rand.Rand) error {
	v := make([]float64, len(l.w))
	gaussian(v, rng)
	normalize(v)
	for range 2 { // the projection may be small: make sure it is orthogonal
		if _, err := l.reorth(v); err != nil {
			return err
		}
	}
	if normalize(v) == 0 {
		return errors.New("hessian: no direction left for a restart")
	}
	return l.push(v, 0)
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
	resid   []float64 // residual bounds |β s_m| for idx
	bounds  []float64 // the stopping rule's error bounds for idx
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
func (l *krylov) ritz(b float64, k int, which Which, rule StopRule) *ritz {
	vals, vecs := eigenTridiag(l.tridiag(0))
	r := &ritz{values: vals, vectors: vecs, idx: order(vals, which)[:k]}
	last := len(vals) - 1
	r.resid = make([]float64, k)
	r.bounds = make([]float64, k)
	for i, j := range r.idx {
		r.resid[i] = b * math.Abs(vecs.At(last, j))
		r.bounds[i] = r.resid[i]
		if rule == StopEigenvalue {
			r.bounds[i] = eigenvalueBound(r.resid[i], vals, j)
		}
	}
	return r
}

// eigenvalueBound returns min(res, res²/gap), gap being the distance from
// vals[j] to the nearest other Ritz value; res when there is none.
func eigenvalueBound(res float64, vals []float64, j int) float64 {
	gap := math.Inf(1)
	for p, x := range vals {
		if p != j {
			gap = math.Min(gap, math.Abs(x-vals[j]))
		}
	}
	if math.IsInf(gap, 1) || gap == 0 {
		return res
	}
	return math.Min(res, res*res/gap)
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

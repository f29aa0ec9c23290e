package hessian

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// haar returns a random orthogonal n×n matrix, distributed by Haar measure:
// the Q of the QR factorisation of a Gaussian matrix with the signs fixed
// by the diagonal of R (Mezzadri 2007).
func haar(n int, rng *rand.Rand) *mat.Dense {
	g := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q, r mat.Dense
	qr.QTo(&q)
	qr.RTo(&r)
	for j := range n {
		if r.At(j, j) < 0 {
			for i := range n {
				q.Set(i, j, -q.At(i, j))
			}
		}
	}
	return &q
}

// withSpectrum returns Q diag(lambda) Qᵀ for a Haar-random Q: a dense
// symmetric matrix whose eigenvalues are exactly lambda (up to rounding).
// O(n³): for n up to a few hundred.
func withSpectrum(lambda []float64, rng *rand.Rand) *mat.SymDense {
	n := len(lambda)
	q := haar(n, rng)
	var qd mat.Dense
	qd.Apply(func(_, j int, v float64) float64 { return v * lambda[j] }, q)
	var a mat.Dense
	a.Mul(&qd, q.T())
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	return s
}

// reflected returns P diag(lambda) P for P a product of r random
// Householder reflections: a dense symmetric matrix with eigenvalues lambda
// built in O(r·n²), for large n. Power iteration and Lanczos from Gaussian
// start vectors are invariant in distribution under orthogonal changes of
// basis, so this is as good a test for them as a Haar-random basis.
func reflected(lambda []float64, r int, rng *rand.Rand) *mat.SymDense {
	n := len(lambda)
	a := mat.NewSymDense(n, nil)
	for i, l := range lambda {
		a.SetSym(i, i, l)
	}
	u := make([]float64, n)
	au := make([]float64, n)
	for range r {
		gaussian(u, rng)
		normalize(u)
		// (I - 2uuᵀ) A (I - 2uuᵀ) = A - 2u(Au)ᵀ - 2(Au)uᵀ + 4(uᵀAu)uuᵀ.
		mat.NewVecDense(n, au).MulVec(a, mat.NewVecDense(n, u))
		uau := floats.Dot(u, au)
		for i := range n {
			for j := i; j < n; j++ {
				a.SetSym(i, j, a.At(i, j)-2*u[i]*au[j]-2*au[i]*u[j]+4*uau*u[i]*u[j])
			}
		}
	}
	return a
}

// topBy returns the k values of lambda best by which, best first.
func topBy(lambda []float64, k int, which Which) []float64 {
	v := slices.Clone(lambda)
	sort.SliceStable(v, func(a, b int) bool {
		ka, kb := which.key(v[a]), which.key(v[b])
		if ka != kb {
			return ka > kb
		}
		return v[a] > v[b]
	})
	return v[:k]
}

// maxRelErr returns max_i |got_i - want_i| / |want_i|.
func maxRelErr(got, want []float64) float64 {
	var e float64
	for i := range want {
		e = max(e, math.Abs(got[i]-want[i])/math.Abs(want[i]))
	}
	return e
}

// funcOp is an Operator given by a function, for injecting failures.
type funcOp struct {
	n int
	f func(dst, v []float64) error
}

func (o funcOp) Dim() int                      { return o.n }
func (o funcOp) MulVec(dst, v []float64) error { return o.f(dst, v) }

// decaying returns a Hessian-like spectrum of size n: a few outliers
// decaying as 100·i^-0.8, a positive bulk and a tenth of small negative
// eigenvalues down to -2.
func decaying(n int) []float64 {
	l := make([]float64, n)
	neg := n / 10
	for i := range n - neg {
		l[i] = 100 * math.Pow(float64(i+1), -0.8)
	}
	for i := range neg {
		l[n-neg+i] = -2 * float64(i+1) / float64(neg)
	}
	return l
}

package hessian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/errs"
)

// Operator is a symmetric linear operator H on R^n known only through its
// products, such as a Hessian given by Hessian-vector products.
type Operator interface {
	// Dim returns n, the dimension of the space H acts on.
	Dim() int
	// MulVec stores H v in dst. The algorithms of this package always
	// call it with len(dst) == len(v) == Dim() and dst, v not aliased, and
	// never keep either slice after it returns. A non-nil error stops the
	// calling algorithm, which returns it wrapped.
	MulVec(dst, v []float64) error
}

// ErrNonFinite is wrapped by the errors the algorithms return when an
// operator product contains a NaN or an infinity. It is an
// *errs.NonFiniteError, so errors.As finds it as every other non-finite
// value of vitprobe.
var ErrNonFinite error = &errs.NonFiniteError{What: "Hessian-vector product"}

// Dense is an Operator backed by an explicit symmetric matrix. It is meant
// for tests and for small problems checked against an exact
// eigendecomposition.
type Dense struct {
	a *mat.Dense
	n int
}

// NewDense returns an Operator whose products are a v. It keeps a full
// copy of a, as a general matrix: gonum's general matrix-vector product is
// several times faster than its symmetric one, for the same memory as a
// mat.SymDense.
func NewDense(a mat.Symmetric) *Dense {
	n := a.SymmetricDim()
	if n == 0 {
		return &Dense{}
	}
	d := mat.NewDense(n, n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			x := a.At(i, j)
			d.Set(i, j, x)
			d.Set(j, i, x)
		}
	}
	return &Dense{a: d, n: n}
}

// Dim returns the order of the matrix.
func (d *Dense) Dim() int { return d.n }

// MulVec stores a v in dst. It panics if the lengths differ from Dim.
func (d *Dense) MulVec(dst, v []float64) error {
	if len(dst) != d.n || len(v) != d.n {
		panic(fmt.Sprintf("hessian: MulVec lengths %d and %d, dimension %d", len(dst), len(v), d.n))
	}
	if d.n == 0 {
		return nil
	}
	mat.NewVecDense(d.n, dst).MulVec(d.a, mat.NewVecDense(d.n, v))
	return nil
}

// counter wraps an Operator, counts its products and rejects non-finite ones.
type counter struct {
	op       Operator
	products int
}

func (c *counter) mul(dst, v []float64) error {
	c.products++
	if err := c.op.MulVec(dst, v); err != nil {
		return err
	}
	for _, x := range dst {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ErrNonFinite
		}
	}
	return nil
}

// dimOf validates the operator's dimension against k, the number of
// eigenpairs asked for.
func dimOf(op Operator, k int) (int, error) {
	if op == nil {
		return 0, errors.New("hessian: nil operator")
	}
	n := op.Dim()
	if n < 1 {
		return 0, fmt.Errorf("hessian: operator dimension %d must be positive", n)
	}
	if k <= 0 {
		return 0, fmt.Errorf("hessian: k = %d must be positive", k)
	}
	if k > n {
		return 0, fmt.Errorf("hessian: k = %d larger than the dimension %d", k, n)
	}
	return n, nil
}

// checkTol rejects negative or non-finite tolerances; 0 selects def.
func checkTol(method, name string, tol, def float64) (float64, error) {
	switch {
	case math.IsNaN(tol) || math.IsInf(tol, 0) || tol < 0:
		return 0, fmt.Errorf("hessian: %s: %s = %v must be finite and non-negative", method, name, tol)
	case tol == 0:
		return def, nil
	}
	return tol, nil
}

// checkCount rejects negative counts; 0 selects def.
func checkCount(method, name string, v, def int) (int, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("hessian: %s: %s = %d must be non-negative", method, name, v)
	case v == 0:
		return def, nil
	}
	return v, nil
}

// newRand returns the package's generator for a seed.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc909))
}

// gaussian fills v with independent standard normal values.
func gaussian(v []float64, rng *rand.Rand) {
	for i := range v {
		v[i] = rng.NormFloat64()
	}
}

// rademacher fills v with independent signs ±1.
func rademacher(v []float64, rng *rand.Rand) {
	var bits uint64
	for i := range v {
		if i%64 == 0 {
			bits = rng.Uint64()
		}
		if bits&1 == 1 {
			v[i] = 1
		} else {
			v[i] = -1
		}
		bits >>= 1
	}
}

// residual returns |hv - lambda v|.
func residual(hv, v []float64, lambda float64) float64 {
	var s float64
	for i, x := range hv {
		d := x - lambda*v[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// normalize scales v to unit length and returns its former length; v is
// left unchanged when it is zero.
func normalize(v []float64) float64 {
	nrm := floats.Norm(v, 2)
	if nrm > 0 {
		floats.Scale(1/nrm, v)
	}
	return nrm
}

package cka

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Features is a minibatch of N examples' representations with D features
// each, row-major: example i's features are Data[i*D : (i+1)*D].
type Features struct {
	N, D int
	Data []float64
}

// Validate reports whether the shape is positive and Data holds N·D
// values.
func (f Features) Validate() error {
	if f.N <= 0 || f.D <= 0 {
		return fmt.Errorf("cka: features of shape %d×%d: dimensions must be positive", f.N, f.D)
	}
	if len(f.Data) != f.N*f.D {
		return fmt.Errorf("cka: %d values for features of shape %d×%d", len(f.Data), f.N, f.D)
	}
	return nil
}

// ErrSmallBatch reports a minibatch of fewer than 4 examples, on which
// the unbiased HSIC estimator is not defined.
var ErrSmallBatch = errors.New("fewer than 4 examples in a minibatch")

// MinBatch is the smallest minibatch the estimators accept.
const MinBatch = 4

// Estimator selects the HSIC estimator.
type Estimator int

const (
	// Unbiased is the estimator of Song et al. (2012), the default.
	Unbiased Estimator = iota
	// Biased is tr(KHLH)/(n−1)², as in Kornblith et al. (2019); kept for
	// comparison: it inflates the similarity of unrelated representations
	// on small minibatches.
	Biased
)

// String returns "unbiased" or "biased".
func (e Estimator) String() string {
	switch e {
	case Unbiased:
		return "unbiased"
	case Biased:
		return "biased"
	}
	return fmt.Sprintf("Estimator(%d)", int(e))
}

// ParseEstimator is String's inverse.
func ParseEstimator(s string) (Estimator, error) {
	switch s {
	case "unbiased":
		return Unbiased, nil
	case "biased":
		return Biased, nil
	}
	return 0, fmt.Errorf("cka: estimator %q: want unbiased or biased", s)
}

// MarshalText implements encoding.TextMarshaler.
func (e Estimator) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (e *Estimator) UnmarshalText(b []byte) error {
	v, err := ParseEstimator(string(b))
	*e = v
	return err
}

// Center returns x's values with every column's mean subtracted, in dst
// if it has room (dst may be x.Data). A constant column becomes exact
// zeros (the mean of n equal values need not round back to that value),
// so that a constant representation has a zero Gram matrix and its CKA is
// reported as undefined rather than computed from rounding noise.
func Center(dst []float64, x Features) ([]float64, error) {
	if err := x.Validate(); err != nil {
		return nil, err
	}
	n, d := x.N, x.D
	mean := make([]float64, d)
	constant := make([]bool, d)
	for j := range constant {
		constant[j] = true
	}
	for i := range n {
		row, first := x.Data[i*d:(i+1)*d], x.Data[:d]
		for j, v := range row {
			mean[j] += v
			constant[j] = constant[j] && v == first[j]
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
		if constant[j] {
			mean[j] = x.Data[j]
		}
	}
	if cap(dst) < n*d {
		dst = make([]float64, n*d)
	}
	dst = dst[:n*d]
	for i := range n {
		row, out := x.Data[i*d:(i+1)*d], dst[i*d:(i+1)*d]
		for j, v := range row {
			out[j] = v - mean[j]
		}
	}
	return dst, nil
}

// Gram returns the linear kernel of x, the N×N matrix K = Xc Xcᵀ of the
// column-centred features Xc (Center; row-major, exactly symmetric), in dst
// if it has room. Centring the columns changes no HSIC value (both
// estimators ignore a constant added to every row) and keeps the entries
// small.
func Gram(dst []float64, x Features) ([]float64, error) {
	xc, err := Center(nil, x)
	if err != nil {
		return nil, err
	}
	n, d := x.N, x.D
	if cap(dst) < n*n {
		dst = make([]float64, n*n)
	}
	dst = dst[:n*n]
	clear(dst)
	blas64.Syrk(blas.NoTrans, 1, blas64.General{Rows: n, Cols: d, Data: xc, Stride: d}, 0,
		blas64.Symmetric{Uplo: blas.Upper, N: n, Data: dst, Stride: n})
	for i := range n {
		for j := i + 1; j < n; j++ {
			dst[j*n+i] = dst[i*n+j]
		}
	}
	for _, v := range dst {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("cka: non-finite value in a Gram matrix (non-finite features)")
		}
	}
	return dst, nil
}

// checkGram validates an n×n matrix.
func checkGram(k []float64, n int) error {
	if n < MinBatch {
		return fmt.Errorf("cka: minibatch of %d examples: %w", n, ErrSmallBatch)
	}
	if len(k) != n*n {
		return fmt.Errorf("cka: %d values for a %d×%d Gram matrix", len(k), n, n)
	}
	return nil
}

// UCenter returns the U-centred form of the n×n Gram matrix k (see the
// package comment) in dst if it has room: the matrix whose inner products
// give the unbiased HSIC. dst must not alias k.
func UCenter(dst, k []float64, n int) ([]float64, error) {
	if err := checkGram(k, n); err != nil {
		return nil, err
	}
	if cap(dst) < n*n {
		dst = make([]float64, n*n)
	}
	dst = dst[:n*n]
	r := make([]float64, n)
	var s float64
	for i := range n {
		var ri float64
		for j := range n {
			if j != i {
				ri += k[i*n+j]
			}
		}
		r[i] = ri
		s += ri
	}
	fn := float64(n)
	c := s / ((fn - 1) * (fn - 2))
	for i := range n {
		for j := range n {
			if i == j {
				dst[i*n+j] = 0
				continue
			}
			dst[i*n+j] = k[i*n+j] - (r[i]+r[j])/(fn-2) + c
		}
	}
	return dst, nil
}

// DoubleCenter returns H k H, H = I − 11ᵀ/n, in dst if it has room: the
// matrix whose inner products give the biased HSIC. dst must not alias k.
func DoubleCenter(dst, k []float64, n int) ([]float64, error) {
	if err := checkGram(k, n); err != nil {
		return nil, err
	}
	if cap(dst) < n*n {
		dst = make([]float64, n*n)
	}
	dst = dst[:n*n]
	r := make([]float64, n)
	var s float64
	for i := range n {
		for j := range n {
			r[i] += k[i*n+j]
		}
		s += r[i]
	}
	fn := float64(n)
	for i := range n {
		for j := range n {
			dst[i*n+j] = k[i*n+j] - r[i]/fn - r[j]/fn + s/(fn*fn)
		}
	}
	return dst, nil
}

// centered returns the matrix whose inner products give est's HSIC, and
// the scale of those inner products.
func centered(dst, k []float64, n int, est Estimator) ([]float64, float64, error) {
	fn := float64(n)
	switch est {
	case Unbiased:
		c, err := UCenter(dst, k, n)
		return c, 1 / (fn * (fn - 3)), err
	case Biased:
		c, err := DoubleCenter(dst, k, n)
		return c, 1 / ((fn - 1) * (fn - 1)), err
	}
	return nil, 0, fmt.Errorf("cka: unknown estimator %v", est)
}

// HSIC returns est's estimate of HSIC from two n×n Gram matrices of the
// same examples.
func HSIC(k, l []float64, n int, est Estimator) (float64, error) {
	ck, scale, err := centered(nil, k, n, est)
	if err != nil {
		return 0, err
	}
	cl, _, err := centered(nil, l, n, est)
	if err != nil {
		return 0, err
	}
	return scale * dot(ck, cl), nil
}

// dot returns Σ a_i b_i.
func dot(a, b []float64) float64 {
	return blas64.Dot(blas64.Vector{N: len(a), Data: a, Inc: 1}, blas64.Vector{N: len(b), Data: b, Inc: 1})
}

// CKA returns the linear CKA of two representations of the same n
// examples from one minibatch, with est's HSIC; NaN when either
// representation is constant over the examples.
func CKA(x, y Features, est Estimator) (float64, error) {
	if x.N != y.N {
		return 0, fmt.Errorf("cka: representations of %d and %d examples", x.N, y.N)
	}
	a := NewAccumulator(2, est)
	if _, err := a.Add([]Features{x, y}); err != nil {
		return 0, err
	}
	r, err := a.Result()
	if err != nil {
		return 0, err
	}
	return r.CKA[0][1], nil
}

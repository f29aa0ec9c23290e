package hessian

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// HutchPPSettings configures HutchPlusPlus. The zero value, or a nil
// pointer, spends 30 products.
type HutchPPSettings struct {
	// Products is the total number of operator products m, at least 4; 0
	// means 30. A third of them, s = ⌊m/3⌋, sketch the range of H, s more
	// give the exact trace of H on the sketch, and the remaining m - 2s
	// (at least 2, for a standard error) estimate the trace of the rest.
	Products int
	// Seed seeds the Rademacher vectors.
	Seed uint64
}

// HutchPlusPlus estimates the trace of op by Hutch++ (Meyer, Musco, Musco
// and Woodruff 2021), with m = Products operator products:
//
//  1. sketch: Y = H S for s = ⌊m/3⌋ random ±1 vectors S, and Q an
//     orthonormal basis of the columns of Y (Gram-Schmidt, twice);
//  2. the trace of H on the sketched subspace, tr(QᵀHQ) = Σ_i q_iᵀ H q_i,
//     exactly (s products; fewer if Y has lower rank);
//  3. the trace of the rest, tr((I-QQᵀ) H (I-QQᵀ)), by Hutchinson with
//     the m - 2s remaining ±1 vectors g, each projected off Q first.
//
// The estimate is the sum of 2 and 3, unbiased like Hutchinson's. The
// sketch catches the directions of the largest eigenvalues, which carry
// most of the variance of Hutchinson's samples when the spectrum decays:
// for a positive semi-definite H the error falls as 1/m instead of
// 1/sqrt(m). Hutch++ wins when a few eigenvalues dominate |H|_F (a trained
// network's Hessian: a handful of outliers above a bulk near zero) and
// loses a little (a third of the samples) when none do.
//
// The result's LowRank is step 2, Values are the samples of step 3, Mean
// is LowRank plus their mean, and StdErr is the standard error of that mean
// given the sketch (the sample standard deviation of Values over
// sqrt(len(Values))): the error of step 2 is none, so StdErr is the
// estimate's sampling error for the sketch drawn. Converged is true.
//
// Cost: m products (fewer if the sketch has lower rank); memory as
// HutchPPSettings.Memory states.
func HutchPlusPlus(op Operator, s *HutchPPSettings) (*Trace, error) {
	n, err := dimOf(op, 1)
	if err != nil {
		return nil, err
	}
	var set HutchPPSettings
	if s != nil {
		set = *s
	}
	m, err := checkCount("Hutch++", "Products", set.Products, 30)
	if err != nil {
		return nil, err
	}
	if m < 4 {
		return nil, fmt.Errorf("hessian: Hutch++: Products = %d, want at least 4 (one sketch vector, two samples)", m)
	}
	sk, samples := hutchPPSplit(m)

	rng := newRand(set.Seed)
	c := &counter{op: op}
	v := make([]float64, n)
	hv := make([]float64, n)

	// 1. Sketch, orthonormalised as it grows.
	var q [][]float64
	for i := range sk {
		rademacher(v, rng)
		y := make([]float64, n)
		if err := c.mul(y, v); err != nil {
			return nil, fmt.Errorf("hessian: Hutch++: sketch %d: %w", i+1, err)
		}
		if orthonormalize(y, q) {
			q = append(q, y)
		}
	}
	t := &Trace{Converged: true}
	// 2. Exact trace on the sketch.
	for i, qi := range q {
		if err := c.mul(hv, qi); err != nil {
			return nil, fmt.Errorf("hessian: Hutch++: sketch trace %d: %w", i+1, err)
		}
		t.LowRank += floats.Dot(hv, qi)
	}
	// 3. Hutchinson on the complement.
	var mean float64
	for i := 1; i <= samples; i++ {
		rademacher(v, rng)
		for _, qi := range q {
			floats.AddScaled(v, -floats.Dot(v, qi), qi)
		}
		if err := c.mul(hv, v); err != nil {
			return nil, fmt.Errorf("hessian: Hutch++: sample %d: %w", i, err)
		}
		x := floats.Dot(hv, v)
		t.Values = append(t.Values, x)
		mean += (x - mean) / float64(i)
	}
	t.Mean = t.LowRank + mean
	var ss float64
	for _, x := range t.Values {
		ss += (x - mean) * (x - mean)
	}
	k := float64(len(t.Values))
	t.StdErr = math.Sqrt(ss / (k - 1) / k)
	t.Products = c.products
	return t, nil
}

// hutchPPSplit splits m products into s sketch vectors (and s products of
// the exact part) and m - 2s Hutchinson samples.
func hutchPPSplit(m int) (sketch, samples int) {
	sketch = m / 3
	return sketch, m - 2*sketch
}

// orthonormalize makes y orthogonal to the orthonormal vectors q (two
// passes of modified Gram-Schmidt) and of unit length. It reports false,
// leaving y unusable, when y lies in their span up to rounding.
func orthonormalize(y []float64, q [][]float64) bool {
	before := floats.Norm(y, 2)
	if before == 0 {
		return false
	}
	for range 2 {
		for _, qi := range q {
			floats.AddScaled(y, -floats.Dot(y, qi), qi)
		}
	}
	if floats.Norm(y, 2) <= 1e-10*before {
		return false
	}
	normalize(y)
	return true
}

// Memory states the memory HutchPlusPlus keeps for an operator of
// dimension n: the sketch basis (⌊m/3⌋ vectors), a probe vector and its
// product.
func (s *HutchPPSettings) Memory(n int) Memory {
	m := 30
	if s != nil && s.Products > 0 {
		m = s.Products
	}
	sk, _ := hutchPPSplit(m)
	return Memory{Dim: n, Vectors: 2, Basis: sk, BasisBytes: 8}
}

// DiagonalSettings configures HutchinsonDiagonal. The zero value, or a nil
// pointer, draws 100 samples.
type DiagonalSettings struct {
	// Samples is the number of random vectors, at least 2; 0 means 100.
	Samples int
	// Seed seeds the Rademacher vectors.
	Seed uint64
}

// Diagonal is a Hutchinson estimate of the diagonal of an operator.
type Diagonal struct {
	// Values[i] estimates H_ii: the mean over samples of v_i (H v)_i.
	Values []float64
	// StdErr[i] is the standard error of Values[i]: the sample standard
	// deviation of v_i (H v)_i (n-1 denominator) over sqrt(Samples).
	StdErr []float64
	// Samples is the number of random vectors; Products the number of
	// operator products (the same).
	Samples, Products int
}

// HutchinsonDiagonal estimates the diagonal of op (Bekas, Kokiopoulou and
// Saad 2007): with random vectors v of independent ±1 entries,
// v_i (H v)_i = H_ii + Σ_{j≠i} H_ij v_i v_j, whose mean over vectors is
// H_ii and whose variance is Σ_{j≠i} H_ij². One product per sample;
// memory as DiagonalSettings.Memory states. Its sum over i is Hutchinson's
// trace estimate from the same vectors.
func HutchinsonDiagonal(op Operator, s *DiagonalSettings) (*Diagonal, error) {
	n, err := dimOf(op, 1)
	if err != nil {
		return nil, err
	}
	var set DiagonalSettings
	if s != nil {
		set = *s
	}
	samples, err := checkCount("Hutchinson diagonal", "Samples", set.Samples, 100)
	if err != nil {
		return nil, err
	}
	if samples < 2 {
		return nil, errors.New("hessian: Hutchinson diagonal: needs at least 2 samples for a standard error")
	}
	rng := newRand(set.Seed)
	c := &counter{op: op}
	v := make([]float64, n)
	hv := make([]float64, n)
	d := &Diagonal{Values: make([]float64, n), StdErr: make([]float64, n), Samples: samples}
	mean, m2 := d.Values, d.StdErr // Welford's running mean and sum of squares
	for k := 1; k <= samples; k++ {
		rademacher(v, rng)
		if err := c.mul(hv, v); err != nil {
			return nil, fmt.Errorf("hessian: Hutchinson diagonal: sample %d: %w", k, err)
		}
		for i, x := range hv {
			x *= v[i]
			delta := x - mean[i]
			mean[i] += delta / float64(k)
			m2[i] += delta * (x - mean[i])
		}
	}
	f := float64(samples)
	for i, x := range m2 {
		m2[i] = math.Sqrt(x / (f - 1) / f)
	}
	d.Products = c.products
	return d, nil
}

// Memory states the memory HutchinsonDiagonal keeps for an operator of
// dimension n: the probe vector, its product and the two result vectors.
func (s *DiagonalSettings) Memory(n int) Memory {
	return Memory{Dim: n, Vectors: 4}
}

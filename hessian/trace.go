package hessian

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"
)

// TraceSettings configures Hutchinson. The zero value, or a nil pointer, is
// PyHessian's hessian.trace defaults: adaptive, up to 100 samples,
// tolerance 1e-3.
type TraceSettings struct {
	// MaxIter caps the number of samples in adaptive mode; 0 means 100.
	MaxIter int
	// Tol stops adaptive mode when the running mean changes by less than
	// Tol relative: |m_i - m_{i-1}| / (|m_{i-1}| + 1e-6) < Tol; 0 means 1e-3.
	Tol float64
	// Samples, when positive, asks for exactly that many samples (fixed
	// mode, MaxIter and Tol unused). It must be at least 2.
	Samples int
	// Seed seeds the Rademacher vectors.
	Seed uint64
}

// Trace is a Hutchinson (or Hutch++) estimate of the trace of an operator.
type Trace struct {
	// Mean is the estimate: the mean of Values, plus LowRank.
	Mean float64
	// StdErr is the standard error of Mean: the sample standard deviation
	// of Values (n-1 denominator) over sqrt(len(Values)).
	StdErr float64
	// Values are the samples vᵀHv, one per Rademacher vector v (for
	// Hutch++, v projected off the sketch).
	Values []float64
	// LowRank is the exact trace of the operator on the sketched subspace
	// (Hutch++); 0 for Hutchinson.
	LowRank float64
	// Products is the number of operator products, len(Values).
	Products int
	// Converged reports whether adaptive mode met Tol before MaxIter; it
	// is true in fixed mode.
	Converged bool
}

// Hutchinson estimates the trace of op as the mean of vᵀHv over random
// vectors v with independent ±1 entries (Hutchinson 1990), whose variance
// is 2·Σ_{i≠j} H_ij². One product per sample.
//
// In adaptive mode (the default) it follows PyHessian's hessian.trace:
// samples are drawn until the running mean changes by less than Tol
// relative, or MaxIter samples. Unlike PyHessian it always draws at least
// two samples, so that a standard error exists (PyHessian compares the
// first sample with 0 and stops only if it is below 1e-9 in magnitude).
// That rule stops on a stable running mean, not on a small standard error:
// judge the estimate by StdErr. In fixed mode exactly Samples samples are
// drawn.
func Hutchinson(op Operator, s *TraceSettings) (*Trace, error) {
	n, err := dimOf(op, 1)
	if err != nil {
		return nil, err
	}
	var set TraceSettings
	if s != nil {
		set = *s
	}
	maxIter, err := checkCount("Hutchinson", "MaxIter", set.MaxIter, 100)
	if err != nil {
		return nil, err
	}
	tol, err := checkTol("Hutchinson", "Tol", set.Tol, 1e-3)
	if err != nil {
		return nil, err
	}
	fixed, err := checkCount("Hutchinson", "Samples", set.Samples, 0)
	if err != nil {
		return nil, err
	}
	if fixed == 1 || (fixed == 0 && maxIter < 2) {
		return nil, errors.New("hessian: Hutchinson: needs at least 2 samples for a standard error")
	}

	rng := newRand(set.Seed)
	c := &counter{op: op}
	v := make([]float64, n)
	hv := make([]float64, n)
	t := &Trace{}
	limit := maxIter
	if fixed > 0 {
		limit = fixed
	}
	var mean float64
	for i := 1; i <= limit; i++ {
		rademacher(v, rng)
		if err := c.mul(hv, v); err != nil {
			return nil, fmt.Errorf("hessian: Hutchinson: sample %d: %w", i, err)
		}
		t.Values = append(t.Values, floats.Dot(hv, v))
		prev := mean
		mean += (t.Values[i-1] - mean) / float64(i)
		if fixed == 0 && i > 1 && math.Abs(mean-prev)/(math.Abs(prev)+1e-6) < tol {
			t.Converged = true
			break
		}
	}
	if fixed > 0 {
		t.Converged = true
	}
	t.Mean = mean
	var ss float64
	for _, x := range t.Values {
		ss += (x - mean) * (x - mean)
	}
	m := float64(len(t.Values))
	t.StdErr = math.Sqrt(ss / (m - 1) / m)
	t.Products = c.products
	return t, nil
}

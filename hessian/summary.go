package hessian

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Summary describes a pool of eigenvalues, such as the top eigenvalues of
// all minibatches of one model and checkpoint.
type Summary struct {
	// N is the number of values; Negative and Positive count the values
	// below and above zero.
	N, Negative, Positive int
	// NEP is the share of negative values, Negative/N: the paper's
	// measure of non-convexity.
	NEP float64
	// APE is the mean of the positive values, the paper's measure of
	// sharpness; 0 when there are none (see Positive).
	APE float64
	// Min, Max and Mean are those of all values.
	Min, Max, Mean float64
	// P05, Q1, Median, Q3 and P95 are the 5%, 25%, 50%, 75% and 95%
	// quantiles, interpolated linearly between order statistics (the
	// default of numpy.quantile).
	P05, Q1, Median, Q3, P95 float64
}

// Summarize returns the Summary of values. It fails on an empty list or
// a non-finite value.
func Summarize(values []float64) (Summary, error) {
	if err := checkValues(values); err != nil {
		return Summary{}, err
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	s := Summary{N: len(values), Min: sorted[0], Max: sorted[len(sorted)-1]}
	var sum, pos float64
	for _, x := range values {
		sum += x
		switch {
		case x < 0:
			s.Negative++
		case x > 0:
			s.Positive++
			pos += x
		}
	}
	s.Mean = sum / float64(s.N)
	s.NEP = float64(s.Negative) / float64(s.N)
	if s.Positive > 0 {
		s.APE = pos / float64(s.Positive)
	}
	s.P05 = quantile(sorted, 0.05)
	s.Q1 = quantile(sorted, 0.25)
	s.Median = quantile(sorted, 0.5)
	s.Q3 = quantile(sorted, 0.75)
	s.P95 = quantile(sorted, 0.95)
	return s, nil
}

// checkValues rejects an empty or non-finite list.
func checkValues(values []float64) error {
	if len(values) == 0 {
		return errors.New("hessian: no values")
	}
	for i, x := range values {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("hessian: value %d is %v", i, x)
		}
	}
	return nil
}

// quantile interpolates linearly between the order statistics of sorted
// at position p·(n-1).
func quantile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	i := int(math.Floor(h))
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-float64(i))*(sorted[i+1]-sorted[i])
}

// ScottBandwidth returns Scott's rule bandwidth for a Gaussian kernel
// density estimate in one dimension, σ̂·n^(-1/5) with σ̂ the sample
// standard deviation (n-1 denominator), as scipy.stats.gaussian_kde and
// seaborn's kdeplot use by default. It is 0 for fewer than two distinct
// values.
func ScottBandwidth(values []float64) float64 {
	n := float64(len(values))
	if n < 2 {
		return 0
	}
	var mean float64
	for _, x := range values {
		mean += x
	}
	mean /= n
	var ss float64
	for _, x := range values {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/(n-1)) * math.Pow(n, -0.2)
}

// KDE stores in dst, and returns, the Gaussian kernel density estimate of
// values at the points of grid:
//
//	f(t) = (1/n) Σ_i exp(-(t-x_i)²/(2h²)) / (h·sqrt(2π)),
//
// with bandwidth h, or Scott's rule (ScottBandwidth) when bandwidth is 0.
// Values may have any sign; the estimate integrates to 1 over the real line.
// If dst is nil a new slice is allocated; otherwise it must have the length
// of grid. It fails on empty or non-finite values, a negative or
// non-finite bandwidth, or a zero Scott bandwidth (fewer than two distinct
// values: give a bandwidth).
func KDE(dst, grid, values []float64, bandwidth float64) ([]float64, error) {
	if dst == nil {
		dst = make([]float64, len(grid))
	}
	if len(dst) != len(grid) {
		panic(fmt.Sprintf("hessian: KDE dst length %d, grid length %d", len(dst), len(grid)))
	}
	if err := checkValues(values); err != nil {
		return nil, err
	}
	if math.IsNaN(bandwidth) || math.IsInf(bandwidth, 0) || bandwidth < 0 {
		return nil, fmt.Errorf("hessian: KDE bandwidth %v must be finite and non-negative", bandwidth)
	}
	h := bandwidth
	if h == 0 {
		h = ScottBandwidth(values)
		if h == 0 {
			return nil, errors.New("hessian: KDE needs a bandwidth for fewer than two distinct values")
		}
	}
	norm := 1 / (float64(len(values)) * h * math.Sqrt(2*math.Pi))
	for g, t := range grid {
		var sum float64
		for _, x := range values {
			z := (t - x) / h
			sum += math.Exp(-z * z / 2)
		}
		dst[g] = sum * norm
	}
	return dst, nil
}

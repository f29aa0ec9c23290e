package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
)

// SymLog is the symmetric logarithmic scale of an axis that must show
// values of both signs across several decades (Hessian eigenvalues):
//
//	f(x) = sign(x)·log10(1 + |x|/C),
//
// linear for |x| much below C, logarithmic far above it, defined
// everywhere (gonum's LogScale panics at x <= 0). C must be positive.
type SymLog struct {
	// C is the linear threshold: the scale is linear within about ±C.
	C float64
}

// Forward returns f(x).
func (s SymLog) Forward(x float64) float64 {
	return math.Copysign(math.Log10(1+math.Abs(x)/s.C), x)
}

// Inverse returns f⁻¹(t).
func (s SymLog) Inverse(t float64) float64 {
	return math.Copysign(s.C*(math.Pow(10, math.Abs(t))-1), t)
}

// Normalize implements plot.Normalizer: the position of x between min and
// max on the symmetric-log scale, in [0, 1].
func (s SymLog) Normalize(min, max, x float64) float64 {
	lo, hi := s.Forward(min), s.Forward(max)
	if hi == lo {
		return 0.5
	}
	return (s.Forward(x) - lo) / (hi - lo)
}

// SymLogTicks marks a symmetric-log axis: major ticks, labelled, at 0 and
// ±C·10^k, minor ticks at ±C·m·10^k for m = 2..9 (dropped when the axis
// spans so many decades that they would crowd it). When more than eight
// decades would be labelled, every other one is; ±C lose their labels
// when they would run into 0's.
type SymLogTicks struct {
	C float64
}

// Ticks implements plot.Ticker.
func (t SymLogTicks) Ticks(min, max float64) []plot.Tick {
	if !(t.C > 0) || !(max > min) {
		return nil
	}
	s := SymLog(t)
	var majors []float64
	if min <= 0 && max >= 0 {
		majors = append(majors, 0)
	}
	var minors []float64
	for sign := -1.0; sign <= 1; sign += 2 {
		for k := 0; k < 40; k++ {
			v := sign * t.C * math.Pow(10, float64(k))
			if (sign > 0 && v > max) || (sign < 0 && v < min) {
				break
			}
			if v >= min && v <= max {
				majors = append(majors, v)
			}
			for m := 2; m <= 9; m++ {
				w := v * float64(m)
				if w >= min && w <= max {
					minors = append(minors, w)
				}
			}
		}
	}
	slices.Sort(majors)
	decades := s.Forward(max) - s.Forward(min)
	step := 1
	if len(majors) > 9 {
		step = 2
	}
	// ±C lie log10(2) from 0 on the axis: over many decades their labels
	// would run into 0's, so they keep only their tick marks.
	crowded := math.Log10(2)/decades < 0.05
	var out []plot.Tick
	for i, v := range majors {
		label := ""
		// Keep 0 and a symmetric pattern of labels around it.
		if v == 0 || (idxFromZero(majors, i)%step == 0 && !(crowded && math.Abs(v) == t.C)) {
			label = SymLogLabel(v)
		}
		out = append(out, plot.Tick{Value: v, Label: label})
	}
	if decades <= 8 {
		for _, v := range minors {
			out = append(out, plot.Tick{Value: v})
		}
	}
	return out
}

// idxFromZero returns how many majors lie between majors[i] and zero
// (its distance in decades from the linear threshold, plus one).
func idxFromZero(majors []float64, i int) int {
	n := 0
	for j, v := range majors {
		if j == i {
			continue
		}
		if (majors[i] > 0 && v > 0 && v < majors[i]) || (majors[i] < 0 && v < 0 && v > majors[i]) {
			n++
		}
	}
	return n
}

// SymLogLabel formats a tick value compactly: 0, 0.01, 5, 100, 1000, 1e4,
// with a true minus sign.
func SymLogLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	var s string
	if a >= 1e-3 && a < 1e4 {
		s = strconv.FormatFloat(a, 'f', -1, 64)
	} else {
		e := int(math.Round(math.Log10(a)))
		m := a / math.Pow(10, float64(e))
		if math.Abs(m-1) < 1e-9 {
			s = fmt.Sprintf("1e%d", e)
		} else {
			s = strconv.FormatFloat(a, 'g', 3, 64)
		}
	}
	if v < 0 {
		return "\u2212" + s
	}
	return s
}

// SymLogThreshold picks a linear threshold C for values: the largest power
// of ten at most the 10th percentile of the non-zero |values|, so that
// nine tenths of them lie on the logarithmic part of the axis; 1 for no
// non-zero values.
func SymLogThreshold(values []float64) float64 {
	var a []float64
	for _, v := range values {
		if v != 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
			a = append(a, math.Abs(v))
		}
	}
	if len(a) == 0 {
		return 1
	}
	slices.Sort(a)
	q := a[int(0.1*float64(len(a)-1))]
	return math.Pow(10, math.Floor(math.Log10(q)))
}

// hsPositiveTicks marks a linear axis with labelled ticks at round values
// (1, 2 or 5 times a power of ten), hiding negative ones (the rug area
// below a density).
type hsPositiveTicks struct{}

// Ticks implements plot.Ticker.
func (hsPositiveTicks) Ticks(_, hi float64) []plot.Tick {
	if !(hi > 0) {
		return nil
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step))))
	var out []plot.Tick
	for k := 0; float64(k)*step <= hi; k++ {
		v := float64(k) * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if half := v + step/2; half <= hi {
			out = append(out, plot.Tick{Value: half})
		}
	}
	return out
}

package landscape

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Metrics are what one grid point measures.
type Metrics struct {
	// NLL is the mean negative log-likelihood (cross-entropy) of the
	// evaluation data.
	NLL float64
	// Acc is the accuracy, a fraction in [0, 1].
	Acc float64
	// L1 and L2 are the official code's norms of the weights at the point
	// (see L1, L2 and Surface.Norms).
	L1, L2 float64
	// SqNorm is Σ‖w_t‖², the squared norms summed over the same tensors
	// as L2 (see SqNorm and Surface.NormsSq): the weights' part of the
	// regularised loss NLL + (wd/2)·SqNorm.
	SqNorm float64
}

// finite reports whether every metric is finite.
func (m Metrics) finite() bool {
	for _, v := range [...]float64{m.NLL, m.Acc, m.L1, m.L2, m.SqNorm} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// Point is the result at one grid point.
type Point struct {
	// Index is the point's index in the grid (see Grid).
	Index int
	// X and Y are its coordinates (Y is 0 on a 1-D grid).
	X, Y float64
	Metrics
}

// Quantity names a value of a point: the CSV column names.
type Quantity string

// The quantities of a point.
const (
	QuantityL1   Quantity = "l1"
	QuantityL2   Quantity = "l2"
	QuantityNLL  Quantity = "NLL"
	QuantityAcc  Quantity = "Acc"
	QuantityLoss Quantity = "loss" // NLL + (WeightDecay/2)*sqnorm
	// QuantitySqNorm is Σ‖w_t‖².
	QuantitySqNorm Quantity = "sqnorm"
	// QuantityLossOfficial is the official code's plotted loss,
	// NLL + WeightDecay*l2.
	QuantityLossOfficial Quantity = "loss_official"
)

// Quantities lists the quantities in CSV order.
var Quantities = []Quantity{QuantityL1, QuantityL2, QuantityNLL, QuantityAcc, QuantityLoss, QuantitySqNorm, QuantityLossOfficial}

// ParseQuantity reads a quantity by its CSV column name (any case).
func ParseQuantity(s string) (Quantity, error) {
	for _, q := range Quantities {
		if strings.EqualFold(s, string(q)) {
			return q, nil
		}
	}
	return "", fmt.Errorf("landscape: unknown quantity %q (want loss, NLL, Acc, l1, l2, sqnorm or loss_official)", s)
}

// Result is the outcome of a run or a merge: the spec and the points done,
// sorted by index, at most one per grid point.
type Result struct {
	Spec   Spec
	Points []Point
}

// Loss returns the regularised loss of p, NLL + (wd/2)·Σ‖w_t‖², the
// project's one definition (the Hessian's too): its gradient wd·w is the
// decay AdamW applies, and its Hessian wd·I shifts every eigenvalue by
// exactly wd, as the paper's Hessian spectra assume.
func (r *Result) Loss(p Point) float64 { return p.NLL + r.Spec.WeightDecay/2*p.SqNorm }

// LossOfficial returns NLL + wd·l2 of p, the loss the official code plots
// (l2 the sum of unsquared norms).
func (r *Result) LossOfficial(p Point) float64 { return p.NLL + r.Spec.WeightDecay*p.L2 }

// Value returns quantity q of p.
func (r *Result) Value(p Point, q Quantity) float64 {
	switch q {
	case QuantityL1:
		return p.L1
	case QuantityL2:
		return p.L2
	case QuantityNLL:
		return p.NLL
	case QuantityAcc:
		return p.Acc
	case QuantityLoss:
		return r.Loss(p)
	case QuantitySqNorm:
		return p.SqNorm
	case QuantityLossOfficial:
		return r.LossOfficial(p)
	}
	panic(fmt.Sprintf("landscape: unknown quantity %q", string(q)))
}

// Values returns quantity q at every grid point, by index, with NaN where a
// point is missing.
func (r *Result) Values(q Quantity) []float64 {
	z := make([]float64, r.Spec.Grid.Len())
	for i := range z {
		z[i] = math.NaN()
	}
	for _, p := range r.Points {
		z[p.Index] = r.Value(p, q)
	}
	return z
}

// Missing returns the indices of the grid points without a result.
func (r *Result) Missing() []int {
	have := make([]bool, r.Spec.Grid.Len())
	for _, p := range r.Points {
		have[p.Index] = true
	}
	var miss []int
	for i, ok := range have {
		if !ok {
			miss = append(miss, i)
		}
	}
	return miss
}

// Complete reports whether every grid point has a result.
func (r *Result) Complete() bool { return len(r.Points) == r.Spec.Grid.Len() }

// Diverged returns the number of points with a non-finite metric.
func (r *Result) Diverged() int {
	n := 0
	for _, p := range r.Points {
		if !p.finite() {
			n++
		}
	}
	return n
}

// jfloat is a float64 that JSON can hold even when it is not finite: a
// number in shortest round-trip form, or the string "NaN", "+Inf" or
// "-Inf".
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte(`"` + strconv.FormatFloat(v, 'g', -1, 64) + `"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jfloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = jfloat(math.NaN())
		case "+Inf":
			*f = jfloat(math.Inf(1))
		case "-Inf":
			*f = jfloat(math.Inf(-1))
		default:
			return fmt.Errorf("landscape: %q is not a number", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return fmt.Errorf("landscape: %s is not a number: %w", b, err)
	}
	*f = jfloat(v)
	return nil
}

// record is one finished point as the journal holds it.
type record struct {
	I   int    `json:"i"`
	X   jfloat `json:"x"`
	Y   jfloat `json:"y"`
	NLL jfloat `json:"nll"`
	Acc jfloat `json:"acc"`
	L1  jfloat `json:"l1"`
	L2  jfloat `json:"l2"`
	SQ  jfloat `json:"sq"`
}

func toRecord(p Point) record {
	return record{I: p.Index, X: jfloat(p.X), Y: jfloat(p.Y), NLL: jfloat(p.NLL), Acc: jfloat(p.Acc),
		L1: jfloat(p.L1), L2: jfloat(p.L2), SQ: jfloat(p.SqNorm)}
}

func (r record) point() Point {
	return Point{Index: r.I, X: float64(r.X), Y: float64(r.Y), Metrics: Metrics{
		NLL: float64(r.NLL), Acc: float64(r.Acc), L1: float64(r.L1), L2: float64(r.L2), SqNorm: float64(r.SQ)}}
}

// samePoint reports whether a and b hold the same numbers, bit for bit (any
// NaN equals any NaN).
func samePoint(a, b Point) bool {
	same := func(u, v float64) bool {
		if math.IsNaN(u) || math.IsNaN(v) {
			return math.IsNaN(u) && math.IsNaN(v)
		}
		return math.Float64bits(u) == math.Float64bits(v)
	}
	return a.Index == b.Index && same(a.X, b.X) && same(a.Y, b.Y) && same(a.NLL, b.NLL) &&
		same(a.Acc, b.Acc) && same(a.L1, b.L1) && same(a.L2, b.L2) && same(a.SqNorm, b.SqNorm)
}

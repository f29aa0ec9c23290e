package hessian

import (
	"errors"
	"fmt"
)

// Span is the half-open range [Start, End) of coordinates of an operator's
// space: the place of one parameter tensor, or of several adjacent ones, in
// the flattened parameter vector.
type Span struct {
	Start, End int
}

// Len returns End - Start.
func (s Span) Len() int { return s.End - s.Start }

// Restricted is the restriction PᵀHP of an operator H to a subset of its
// coordinates, P being the n×d matrix of the d unit vectors of the subset:
// the principal submatrix of H on those coordinates, such as the Hessian
// of one block's parameters with every other parameter held fixed. Its
// products embed v into the full space (zeros elsewhere), multiply by H and
// keep the subset's coordinates of the result: one full product each, so
// it costs what H costs. (The operators of package analysis restrict a
// Hessian more cheaply, by differentiating with respect to the block's
// parameters only; Restricted is the reference they are tested against,
// and works for any Operator.) It is not safe for concurrent use.
type Restricted struct {
	op      Operator
	spans   []Span
	d       int
	in, out []float64
}

// Restrict returns op restricted to the coordinates of spans, which must be
// non-empty, in increasing order, not overlapping and within the
// operator's dimension. The coordinates of the restriction are those of
// the spans, in order.
func Restrict(op Operator, spans []Span) (*Restricted, error) {
	if op == nil {
		return nil, errors.New("hessian: restrict a nil operator")
	}
	n := op.Dim()
	if len(spans) == 0 {
		return nil, errors.New("hessian: restrict to no coordinates")
	}
	d, end := 0, 0
	for i, s := range spans {
		if s.Start < end || s.End <= s.Start || s.End > n {
			return nil, fmt.Errorf("hessian: restrict: span %d [%d, %d) is empty, out of order or outside [0, %d)", i, s.Start, s.End, n)
		}
		end = s.End
		d += s.Len()
	}
	return &Restricted{op: op, spans: append([]Span(nil), spans...), d: d, in: make([]float64, n), out: make([]float64, n)}, nil
}

// Dim returns the number of coordinates kept.
func (r *Restricted) Dim() int { return r.d }

// Spans returns the coordinates kept (a copy).
func (r *Restricted) Spans() []Span { return append([]Span(nil), r.spans...) }

// MulVec stores PᵀHP v in dst. It panics if the lengths differ from Dim.
func (r *Restricted) MulVec(dst, v []float64) error {
	if len(dst) != r.d || len(v) != r.d {
		panic(fmt.Sprintf("hessian: MulVec lengths %d and %d, dimension %d", len(dst), len(v), r.d))
	}
	Embed(r.in, v, r.spans)
	if err := r.op.MulVec(r.out, r.in); err != nil {
		return err
	}
	Extract(dst, r.out, r.spans)
	return nil
}

// Embed stores in full the vector of the whole space whose coordinates in
// spans are those of v, in order, and zero elsewhere. It panics if v's
// length is not the spans' total length.
func Embed(full, v []float64, spans []Span) {
	clear(full)
	off := 0
	for _, s := range spans {
		off += copy(full[s.Start:s.End], v[off:off+s.Len()])
	}
	if off != len(v) {
		panic(fmt.Sprintf("hessian: Embed of %d values into spans of %d", len(v), off))
	}
}

// Extract stores in dst the coordinates of full in spans, in order. It
// panics if dst's length is not the spans' total length.
func Extract(dst, full []float64, spans []Span) {
	off := 0
	for _, s := range spans {
		off += copy(dst[off:off+s.Len()], full[s.Start:s.End])
	}
	if off != len(dst) {
		panic(fmt.Sprintf("hessian: Extract of spans of %d values into %d", off, len(dst)))
	}
}

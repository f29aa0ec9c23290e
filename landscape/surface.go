package landscape

import (
	"errors"
)

// Surface is the plane of weights w(x, y) = w0 + x*d1 + y*d2 through the
// origin weights w0, or the line w0 + x*d1 when it has one direction. It is
// what an evaluator moves a model along: At gives the weights of a grid
// point, Norms their l1 and l2. A Surface is read-only after NewSurface and
// safe for concurrent use.
type Surface struct {
	origin []Param
	d1, d2 Direction
}

// NewSurface returns the surface through origin spanned by one or two
// directions, which must fit origin and be finite. It keeps references to
// origin's data and the directions: do not change them afterwards.
func NewSurface(origin []Param, dirs ...Direction) (*Surface, error) {
	if err := checkParams(origin); err != nil {
		return nil, err
	}
	if len(dirs) != 1 && len(dirs) != 2 {
		return nil, errors.New("landscape: a surface needs one or two directions")
	}
	s := &Surface{origin: origin, d1: dirs[0]}
	if err := s.d1.check(origin, "direction 1"); err != nil {
		return nil, err
	}
	if len(dirs) == 2 {
		s.d2 = dirs[1]
		if err := s.d2.check(origin, "direction 2"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Origin returns the origin parameters.
func (s *Surface) Origin() []Param { return s.origin }

// Dims returns the number of directions, 1 or 2.
func (s *Surface) Dims() int {
	if s.d2 == nil {
		return 1
	}
	return 2
}

// value returns the weight j of tensor i at (x, y). At and Norms both use
// it, so the norms are those of exactly the weights At returns.
func (s *Surface) value(i, j int, x, y float64) float64 {
	w := s.origin[i].Data[j] + x*s.d1[i][j]
	if s.d2 != nil {
		w += y * s.d2[i][j]
	}
	return w
}

// At returns the weights at (x, y), one slice per parameter in the origin's
// order, written into dst when it has the right lengths (pass the previous
// result to reuse it) and newly allocated otherwise. y is ignored on a
// line.
func (s *Surface) At(dst [][]float64, x, y float64) [][]float64 {
	if len(dst) != len(s.origin) {
		dst = make([][]float64, len(s.origin))
	}
	for i := range s.origin {
		if len(dst[i]) != len(s.origin[i].Data) {
			dst[i] = make([]float64, len(s.origin[i].Data))
		}
		for j := range dst[i] {
			dst[i][j] = s.value(i, j, x, y)
		}
	}
	return dst
}

// Norms returns the official code's l1 and l2 (see L1 and L2) of the
// weights at (x, y), without making them: the same numbers as L1 and L2 of
// At(nil, x, y) with the origin's Buffer marks.
func (s *Surface) Norms(x, y float64) (l1, l2 float64) {
	l1, l2, _ = s.NormsSq(x, y)
	return l1, l2
}

package landscape

import "math"

// SqNorm returns Σ‖w_t‖² over the trainable tensors (Buffer false), the
// same tensors as L2 but with each norm squared: the weights' part of the
// regularised loss NLL + (wd/2)·SqNorm that the project uses for both
// the Hessian and the landscape (Result.Loss).
func SqNorm(params []Param) float64 { return sumPerTensor(params, sqSum) }

// NormsSq returns l1, l2 (as Norms) and SqNorm of the weights at (x, y), in
// one pass and without making them.
func (s *Surface) NormsSq(x, y float64) (l1, l2, sq float64) {
	for i := range s.origin {
		if s.origin[i].Buffer {
			continue
		}
		var a, q float64
		for j := range s.origin[i].Data {
			v := s.value(i, j, x, y)
			a += math.Abs(v)
			q += v * v
		}
		l1 += a
		l2 += math.Sqrt(q)
		sq += q
	}
	return l1, l2, sq
}

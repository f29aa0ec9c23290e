package hessian

import "math"

// NegativeShare returns the share of the spectrum below -eps that the
// quadrature estimates: by count, the mean over start vectors of the
// weight of the nodes below -eps (an unbiased estimate of the fraction of
// eigenvalues below -eps, when Steps reaches the dimension; an
// approximation otherwise), and by magnitude, the weighted sum of |θ| over
// those nodes divided by the weighted sum of |θ| over all nodes (the share
// of Σ|λ_i| carried by negative eigenvalues). eps (>= 0) leaves out the
// nodes that rounding places just below zero, such as those of a positive
// semi-definite operator computed in float32.
func (q *Quadrature) NegativeShare(eps float64) (byCount, byMagnitude float64) {
	var count, neg, all float64
	for l, nodes := range q.Nodes {
		for j, x := range nodes {
			w := q.Weights[l][j]
			all += w * math.Abs(x)
			if x < -eps {
				count += w
				neg += w * math.Abs(x)
			}
		}
	}
	if len(q.Nodes) > 0 {
		count /= float64(len(q.Nodes))
	}
	if all > 0 {
		neg /= all
	}
	return count, neg
}

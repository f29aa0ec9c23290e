package landscape

import (
	"fmt"
	"math"
	"strings"
)

// Headline summarises a result in one line: the centre (or, for a line
// between checkpoints, its ends and the highest NLL between them) and the
// NLL rise along the axes.
func (r *Result) Headline() string {
	var b strings.Builder
	if strings.HasPrefix(r.Spec.Directions.Kind, "between") {
		a, okA := r.pointAt(0, 0)
		c, okC := r.pointAt(1, 0)
		if okA && okC {
			top := math.Inf(-1)
			for _, p := range r.Points {
				if p.Y == 0 && p.X >= 0 && p.X <= 1 && !math.IsNaN(p.NLL) {
					top = math.Max(top, p.NLL)
				}
			}
			fmt.Fprintf(&b, "--dir-from (x = 0) NLL %.4g, acc %.2f%%; checkpoint (x = 1) NLL %.4g, acc %.2f%%; highest NLL between them %.4g (barrier %.3g above the higher end)",
				a.NLL, 100*a.Acc, c.NLL, 100*c.Acc, top, top-math.Max(a.NLL, c.NLL))
			return b.String()
		}
	}
	if c, ok := r.pointAt(0, 0); ok {
		fmt.Fprintf(&b, "centre NLL %.4g, acc %.2f%%, loss %.4g (NLL + %g·l2, l2 %.4g)", c.NLL, 100*c.Acc, r.Loss(c), r.Spec.WeightDecay, c.L2)
	} else {
		b.WriteString("the grid does not hold (0, 0)")
	}
	var rises []string
	for _, t := range []float64{0.25, 0.5, 1} {
		if v := r.riseAt(t, QuantityNLL); !math.IsNaN(v) {
			rises = append(rises, fmt.Sprintf("%.3g at %g", v, t))
		}
	}
	if len(rises) > 0 {
		fmt.Fprintf(&b, "; NLL rise along the axes %s", strings.Join(rises, ", "))
	}
	if d := r.Diverged(); d > 0 {
		fmt.Fprintf(&b, "; %d diverged points", d)
	}
	return b.String()
}

// pointAt returns the point at exactly (x, y), if the grid has it.
func (r *Result) pointAt(x, y float64) (Point, bool) {
	for _, p := range r.Points {
		if p.X == x && p.Y == y {
			return p, true
		}
	}
	return Point{}, false
}

// riseAt returns the NLL at distance t along each axis minus the centre's,
// averaged over the two signs and axes present, NaN when the grid lacks
// those points.
func (r *Result) riseAt(t float64, q Quantity) float64 {
	c, ok := r.pointAt(0, 0)
	if !ok {
		return math.NaN()
	}
	var sum float64
	n := 0
	for _, xy := range [][2]float64{{t, 0}, {-t, 0}, {0, t}, {0, -t}} {
		if p, ok := r.pointAt(xy[0], xy[1]); ok {
			sum += r.Value(p, q) - r.Value(c, q)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

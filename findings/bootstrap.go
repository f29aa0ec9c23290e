package findings

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
)

// unitStat is one seed's data for a statistic: n units (minibatches,
// images or direction pairs: the independent draws within the seed) and
// the statistic of a weighted draw, w[u] being how often unit u is drawn
// (all ones: the seed's own estimate).
type unitStat struct {
	seed string
	n    int
	stat func(w []float64) float64
}

// estimate returns the seed's own estimate.
func (u unitStat) estimate() float64 {
	w := make([]float64, u.n)
	for i := range w {
		w[i] = 1
	}
	return u.stat(w)
}

// group is one model family's seeds for a statistic. Its estimate is the
// mean over seeds of each seed's estimate: every trained model counts
// once.
type group []unitStat

func (g group) estimate() float64 {
	if len(g) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, u := range g {
		s += u.estimate()
	}
	return s / float64(len(g))
}

// draw returns one two-stage bootstrap replicate of the group's estimate:
// len(g) seeds drawn with replacement, then within each drawn seed its
// units drawn with replacement (independently for every draw of a seed),
// and the mean of the drawn seeds' statistics. buf is scratch space.
func (g group) draw(r *rand.Rand, buf *[]float64) float64 {
	s := 0.0
	for range g {
		u := g[r.IntN(len(g))]
		if cap(*buf) < u.n {
			*buf = make([]float64, u.n)
		}
		w := (*buf)[:u.n]
		clear(w)
		for range u.n {
			w[r.IntN(u.n)]++
		}
		s += u.stat(w)
	}
	return s / float64(len(g))
}

// span is a point estimate with its bootstrap percentile interval.
type span struct {
	Est, Lo, Hi float64
}

// ok reports whether the interval is defined.
func (iv span) ok() bool { return !math.IsNaN(iv.Lo) && !math.IsNaN(iv.Hi) }

// bootstrap returns the estimate f(estimates of groups) and the percentile
// interval of f over resamples in which every group is redrawn
// independently (different families are different trainings). Replicates
// where f is NaN (e.g. no positive eigenvalue drawn) are dropped; with
// more than half dropped the interval is undefined.
func bootstrap(c *Criteria, key string, groups []group, f func(v []float64) float64) span {
	est := make([]float64, len(groups))
	for i, g := range groups {
		est[i] = g.estimate()
	}
	iv := span{Est: f(est), Lo: math.NaN(), Hi: math.NaN()}
	for _, g := range groups {
		if len(g) == 0 {
			return iv
		}
	}
	r := rand.New(rand.NewPCG(c.Bootstrap.Seed, keySeed(key)))
	n := c.Bootstrap.Resamples
	reps := make([]float64, 0, n)
	v := make([]float64, len(groups))
	var buf []float64
	for range n {
		for i, g := range groups {
			v[i] = g.draw(r, &buf)
		}
		if x := f(v); !math.IsNaN(x) && !math.IsInf(x, 0) {
			reps = append(reps, x)
		}
	}
	if len(reps) < n/2 {
		return iv
	}
	sort.Float64s(reps)
	q := (1 - c.Bootstrap.Confidence) / 2
	m := float64(len(reps) - 1)
	iv.Lo = reps[int(math.Floor(q*m))]
	iv.Hi = reps[int(math.Ceil((1-q)*m))]
	return iv
}

// keySeed turns a claim or table key into a resampling stream, so that
// every interval has its own random numbers whatever order they are
// computed in.
func keySeed(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
}

// diff, single: the combinations of group estimates.
func diff(v []float64) float64   { return v[0] - v[1] }
func single(v []float64) float64 { return v[0] }

// weightedMean returns Σ w·x / Σ w.
func weightedMean(w, x []float64) float64 {
	var s, n float64
	for i, wi := range w {
		if wi != 0 {
			s += wi * x[i]
			n += wi
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / n
}

// vecStat is one seed's data for a vector of statistics computed from the
// same draw (every layer of a model, every band of a noise curve): one
// resampling of the units serves them all.
type vecStat struct {
	n    int
	dim  int
	stat func(w []float64, dst []float64)
}

// bootstrapVec returns, for each component of a vector statistic, the
// mean over seeds and its hierarchical bootstrap interval (seeds, then
// units), as bootstrap does for one group and a scalar.
func bootstrapVec(c *Criteria, key string, g []vecStat) []span {
	if len(g) == 0 {
		return nil
	}
	dim := g[0].dim
	out := make([]span, dim)
	v := make([]float64, dim)
	sum := make([]float64, dim)
	for _, u := range g {
		u.stat(ones(u.n), v)
		for k := range sum {
			sum[k] += v[k] / float64(len(g))
		}
	}
	for k := range out {
		out[k] = span{Est: sum[k], Lo: math.NaN(), Hi: math.NaN()}
	}
	r := rand.New(rand.NewPCG(c.Bootstrap.Seed, keySeed(key)))
	n := c.Bootstrap.Resamples
	reps := make([][]float64, dim)
	var buf []float64
	for range n {
		clear(sum)
		for range g {
			u := g[r.IntN(len(g))]
			if cap(buf) < u.n {
				buf = make([]float64, u.n)
			}
			w := buf[:u.n]
			clear(w)
			for range u.n {
				w[r.IntN(u.n)]++
			}
			u.stat(w, v)
			for k := range sum {
				sum[k] += v[k] / float64(len(g))
			}
		}
		for k, x := range sum {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				reps[k] = append(reps[k], x)
			}
		}
	}
	q := (1 - c.Bootstrap.Confidence) / 2
	for k, rk := range reps {
		if len(rk) < n/2 {
			continue
		}
		sort.Float64s(rk)
		m := float64(len(rk) - 1)
		out[k].Lo, out[k].Hi = rk[int(math.Floor(q*m))], rk[int(math.Ceil((1-q)*m))]
	}
	return out
}

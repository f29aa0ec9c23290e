package data

import (
	"math"
	"math/rand/v2"
)

// poisson draws a Poisson variate of mean mu ≥ 0 from r: by inversion
// (sequential search of the cumulative distribution) below a mean of 10,
// else by Hörmann's transformed rejection with squeeze (PTRS, "The
// transformed rejection method for generating Poisson random variables",
// 1993), whose cost does not grow with the mean.
func poisson(r *rand.Rand, mu float64) int {
	switch {
	case !(mu > 0):
		return 0
	case mu < 10:
		return poissonInversion(r, mu)
	}
	return poissonPTRS(r, mu)
}

func poissonInversion(r *rand.Rand, mu float64) int {
	u := r.Float64()
	p := math.Exp(-mu)
	cdf := p
	k := 0
	for u > cdf {
		k++
		p *= mu / float64(k)
		cdf += p
		if p < 1e-300 && k > int(mu) {
			break // u within rounding of 1
		}
	}
	return k
}

func poissonPTRS(r *rand.Rand, mu float64) int {
	slam := math.Sqrt(mu)
	loglam := math.Log(mu)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mu + 0.43)
		if us >= 0.07 && v <= vr {
			return int(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -mu+k*loglam-lg {
			return int(k)
		}
	}
}

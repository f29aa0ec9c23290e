package analysis

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/results"
)

// VarianceResult is the feature-map variance of every spatial layer of a
// model (see results.VarianceResult).
type VarianceResult = results.VarianceResult

// VarianceLayer is one layer's feature-map variance (see
// results.VarianceLayer).
type VarianceLayer = results.VarianceLayer

// MapVariance returns the paper's feature-map variance of m: the unbiased
// variance over the H·W positions of every (sample, channel) map, averaged
// over the B·C maps. Maps need at least two positions.
func MapVariance[T fourier.Float](m fourier.Maps[T]) (float64, error) {
	var a varianceAcc
	if err := addVariance(&a, m, 1); err != nil {
		return 0, fmt.Errorf("analysis: %w", err)
	}
	return a.sum / float64(a.planes), nil
}

// varianceAcc accumulates one layer's sum of per-plane variances.
type varianceAcc struct {
	h, w   int
	sum    float64
	planes int64
	images int
	// perImage, when set, asks for each image's variance, collected in
	// each.
	perImage bool
	each     []float64
}

// add folds the maps of m into the accumulator, using up to workers
// goroutines (0: GOMAXPROCS).
func (a *varianceAcc) add(m fourier.Maps[float32], workers int) error {
	if err := addVariance(a, m, workers); err != nil {
		return err
	}
	if a.perImage {
		n := m.H * m.W
		for b := 0; b < m.B; b++ {
			s := 0.0
			for c := 0; c < m.C; c++ {
				p := b*m.C + c
				s += planeVariance(m.Data[p*n : (p+1)*n])
			}
			a.each = append(a.each, s/float64(m.C))
		}
	}
	return nil
}

func addVariance[T fourier.Float](a *varianceAcc, m fourier.Maps[T], workers int) error {
	if err := m.Validate(); err != nil {
		return err
	}
	n := m.H * m.W
	if n < 2 {
		return fmt.Errorf("%d×%d maps: the variance over positions needs at least 2", m.H, m.W)
	}
	if a.planes > 0 && (m.H != a.h || m.W != a.w) {
		return fmt.Errorf("%d×%d maps after %d×%d maps in an earlier batch", m.H, m.W, a.h, a.w)
	}
	total := m.B * m.C
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, total))
	parts := make([]float64, workers)
	var wg sync.WaitGroup
	for wi := range workers {
		lo, hi := wi*total/workers, (wi+1)*total/workers
		wg.Go(func() {
			s := 0.0
			for p := lo; p < hi; p++ {
				s += planeVariance(m.Data[p*n : (p+1)*n])
			}
			parts[wi] = s
		})
	}
	wg.Wait()
	s := 0.0
	for _, v := range parts { // in worker order: deterministic for a worker count
		s += v
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return &errs.NonFiniteError{What: "feature-map variance (NaN or Inf in the feature maps)", Value: s}
	}
	a.h, a.w = m.H, m.W
	a.sum += s
	a.planes += int64(total)
	a.images += m.B
	return nil
}

// planeVariance returns the unbiased variance of x (len ≥ 2), by two passes
// in float64: the mean, then the squared deviations from it.
func planeVariance[T fourier.Float](x []T) float64 {
	mean := 0.0
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	ss := 0.0
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return ss / float64(len(x)-1)
}

// result returns the layer's mean variance.
func (a *varianceAcc) result(info LayerInfo) VarianceLayer {
	l := VarianceLayer{LayerInfo: info, Variance: a.sum / float64(a.planes)}
	if a.perImage {
		l.PerImage = append([]float64(nil), a.each...)
	}
	return l
}

package analysis

import (
	"errors"
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/results"
)

// FourierResult is the relative log amplitude of every spatial layer of a
// model, averaged over all the images seen (see results.FourierResult).
type FourierResult = results.FourierResult

// FourierLayer is one layer's relative log-amplitude profile (see
// results.FourierLayer).
type FourierLayer = results.FourierLayer

// fourierAcc accumulates one layer's sum of log amplitudes along the half
// diagonal over batches. Because the paper's quantity is a mean over
// images and channels of log |F|, the mean over several batches is the
// plane-weighted mean of the batches' means: sum keeps Σ_batches
// (planes · mean), planes the number of planes, and the profile is formed
// from sum/planes at the end, exactly as if all images were one batch.
type fourierAcc struct {
	n      int       // map side
	sum    []float64 // Σ over planes of log(|F(k,k)| + eps)
	planes int64     // B·C planes added
	images int
	// perImage, when set, asks for each image's high-frequency value,
	// collected in high.
	perImage bool
	high     []float64
}

// add folds the square maps m into the accumulator.
func (a *fourierAcc) add(m fourier.Maps[float32], opt *fourier.Options) error {
	if m.H != m.W {
		return fmt.Errorf("%d×%d feature maps have no diagonal (the Fourier profile needs square maps): %w", m.H, m.W, fourier.ErrNotSquare)
	}
	if a.sum != nil && m.H != a.n {
		return fmt.Errorf("maps of side %d after maps of side %d in an earlier batch", m.H, a.n)
	}
	p, err := fourier.RelativeLogAmplitude(m, opt)
	if err != nil {
		if errors.Is(err, fourier.ErrNonFinite) {
			return fmt.Errorf("non-finite values (NaN or Inf) in the feature maps: %w", err)
		}
		return err
	}
	if a.sum == nil {
		a.n = m.H
		a.sum = make([]float64, len(p.LogAmp))
	}
	w := float64(m.B * m.C)
	for k, v := range p.LogAmp {
		a.sum[k] += w * v
	}
	a.planes += int64(m.B * m.C)
	a.images += m.B
	if a.perImage {
		// Each image's own profile: the same computation on its planes.
		per := m.C * m.H * m.W
		one := &fourier.Options{IncludeNyquist: opt != nil && opt.IncludeNyquist, Workers: 1}
		for b := 0; b < m.B; b++ {
			pi, err := fourier.RelativeLogAmplitude(fourier.Maps[float32]{B: 1, C: m.C, H: m.H, W: m.W, Data: m.Data[b*per : (b+1)*per]}, one)
			if err != nil {
				return err
			}
			a.high = append(a.high, pi.Last())
		}
	}
	return nil
}

// result turns the accumulated sums into a layer profile.
func (a *fourierAcc) result(info LayerInfo) FourierLayer {
	K := len(a.sum)
	l := FourierLayer{LayerInfo: info, K: make([]int, K), Freq: make([]float64, K), PlotFreq: make([]float64, K),
		LogAmp: make([]float64, K), DLogAmp: make([]float64, K)}
	for k := range K {
		l.K[k] = k
		l.Freq[k] = 2 * math.Pi * float64(k) / float64(a.n)
		if K > 1 {
			l.PlotFreq[k] = float64(k) / float64(K-1)
		}
		l.LogAmp[k] = a.sum[k] / float64(a.planes)
		l.DLogAmp[k] = l.LogAmp[k] - l.LogAmp[0]
	}
	if a.perImage {
		l.HighFreqPerImage = append([]float64(nil), a.high...)
	}
	return l
}

package analysis

import (
	"errors"
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/fourier"
)

// FourierResult is the relative log amplitude of every spatial layer of a
// model (paper.md §4), averaged over all the images seen.
type FourierResult struct {
	// Images is the number of images the averages are over.
	Images int `json:"images"`
	// Nyquist reports whether the profiles include, for even map sizes,
	// the point at frequency exactly π (fourier.Options.IncludeNyquist).
	Nyquist bool `json:"nyquist"`
	// Layers are in depth order.
	Layers []FourierLayer `json:"layers"`
}

// FourierLayer is one layer's relative log-amplitude profile along the
// half diagonal of its mean log-amplitude spectrum.
type FourierLayer struct {
	LayerInfo
	// K holds each point's diagonal index k: the frequency (k, k).
	K []int `json:"k"`
	// Freq is each point's true per-axis angular frequency 2πk/n, in
	// radians (the last point is π − 2π/n for even n without Nyquist).
	Freq []float64 `json:"freq"`
	// PlotFreq is the paper's plotting axis in units of π: the points
	// spread evenly over [0, 1] whatever their true frequencies.
	PlotFreq []float64 `json:"plot_freq"`
	// LogAmp is the mean over images and channels of log(|F(k,k)| + 1e-6).
	LogAmp []float64 `json:"log_amp"`
	// DLogAmp is LogAmp minus LogAmp[0], the paper's Δ log amplitude.
	DLogAmp []float64 `json:"dlogamp"`
	// HighFreqPerImage holds, with FeatureOptions.PerImage, each image's
	// own Δ log amplitude at the highest frequency point (its channels'
	// mean log amplitude there minus at frequency 0), in image order. The
	// paper's quantity is a mean over images and channels of log |F|, so
	// the mean of these is HighFreq() (to rounding): they allow intervals
	// by resampling images.
	HighFreqPerImage []float64 `json:"high_freq_per_image,omitempty"`
}

// HighFreq returns the relative log amplitude at the layer's highest
// frequency point, the quantity the paper plots against depth (Fig. 8).
func (l FourierLayer) HighFreq() float64 {
	if len(l.DLogAmp) == 0 {
		return math.NaN()
	}
	return l.DLogAmp[len(l.DLogAmp)-1]
}

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

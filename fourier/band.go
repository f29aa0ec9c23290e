package fourier

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// DefaultBandWidth is the paper's band width, 0.1π radians.
const DefaultBandWidth = 0.1 * math.Pi

// Metric is how a 2-D frequency (fy, fx) is reduced to the radius that a
// band selects on.
type Metric int

const (
	// Chebyshev is max(|fy|, |fx|), the default. It is the metric under
	// which the half-diagonal point (k, k) of the relative log amplitude has
	// frequency 2πk/n, so noise "at f" lands on the frequencies that the
	// dLogAmp plots label f. Its square rings fill the square [−π, π]² of
	// the spectrum: every bin has a radius ≤ π, so bands inside (0, π] can
	// reach every non-zero frequency.
	Chebyshev Metric = iota
	// Euclidean is √(fy² + fx²): isotropic rings, the textbook choice. Radii
	// reach π√2 in the corners; the bins beyond π (about 1 − π/4 ≈ 21% of
	// them) lie in no band inside (0, π].
	Euclidean
)

// String returns the metric's name.
func (m Metric) String() string {
	switch m {
	case Chebyshev:
		return "chebyshev"
	case Euclidean:
		return "euclidean"
	}
	return fmt.Sprintf("Metric(%d)", int(m))
}

// Band is a ring of frequencies, docs/methods.md §5's mask M_f: radius r in
// [Center − Width/2, Center + Width/2), in radians, per-axis angular
// frequency (bin (k, l) of an h×w map has fy = 2πk'/h, fx = 2πl'/w with the
// signed indices k' ∈ (−h/2, h/2]). A band whose upper edge is π also takes
// r = π. The zero frequency is never in a band.
type Band struct {
	// Center is f, in radians; it must leave the whole band inside (0, π].
	Center float64
	// Width is the band's width in radians; 0 means DefaultBandWidth.
	Width float64
	// Metric is the radius; the zero value is Chebyshev.
	Metric Metric
}

// ErrBadBand reports a band that is not a valid ring inside (0, π], or
// that selects no frequency of the map size at hand.
var ErrBadBand = errors.New("bad frequency band")

// edgeTol absorbs rounding at band edges, in units of π: a bin within it of
// an edge counts as lying on the edge (edges like 0.25π fall exactly on
// bins, e.g. k = 4 of 32).
const edgeTol = 1e-9

// bounds returns the band's edges in units of π.
func (b Band) bounds() (lo, hi float64, err error) {
	w := b.Width
	if w == 0 {
		w = DefaultBandWidth
	}
	if b.Metric != Chebyshev && b.Metric != Euclidean {
		return 0, 0, fmt.Errorf("fourier: band metric %v: %w", b.Metric, ErrBadBand)
	}
	if math.IsNaN(b.Center) || math.IsInf(b.Center, 0) || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return 0, 0, fmt.Errorf("fourier: band centre %v, width %v: %w", b.Center, w, ErrBadBand)
	}
	lo, hi = (b.Center-w/2)/math.Pi, (b.Center+w/2)/math.Pi
	if lo <= 0 || hi > 1+edgeTol {
		return 0, 0, fmt.Errorf("fourier: band [%.4gπ, %.4gπ) (centre %.4gπ, width %.4gπ) is not inside (0, π]: %w",
			lo, hi, b.Center/math.Pi, w/math.Pi, ErrBadBand)
	}
	return lo, hi, nil
}

// Radius returns the radius, in units of π, of frequency bin (k, l) of an
// h×w spectrum in unshifted (FFT output) order under metric m.
func Radius(k, l, h, w int, m Metric) float64 {
	fy := signedFrac(k, h)
	fx := signedFrac(l, w)
	if m == Euclidean {
		return math.Hypot(fy, fx)
	}
	return max(fy, fx)
}

// signedFrac returns |2k'/n| for the signed index k' ∈ (−n/2, n/2] of bin k.
func signedFrac(k, n int) float64 {
	k = ((k % n) + n) % n
	if 2*k > n {
		k = n - k
	}
	return float64(2*k) / float64(n)
}

// BandMask returns the band's mask for h×w spectra in unshifted (FFT
// output) order: 1 for bins inside the band, 0 elsewhere. It is
// symmetric under (k, l) → (−k, −l), so filtering a real signal keeps it
// real. An invalid band, or one that selects no bin at this size, is an
// error wrapping ErrBadBand.
func BandMask(h, w int, b Band) ([]float64, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("fourier: band mask for size %d×%d: %w", h, w, ErrBadBand)
	}
	lo, hi, err := b.bounds()
	if err != nil {
		return nil, err
	}
	closed := hi >= 1-edgeTol
	mask := make([]float64, h*w)
	n := 0
	for k := 0; k < h; k++ {
		for l := 0; l < w; l++ {
			r := Radius(k, l, h, w, b.Metric)
			in := r > 0 && r >= lo-edgeTol && (r < hi-edgeTol || closed && r <= hi+edgeTol)
			if in {
				mask[k*w+l] = 1
				n++
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("fourier: band [%.4gπ, %.4gπ) holds no frequency of a %d×%d map: %w", lo, hi, h, w, ErrBadBand)
	}
	return mask, nil
}

// BandFilter applies one band mask to h×w real arrays. It is safe for
// concurrent use.
type BandFilter struct {
	h, w int
	mask []float64
}

// NewBandFilter returns the filter of band b for h×w arrays; errors are
// BandMask's.
func NewBandFilter(h, w int, b Band) (*BandFilter, error) {
	mask, err := BandMask(h, w, b)
	if err != nil {
		return nil, err
	}
	return &BandFilter{h: h, w: w, mask: mask}, nil
}

// Mask returns the filter's mask (unshifted order); the caller must not
// modify it.
func (f *BandFilter) Mask() []float64 { return f.mask }

// Apply writes real(IFFT2(FFT2(delta) · M)) into dst (allocated if nil) and
// returns it. dst may be delta. It panics if a length is not h·w.
func (f *BandFilter) Apply(dst, delta []float64) []float64 {
	n := f.h * f.w
	if len(delta) != n || (dst != nil && len(dst) != n) {
		panic(fmt.Sprintf("fourier: band filter of %d×%d given %d values into %d", f.h, f.w, len(delta), len(dst)))
	}
	if dst == nil {
		dst = make([]float64, n)
	}
	p := getPlan(f.h, f.w)
	defer putPlan(p)
	if p.full == nil {
		p.full = make([]complex128, n)
	}
	spec := p.ForwardReal(p.full, delta)
	for i, m := range f.mask {
		spec[i] *= complex(m, 0)
	}
	p.Inverse(spec, spec)
	for i, v := range spec {
		dst[i] = real(v)
	}
	return dst
}

// BandNoise returns real(IFFT2(FFT2(delta) · M_f)) for the h×w array delta
// (typically Gaussian noise), written into dst (allocated if nil). Band
// errors are BandMask's; a length that is not h·w is an error too.
func BandNoise(dst, delta []float64, h, w int, b Band) ([]float64, error) {
	if h <= 0 || w <= 0 || len(delta) != h*w || (dst != nil && len(dst) != h*w) {
		return nil, fmt.Errorf("fourier: band noise of %d values into %d for a %d×%d map", len(delta), len(dst), h, w)
	}
	f, err := NewBandFilter(h, w, b)
	if err != nil {
		return nil, err
	}
	return f.Apply(dst, delta), nil
}

// AddBandNoise adds, in place, scale · real(IFFT2(FFT2(δ) · M_f)) to every
// H×W plane (sample, channel) of x, with δ a fresh standard Gaussian array
// per plane drawn from rng (planes in order, values row-major), as in
// docs/methods.md §5: x_noisy = x + IFFT(FFT(δ) · M_f). The noise is not
// renormalised: its energy grows with the number of bins in the band
// (the ring's area), as in the paper's formula.
func AddBandNoise[T Float](x Maps[T], b Band, scale float64, rng *rand.Rand) error {
	if err := x.Validate(); err != nil {
		return err
	}
	if rng == nil {
		return errors.New("fourier: band noise needs a random source")
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		return fmt.Errorf("fourier: band noise scale %v is not finite", scale)
	}
	f, err := NewBandFilter(x.H, x.W, b)
	if err != nil {
		return err
	}
	delta := make([]float64, x.H*x.W)
	for idx := range x.B * x.C {
		for i := range delta {
			delta[i] = rng.NormFloat64()
		}
		f.Apply(delta, delta)
		plane := x.plane(idx)
		for i, v := range delta {
			plane[i] += T(scale * v)
		}
	}
	return nil
}

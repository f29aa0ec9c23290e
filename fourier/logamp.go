package fourier

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/vitprobe/vitprobe/errs"
)

// LogEps is the floor added to amplitudes before the logarithm,
// log(|F| + LogEps), as in the paper's code.
const LogEps = 1e-6

// Options tunes the log-amplitude computations. A nil *Options means the
// defaults (the zero value).
type Options struct {
	// IncludeNyquist appends, for even sizes h, the point k = h/2 (frequency
	// exactly π) to the half diagonal. That point is the corner of the
	// fftshifted map (shifted index (0, 0)); the official half diagonal,
	// shifted indices h/2..h-1, never reaches it. It changes nothing for odd
	// h, where the diagonal has no Nyquist point.
	IncludeNyquist bool

	// Workers is the number of goroutines over the B·C maps; 0 means
	// runtime.GOMAXPROCS(0). Results depend on it only through the order of
	// floating-point summation (≈1e-16 relative).
	Workers int
}

func (o *Options) nyquist() bool { return o != nil && o.IncludeNyquist }

func (o *Options) workers(n int) int {
	w := 0
	if o != nil {
		w = o.Workers
	}
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return max(1, min(w, n))
}

// Spectrum is a mean log-amplitude map of H×W frequencies, fftshifted: the
// row-major entry Data[i*W+j] is the frequency (k, l) = (i - H/2, j - W/2)
// in cycles per map (per-axis angular frequency 2πk/H, 2πl/W), so the zero
// frequency sits at (H/2, W/2) with integer division.
type Spectrum struct {
	H, W int
	Data []float64
}

// At returns the value at signed frequency indices (k, l), taken modulo the
// size (so k = -1 and k = H-1 are the same frequency).
func (s *Spectrum) At(k, l int) float64 {
	i := ((k+s.H/2)%s.H + s.H) % s.H
	j := ((l+s.W/2)%s.W + s.W) % s.W
	return s.Data[i*s.W+j]
}

// Dims returns the spectrum's columns and rows (W, H). With X, Y and Z it
// lets a Spectrum serve as gonum/plot's plotter.GridXYZ for heat maps.
func (s *Spectrum) Dims() (c, r int) { return s.W, s.H }

// Z returns the value at column c and row r of the shifted map.
func (s *Spectrum) Z(c, r int) float64 { return s.Data[r*s.W+c] }

// X returns column c's per-axis angular frequency in units of π,
// 2(c − W/2)/W.
func (s *Spectrum) X(c int) float64 { return 2 * float64(c-s.W/2) / float64(s.W) }

// Y returns row r's per-axis angular frequency in units of π,
// 2(r − H/2)/H.
func (s *Spectrum) Y(r int) float64 { return 2 * float64(r-s.H/2) / float64(s.H) }

// Profile is a relative log-amplitude curve along the half diagonal of a
// square n×n spectrum: point i is the frequency (k, k), k = K[i], whose
// per-axis angular frequency is Freq[i] = 2πk/n radians.
type Profile struct {
	// N is the side of the square maps.
	N int
	// K holds the diagonal index k of each point, 0, 1, 2, ...
	K []int
	// Freq is each point's true per-axis angular frequency 2πk/N, in
	// radians: the last point is π − 2π/N for even N (π with
	// Options.IncludeNyquist) and π − π/N for odd N.
	Freq []float64
	// PlotFreq is the axis the paper plots against, in units of π: the
	// points spread evenly over [0, 1] (numpy.linspace(0, 1, len)), so its
	// last point reads "1.0π" whatever its true frequency. Prefer Freq/π for
	// honest labels.
	PlotFreq []float64
	// LogAmp is the mean over batch and channels of log(|F(k,k)| + LogEps).
	LogAmp []float64
	// DLogAmp is LogAmp minus its value at frequency 0: dLogAmp(0) = 0.
	DLogAmp []float64
}

// Last returns the highest-frequency point's relative log amplitude (the
// quantity the paper plots against depth).
func (p *Profile) Last() float64 { return p.DLogAmp[len(p.DLogAmp)-1] }

// diagLen returns the number of half-diagonal points for side n.
func diagLen(n int, nyquist bool) int {
	if nyquist {
		return n/2 + 1
	}
	return n - n/2
}

func newProfile(n int, logAmp []float64) (*Profile, error) {
	K := len(logAmp)
	p := &Profile{N: n, K: make([]int, K), Freq: make([]float64, K), PlotFreq: make([]float64, K),
		LogAmp: logAmp, DLogAmp: make([]float64, K)}
	for k := range K {
		if math.IsNaN(logAmp[k]) || math.IsInf(logAmp[k], 0) {
			return nil, fmt.Errorf("fourier: log amplitude at diagonal point %d is %v: %w", k, logAmp[k], ErrNonFinite)
		}
		p.K[k] = k
		p.Freq[k] = 2 * math.Pi * float64(k) / float64(n)
		if K > 1 {
			p.PlotFreq[k] = float64(k) / float64(K-1)
		}
		p.DLogAmp[k] = logAmp[k] - logAmp[0]
	}
	return p, nil
}

// ErrNonFinite reports feature maps whose log amplitudes are not finite
// (NaN or infinite values in the input). It is an *errs.NonFiniteError.
var ErrNonFinite error = &errs.NonFiniteError{What: "log amplitude (NaN or Inf in the feature maps)"}

// MeanLogAmplitude returns the paper's h×w map: the 2-D FFT of every sample
// and channel over the spatial axes, log(|F| + LogEps), the mean over batch
// and channels, fftshifted (zero frequency at (H/2, W/2)). Any H×W is
// accepted. Because each map is real, |F(k,l)| = |F(-k,-l)|: only the
// w/2+1 non-redundant columns are transformed and logged, and the others are
// filled by symmetry.
func MeanLogAmplitude[T Float](m Maps[T], opt *Options) (*Spectrum, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	h, w, hw := m.H, m.W, m.W/2+1
	sum := reduceMaps(m, opt, h*hw, func(p *Plan, acc []float64, x []T) {
		halfSpectrum(p, x)
		for i, v := range p.spec {
			re, im := real(v), imag(v)
			acc[i] += math.Log(math.Sqrt(re*re+im*im) + LogEps)
		}
	})
	inv := 1 / float64(m.B*m.C)
	full := make([]float64, h*w)
	for k := 0; k < h; k++ {
		mk := (h - k) % h
		for l := 0; l < w; l++ {
			if l < hw {
				full[k*w+l] = sum[k*hw+l] * inv
			} else {
				full[k*w+l] = sum[mk*hw+(w-l)] * inv
			}
		}
	}
	for _, v := range full {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("fourier: mean log amplitude: %w", ErrNonFinite)
		}
	}
	return &Spectrum{H: h, W: w, Data: FFTShift(nil, full, h, w)}, nil
}

// HalfDiagonal returns the relative log-amplitude profile along the half
// diagonal of a square spectrum, following the official code: the shifted
// diagonal entries (i, i) for i = n/2, ..., n-1, i.e. the frequencies (k, k)
// for k = 0, ..., ⌈n/2⌉-1, minus the value at k = 0. With nyquist set and n
// even, the point k = n/2 (shifted index (0, 0), frequency π) is appended.
// A non-square spectrum has no well-defined diagonal: the error wraps
// ErrNotSquare.
func (s *Spectrum) HalfDiagonal(nyquist bool) (*Profile, error) {
	if s.H != s.W {
		return nil, fmt.Errorf("fourier: half diagonal of a %d×%d spectrum: %w", s.H, s.W, ErrNotSquare)
	}
	n := s.H
	la := make([]float64, diagLen(n, nyquist))
	for k := range la {
		la[k] = s.At(k, k)
	}
	return newProfile(n, la)
}

// RelativeLogAmplitude returns the paper's relative log amplitude
// (docs/methods.md §4) of square feature maps: dLogAmp(k) = mean over batch and
// channels of log(|F(k,k)| + LogEps), minus the same at k = 0, for the half
// diagonal k = 0, ..., ⌈n/2⌉-1 (see Spectrum.HalfDiagonal and
// Options.IncludeNyquist). It equals MeanLogAmplitude followed by
// HalfDiagonal, but computes only the diagonal: F(k,k) = Σ_{i,j} x[i,j]
// e^{-2πik(i+j)/n} is the 1-D DFT of the anti-diagonal sums
// s[m] = Σ_{(i+j) mod n = m} x[i,j], so each map costs n² additions and one
// real FFT of length n instead of a 2-D FFT and n² logarithms.
// Non-square maps are an error wrapping ErrNotSquare.
func RelativeLogAmplitude[T Float](m Maps[T], opt *Options) (*Profile, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.H != m.W {
		return nil, fmt.Errorf("fourier: relative log amplitude of %d×%d maps: %w", m.H, m.W, ErrNotSquare)
	}
	n := m.H
	K := diagLen(n, opt.nyquist())
	sum := reduceMaps(m, opt, K, func(p *Plan, acc []float64, x []T) {
		s := p.sumsH
		clear(s)
		for i := 0; i < n; i++ {
			row := x[i*n : (i+1)*n]
			// (i+j) mod n runs i, ..., n-1, 0, ..., i-1 along the row.
			for j, v := range row[:n-i] {
				s[i+j] += float64(v)
			}
			for j, v := range row[n-i:] {
				s[j] += float64(v)
			}
		}
		c := p.colR.Coefficients(p.half[:n/2+1], s)
		for k := range acc {
			re, im := real(c[k]), imag(c[k])
			acc[k] += math.Log(math.Sqrt(re*re+im*im) + LogEps)
		}
	})
	inv := 1 / float64(m.B*m.C)
	for k := range sum {
		sum[k] *= inv
	}
	return newProfile(n, sum)
}

// reduceMaps calls fn for every H×W plane of m, accumulating into a slice of
// length size per worker, and returns the sum over workers. Planes are split
// into contiguous ranges, one per worker, and the per-worker sums are added
// in worker order, so the result is deterministic for a given worker count.
func reduceMaps[T Float](m Maps[T], opt *Options, size int, fn func(p *Plan, acc []float64, x []T)) []float64 {
	total := m.B * m.C
	nw := opt.workers(total)
	accs := make([][]float64, nw)
	var wg sync.WaitGroup
	for wi := range nw {
		lo, hi := wi*total/nw, (wi+1)*total/nw
		accs[wi] = make([]float64, size)
		wg.Go(func() {
			p := getPlan(m.H, m.W)
			defer putPlan(p)
			for idx := lo; idx < hi; idx++ {
				fn(p, accs[wi], m.plane(idx))
			}
		})
	}
	wg.Wait()
	for _, a := range accs[1:] {
		for i, v := range a {
			accs[0][i] += v
		}
	}
	return accs[0]
}

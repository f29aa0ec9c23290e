package fourier

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var paperBands = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9} // × π

func TestBandMaskKnown(t *testing.T) {
	count := func(m []float64) (n int) {
		for _, v := range m {
			n += int(v)
		}
		return n
	}
	for _, tc := range []struct {
		name   string
		h, w   int
		band   Band
		bins   int
		member [][2]int // bins (unshifted indices) that must be in the band
	}{
		// 8×8: radii are multiples of 0.25π. [0.45π, 0.55π) is the square
		// ring max(|k'|,|l'|) = 2: 5² − 3² = 16 bins.
		{"chebyshev ring", 8, 8, Band{Center: 0.5 * math.Pi}, 16, [][2]int{{2, 0}, {6, 6}, {2, 7}}},
		// Euclidean: √(k'²+l'²)/4 ∈ [0.45, 0.55) ⇔ k'²+l'² = 4: (±2,0), (0,±2).
		{"euclidean ring", 8, 8, Band{Center: 0.5 * math.Pi, Metric: Euclidean}, 4, [][2]int{{2, 0}, {0, 6}}},
		// A band up to π is closed there: max(|k'|,|l'|) = 4 is row or
		// column 4, 8 + 8 − 1 = 15 bins.
		{"top band", 8, 8, Band{Center: 0.95 * math.Pi}, 15, [][2]int{{4, 4}, {4, 0}, {1, 4}}},
		// Non-square: per-axis radii 2k/4 ∈ {0, ½, 1} and 2l/6 ∈ {0, ⅓, ⅔, 1}
		// (× π); [0.4π, 0.6π) takes k' = ±1 with |l'| ≤ 1: 2 × 3 bins.
		{"non-square", 4, 6, Band{Center: 0.5 * math.Pi, Width: 0.2 * math.Pi}, 6, [][2]int{{1, 0}, {3, 0}, {1, 1}, {3, 5}}},
	} {
		m, err := BandMask(tc.h, tc.w, tc.band)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := count(m); n != tc.bins {
			t.Errorf("%s: %d bins in the band, want %d", tc.name, n, tc.bins)
		}
		for _, b := range tc.member {
			if m[b[0]*tc.w+b[1]] != 1 {
				t.Errorf("%s: bin %v not in the band", tc.name, b)
			}
		}
	}
}

// TestPaperBandsPartition: the paper's bands f = 0.1π..0.9π of width 0.1π
// are adjacent half-open rings, so every bin with radius in [0.05π, 0.95π)
// is in exactly one of them, including bins that sit exactly on an edge
// (k = 4 of 32 is 0.25π).
func TestPaperBandsPartition(t *testing.T) {
	for _, metric := range []Metric{Chebyshev, Euclidean} {
		for _, s := range [][2]int{{32, 32}, {64, 64}, {40, 40}, {30, 50}} {
			h, w := s[0], s[1]
			hits := make([]int, h*w)
			for _, f := range paperBands {
				m, err := BandMask(h, w, Band{Center: f * math.Pi, Metric: metric})
				if err != nil {
					t.Fatalf("%v %dx%d f=%.1fπ: %v", metric, h, w, f, err)
				}
				for i, v := range m {
					hits[i] += int(v)
				}
			}
			for k := range h {
				for l := range w {
					r := Radius(k, l, h, w, metric)
					want := 0
					if r >= 0.05-1e-12 && r < 0.95-1e-12 {
						want = 1
					}
					if hits[k*w+l] != want {
						t.Errorf("%v %dx%d: bin (%d,%d) radius %.6gπ in %d bands, want %d", metric, h, w, k, l, r, hits[k*w+l], want)
					}
				}
			}
		}
	}
}

// TestBandNoiseSpectrum checks BandNoise against its definition: the
// output's spectrum equals FFT(δ) inside the band (so the band's energy is
// preserved) and vanishes outside it. δ ~ N(0,1) gives |FFT(δ)| ~ √(hw) ≤ 32;
// two FFTs and the inverse leave rounding of ~1e-14 there, so 1e-9
// outside and 1e-12 relative inside hold with a wide margin.
func TestBandNoiseSpectrum(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, metric := range []Metric{Chebyshev, Euclidean} {
		for _, s := range [][2]int{{32, 32}, {31, 31}, {16, 16}, {12, 20}, {15, 15}} {
			h, w := s[0], s[1]
			for _, f := range paperBands {
				name := fmt.Sprintf("%v %dx%d f=%.1fπ", metric, h, w, f)
				band := Band{Center: f * math.Pi, Metric: metric}
				delta := randReal(rng, h*w)
				out, err := BandNoise(nil, delta, h, w, band)
				if errors.Is(err, ErrBadBand) {
					// Small maps may have no bin in a band (16×16 radii are
					// multiples of π/8, none in [0.15π, 0.25π)): check that.
					lo, hi := f-0.05, f+0.05
					for k := range h {
						for l := range w {
							if r := Radius(k, l, h, w, metric); r >= lo-1e-9 && r < hi-1e-9 {
								t.Errorf("%s: rejected as empty, but bin (%d,%d) has radius %.4gπ", name, k, l, r)
							}
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				mask, _ := BandMask(h, w, band)
				S := FFT2Real(nil, out, h, w)
				D := FFT2Real(nil, delta, h, w)
				var outside, eIn, eWant float64
				for i := range S {
					if mask[i] == 0 {
						outside = max(outside, math.Hypot(real(S[i]), imag(S[i])))
						continue
					}
					d := S[i] - D[i]
					eIn += real(d)*real(d) + imag(d)*imag(d)
					eWant += real(D[i])*real(D[i]) + imag(D[i])*imag(D[i])
				}
				if outside > 1e-9 {
					t.Errorf("%s: spectrum outside the band reaches %.3g", name, outside)
				}
				if rel := math.Sqrt(eIn / eWant); rel > 1e-12 {
					t.Errorf("%s: spectrum inside the band off by %.3g (relative)", name, rel)
				}
				// The mask is conjugate-symmetric, so the filtered signal is
				// real: the imaginary part that BandNoise drops is rounding.
				c := FFT2(nil, toComplex(delta), h, w)
				for i := range c {
					c[i] *= complex(mask[i], 0)
				}
				var im, re float64
				for _, v := range IFFT2(c, c, h, w) {
					im, re = max(im, math.Abs(imag(v))), max(re, math.Abs(real(v)))
				}
				if im > 1e-12*re {
					t.Errorf("%s: filtered noise has an imaginary part %.3g (real part up to %.3g)", name, im, re)
				}
			}
		}
	}
}

func TestBadBands(t *testing.T) {
	for _, tc := range []struct {
		name string
		h, w int
		band Band
	}{
		{"zero centre", 32, 32, Band{Center: 0}},
		{"reaches 0", 32, 32, Band{Center: 0.05 * math.Pi}},
		{"below 0", 32, 32, Band{Center: 0.02 * math.Pi}},
		{"centre π", 32, 32, Band{Center: math.Pi}},
		{"beyond π", 32, 32, Band{Center: 0.97 * math.Pi}},
		{"negative centre", 32, 32, Band{Center: -0.5 * math.Pi}},
		{"negative width", 32, 32, Band{Center: 0.5 * math.Pi, Width: -0.1}},
		{"too wide", 32, 32, Band{Center: 0.5 * math.Pi, Width: 1.2 * math.Pi}},
		{"NaN centre", 32, 32, Band{Center: math.NaN()}},
		{"infinite width", 32, 32, Band{Center: 0.5 * math.Pi, Width: math.Inf(1)}},
		{"unknown metric", 32, 32, Band{Center: 0.5 * math.Pi, Metric: 7}},
		{"no bin at this size", 4, 4, Band{Center: 0.3 * math.Pi}},
		{"zero size", 0, 4, Band{Center: 0.5 * math.Pi}},
	} {
		if _, err := BandMask(tc.h, tc.w, tc.band); !errors.Is(err, ErrBadBand) {
			t.Errorf("%s: got %v, want ErrBadBand", tc.name, err)
		}
	}
	if _, err := BandNoise(nil, make([]float64, 10), 4, 4, Band{Center: 0.5 * math.Pi}); err == nil {
		t.Error("BandNoise with 10 values for 4×4: no error")
	}
}

func TestAddBandNoise(t *testing.T) {
	const B, C, H, W, scale = 2, 3, 32, 32, 0.25
	band := Band{Center: 0.3 * math.Pi}
	x := Maps[float32]{B: B, C: C, H: H, W: W, Data: make([]float32, B*C*H*W)}
	for i := range x.Data {
		x.Data[i] = float32(i%7) / 7
	}
	orig := slices.Clone(x.Data)
	if err := AddBandNoise(x, band, scale, rand.New(rand.NewPCG(9, 9))); err != nil {
		t.Fatal(err)
	}
	// The same seed, drawn plane by plane, row-major, reproduces it.
	rng := rand.New(rand.NewPCG(9, 9))
	for idx := range B * C {
		delta := make([]float64, H*W)
		for i := range delta {
			delta[i] = rng.NormFloat64()
		}
		noise, err := BandNoise(nil, delta, H, W, band)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range noise {
			j := idx*H*W + i
			if want := orig[j] + float32(scale*v); x.Data[j] != want {
				t.Fatalf("plane %d value %d: %v, want %v", idx, i, x.Data[j], want)
			}
		}
	}
	y := Maps[float32]{B: B, C: C, H: H, W: W, Data: slices.Clone(orig)}
	if err := AddBandNoise(y, band, scale, rand.New(rand.NewPCG(9, 10))); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(x.Data, y.Data) {
		t.Error("different seeds gave the same noise")
	}
	if err := AddBandNoise(y, band, scale, nil); err == nil {
		t.Error("nil random source: no error")
	}
	if err := AddBandNoise(y, band, math.NaN(), rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("NaN scale: no error")
	}
	if err := AddBandNoise(y, Band{Center: 0.99 * math.Pi}, scale, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrBadBand) {
		t.Errorf("bad band: got %v, want ErrBadBand", err)
	}
}

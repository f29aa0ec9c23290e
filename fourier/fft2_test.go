package fourier

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// sizes covers degenerate, even, odd, prime and mixed shapes.
var sizes = [][2]int{
	{1, 1}, {1, 5}, {4, 1}, {2, 3}, {3, 3}, {7, 7}, {8, 8}, {5, 12},
	{13, 17}, {16, 16}, {9, 10}, {31, 31}, {32, 32},
}

// dft2 is the direct O((hw)²) 2-D DFT. Twiddles are computed from the exact
// integer phase (k·i mod h)/h so they are correctly rounded.
func dft2(x []complex128, h, w int) []complex128 {
	out := make([]complex128, h*w)
	for k := 0; k < h; k++ {
		for l := 0; l < w; l++ {
			var s complex128
			for i := 0; i < h; i++ {
				for j := 0; j < w; j++ {
					// Phase in cycles, reduced exactly: (k i / h + l j / w) mod 1.
					num := ((k*i)%h)*w + ((l*j)%w)*h
					ph := -2 * math.Pi * float64(num%(h*w)) / float64(h*w)
					sn, cs := math.Sincos(ph)
					s += x[i*w+j] * complex(cs, sn)
				}
			}
			out[k*w+l] = s
		}
	}
	return out
}

func randComplex(rng *rand.Rand, n int) []complex128 {
	x := make([]complex128, n)
	for i := range x {
		x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
	}
	return x
}

func randReal(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

func toComplex(x []float64) []complex128 {
	c := make([]complex128, len(x))
	for i, v := range x {
		c[i] = complex(v, 0)
	}
	return c
}

// relErrC is the relative Frobenius error ‖got − want‖ / ‖want‖.
func relErrC(got, want []complex128) float64 {
	var num, den float64
	for i := range want {
		d := got[i] - want[i]
		num += real(d)*real(d) + imag(d)*imag(d)
		den += real(want[i])*real(want[i]) + imag(want[i])*imag(want[i])
	}
	return math.Sqrt(num / math.Max(den, 1e-300))
}

// Both the FFT and the direct sum have rounding errors of order
// ε·(log n or n) relative to ‖x‖; for these sizes (hw ≤ 1024) that is below
// 1e-13, so 1e-12 leaves a margin without hiding a wrong index or sign.
const fftTol = 1e-12

func TestFFT2MatchesDirectDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var worst float64
	defer func() { t.Logf("largest relative error vs direct DFT: %.3g", worst) }()
	for _, s := range sizes {
		h, w := s[0], s[1]
		t.Run(fmt.Sprintf("%dx%d", h, w), func(t *testing.T) {
			x := randComplex(rng, h*w)
			want := dft2(x, h, w)
			got := FFT2(nil, x, h, w)
			e := relErrC(got, want)
			worst = max(worst, e)
			if e > fftTol {
				t.Errorf("complex FFT2 vs direct DFT: relative error %.3g > %g", e, fftTol)
			}
			xr := randReal(rng, h*w)
			want = dft2(toComplex(xr), h, w)
			e = relErrC(FFT2Real(nil, xr, h, w), want)
			worst = max(worst, e)
			if e > fftTol {
				t.Errorf("FFT2Real vs direct DFT: relative error %.3g > %g", e, fftTol)
			}
			// In place gives the same answer.
			y := slices.Clone(x)
			FFT2(y, y, h, w)
			if e := relErrC(y, got); e != 0 {
				t.Errorf("in-place FFT2 differs from out-of-place by %.3g", e)
			}
		})
	}
}

func TestKnownAnswers(t *testing.T) {
	// A unit impulse at (0,0) has a flat spectrum of ones; a constant c has
	// c·h·w at (0,0) and nothing elsewhere (numpy.fft.fft2 gives the same).
	h, w := 3, 4
	imp := make([]float64, h*w)
	imp[0] = 1
	for i, v := range FFT2Real(nil, imp, h, w) {
		if math.Abs(real(v)-1) > 1e-15 || math.Abs(imag(v)) > 1e-15 {
			t.Fatalf("impulse: F[%d] = %v, want 1", i, v)
		}
	}
	cst := make([]float64, h*w)
	for i := range cst {
		cst[i] = 2
	}
	for i, v := range FFT2Real(nil, cst, h, w) {
		want := 0.0
		if i == 0 {
			want = 24
		}
		if math.Abs(real(v)-want) > 1e-13 || math.Abs(imag(v)) > 1e-13 {
			t.Fatalf("constant: F[%d] = %v, want %v", i, v, want)
		}
	}
}

func TestInverseRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range sizes {
		h, w := s[0], s[1]
		x := randComplex(rng, h*w)
		y := IFFT2(nil, FFT2(nil, x, h, w), h, w)
		if e := relErrC(y, x); e > fftTol {
			t.Errorf("%dx%d: IFFT2(FFT2(x)) relative error %.3g > %g", h, w, e, fftTol)
		}
		// The inverse is also the direct inverse DFT: conj(DFT(conj X))/hw.
		X := randComplex(rng, h*w)
		cj := make([]complex128, len(X))
		for i, v := range X {
			cj[i] = complex(real(v), -imag(v))
		}
		d := dft2(cj, h, w)
		for i, v := range d {
			d[i] = complex(real(v), -imag(v)) / complex(float64(h*w), 0)
		}
		if e := relErrC(IFFT2(nil, X, h, w), d); e > fftTol {
			t.Errorf("%dx%d: IFFT2 vs direct inverse DFT: relative error %.3g", h, w, e)
		}
	}
}

func TestShift(t *testing.T) {
	// Known answers from numpy.fft.fftshift / ifftshift (1-D).
	got := FFTShift(nil, []int{0, 1, 2, 3, 4}, 1, 5)
	if want := []int{3, 4, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("fftshift odd: got %v, want %v", got, want)
	}
	got = FFTShift(nil, []int{0, 1, 2, 3, 4, 5}, 6, 1)
	if want := []int{3, 4, 5, 0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("fftshift even: got %v, want %v", got, want)
	}
	got = IFFTShift(nil, []int{0, 1, 2, 3, 4}, 1, 5)
	if want := []int{2, 3, 4, 0, 1}; !slices.Equal(got, want) {
		t.Errorf("ifftshift odd: got %v, want %v", got, want)
	}
	for _, s := range sizes {
		h, w := s[0], s[1]
		x := make([]int, h*w)
		for i := range x {
			x[i] = i
		}
		sh := FFTShift(nil, x, h, w)
		// The zero frequency (index 0) lands at (h/2, w/2).
		if sh[(h/2)*w+w/2] != 0 {
			t.Errorf("%dx%d: zero frequency not at the centre", h, w)
		}
		if back := IFFTShift(nil, sh, h, w); !slices.Equal(back, x) {
			t.Errorf("%dx%d: ifftshift(fftshift(x)) != x", h, w)
		}
		y := slices.Clone(x)
		IFFTShift(y, FFTShift(y, y, h, w), h, w) // in place both ways
		if !slices.Equal(y, x) {
			t.Errorf("%dx%d: in-place round trip != x", h, w)
		}
	}
}

func TestConcurrentFFT2(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := randComplex(rng, 12*10)
	want := FFT2(nil, x, 12, 10)
	var wg sync.WaitGroup
	errs := make([]float64, 8)
	for g := range errs {
		wg.Go(func() {
			for range 50 {
				errs[g] = max(errs[g], relErrC(FFT2(nil, x, 12, 10), want))
			}
		})
	}
	wg.Wait()
	for g, e := range errs {
		if e != 0 {
			t.Errorf("goroutine %d: result differs by %.3g", g, e)
		}
	}
}

func TestPlanPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"zero size":  func() { NewPlan(0, 3) },
		"short src":  func() { FFT2(nil, make([]complex128, 5), 2, 3) },
		"short dst":  func() { FFT2(make([]complex128, 5), make([]complex128, 6), 2, 3) },
		"bad shift":  func() { FFTShift(nil, make([]int, 5), 2, 3) },
		"real short": func() { FFT2Real(nil, make([]float64, 7), 2, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

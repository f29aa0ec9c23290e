//go:build cgo

package fourier

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// torchFFT2 returns libtorch's fft2 (or ifft2) of the h×w array x, computed
// in float64/complex128. Sizes are passed explicitly: gotch's FftFft2 panics
// on a nil size list.
func torchFFT2(t *testing.T, x []complex128, h, w int, inverse bool) []complex128 {
	t.Helper()
	var s torchx.Scope
	defer s.Close()
	pairs := make([]float64, 2*len(x))
	for i, v := range x {
		pairs[2*i], pairs[2*i+1] = real(v), imag(v)
	}
	re, err := torchx.FromSlice(pairs, []int64{int64(h), int64(w), 2}, gotch.Double)
	if err != nil {
		t.Fatal(err)
	}
	s.Add(re)
	c, err := re.ViewAsComplex(false)
	if err != nil {
		t.Fatal(err)
	}
	s.Add(c)
	size, dims := []int64{int64(h), int64(w)}, []int64{0, 1}
	var f *ts.Tensor
	if inverse {
		f, err = c.FftIfft2(size, dims, "backward", false)
	} else {
		f, err = c.FftFft2(size, dims, "backward", false)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Add(f)
	fr, err := f.ViewAsReal(false)
	if err != nil {
		t.Fatal(err)
	}
	s.Add(fr)
	vals, err := torchx.Values[float64](fr)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2*h*w {
		t.Fatalf("libtorch returned %d values, want %d", len(vals), 2*h*w)
	}
	out := make([]complex128, h*w)
	for i := range out {
		out[i] = complex(vals[2*i], vals[2*i+1])
	}
	return out
}

// TestFFT2MatchesLibtorch compares against torch.fft.fft2/ifft2 (libtorch
// 1.13, pocketfft) in double precision. The brief's bound is 1e-5
// relative; both sides are float64 FFTs, so the agreement is really ~1e-15.
func TestFFT2MatchesLibtorch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const tol = 1e-5
	rng := rand.New(rand.NewPCG(7, 8))
	var worst float64
	for _, s := range [][2]int{{7, 7}, {8, 8}, {6, 9}, {13, 4}, {16, 16}, {15, 15}, {32, 32}, {17, 31}} {
		h, w := s[0], s[1]
		t.Run(fmt.Sprintf("%dx%d", h, w), func(t *testing.T) {
			x := randComplex(rng, h*w)
			e := relErrC(FFT2(nil, x, h, w), torchFFT2(t, x, h, w, false))
			worst = max(worst, e)
			if e > tol {
				t.Errorf("complex fft2: relative error %.3g > %g", e, tol)
			}
			xr := randReal(rng, h*w)
			e = relErrC(FFT2Real(nil, xr, h, w), torchFFT2(t, toComplex(xr), h, w, false))
			worst = max(worst, e)
			if e > tol {
				t.Errorf("real fft2: relative error %.3g > %g", e, tol)
			}
			e = relErrC(IFFT2(nil, x, h, w), torchFFT2(t, x, h, w, true))
			worst = max(worst, e)
			if e > tol {
				t.Errorf("ifft2: relative error %.3g > %g", e, tol)
			}
		})
	}
	t.Logf("largest relative error vs libtorch: %.3g", worst)
}

package fourier

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func noiseMaps(rng *rand.Rand, b, c, h, w int) Maps[float64] {
	return Maps[float64]{B: b, C: c, H: h, W: w, Data: randReal(rng, b*c*h*w)}
}

// officialProfile follows the official notebook literally: fft2, log(|F| +
// 1e-6), torch.roll by int(n/2) on both axes, mean over batch and
// channels, diag()[int(n/2):], minus its first entry.
func officialProfile(m Maps[float64]) []float64 {
	n := m.H
	mean := make([]float64, n*n)
	for idx := range m.B * m.C {
		f := FFT2Real(nil, m.plane(idx), n, n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				v := f[i*n+j]
				// torch.roll(x, s): out[(i + s) mod n] = x[i].
				ri, rj := (i+n/2)%n, (j+n/2)%n
				mean[ri*n+rj] += math.Log(math.Hypot(real(v), imag(v))+1e-6) / float64(m.B*m.C)
			}
		}
	}
	var d []float64
	for i := n / 2; i < n; i++ {
		d = append(d, mean[i*n+i]-mean[(n/2)*n+n/2])
	}
	return d
}

// diffTol bounds the disagreement of two computations of the same mean log
// amplitude: their FFTs differ by ~1e-16·‖x‖ absolute, which moves
// log|F| by that over |F|; for Gaussian data the smallest |F| among a few
// thousand coefficients is rarely below 1e-3·‖x‖/n, so 1e-9 has a wide
// margin yet catches any wrong index.
const diffTol = 1e-9

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestRelativeLogAmplitudeMatchesOfficialRecipe(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 3, 6, 7, 8, 9, 16} {
		m := noiseMaps(rng, 3, 5, n, n)
		want := officialProfile(m)
		p, err := RelativeLogAmplitude(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(p.DLogAmp, want); d > diffTol {
			t.Errorf("n=%d: fast diagonal vs official recipe: max difference %.3g\ngot  %v\nwant %v", n, d, p.DLogAmp, want)
		}
		// The full map followed by its half diagonal is the same curve.
		s, err := MeanLogAmplitude(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, nyq := range []bool{false, true} {
			q, err := s.HalfDiagonal(nyq)
			if err != nil {
				t.Fatal(err)
			}
			r, err := RelativeLogAmplitude(m, &Options{IncludeNyquist: nyq})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(q.LogAmp, r.LogAmp); d > diffTol {
				t.Errorf("n=%d nyquist=%t: map diagonal vs fast diagonal: max difference %.3g", n, nyq, d)
			}
		}
	}
}

func TestMeanLogAmplitudeMatchesDirect(t *testing.T) {
	// Any H×W, including non-square: the Hermitian fill of the columns
	// beyond W/2 must agree with transforming every column.
	rng := rand.New(rand.NewPCG(13, 14))
	for _, s := range [][2]int{{5, 6}, {6, 5}, {4, 4}, {7, 3}, {1, 8}} {
		h, w := s[0], s[1]
		m := noiseMaps(rng, 2, 3, h, w)
		want := make([]float64, h*w)
		for idx := range m.B * m.C {
			f := dft2(toComplex(m.plane(idx)), h, w)
			for i, v := range f {
				want[i] += math.Log(math.Hypot(real(v), imag(v))+LogEps) / 6
			}
		}
		want = FFTShift(nil, want, h, w)
		got, err := MeanLogAmplitude(m, &Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(got.Data, want); d > diffTol {
			t.Errorf("%dx%d: max difference %.3g from the direct DFT", h, w, d)
		}
	}
}

func TestFrequencyLabels(t *testing.T) {
	for _, tc := range []struct {
		n        int
		nyquist  bool
		points   int
		lastFreq float64 // radians
	}{
		{8, false, 4, math.Pi - 2*math.Pi/8},
		{8, true, 5, math.Pi},
		{16, false, 8, math.Pi - 2*math.Pi/16},
		{7, false, 4, math.Pi - math.Pi/7},
		{7, true, 4, math.Pi - math.Pi/7},
		{15, false, 8, math.Pi - math.Pi/15},
		{1, false, 1, 0},
		{2, false, 1, 0},
		{2, true, 2, math.Pi},
	} {
		m := Maps[float64]{B: 1, C: 1, H: tc.n, W: tc.n, Data: randReal(rand.New(rand.NewPCG(1, 1)), tc.n*tc.n)}
		p, err := RelativeLogAmplitude(m, &Options{IncludeNyquist: tc.nyquist})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Freq) != tc.points || len(p.PlotFreq) != tc.points || len(p.K) != tc.points || len(p.DLogAmp) != tc.points {
			t.Fatalf("n=%d nyquist=%t: %d points, want %d", tc.n, tc.nyquist, len(p.Freq), tc.points)
		}
		if got := p.Freq[tc.points-1]; math.Abs(got-tc.lastFreq) > 1e-15 {
			t.Errorf("n=%d nyquist=%t: last frequency %.6gπ, want %.6gπ", tc.n, tc.nyquist, got/math.Pi, tc.lastFreq/math.Pi)
		}
		for i := range p.Freq {
			if p.K[i] != i || math.Abs(p.Freq[i]-2*math.Pi*float64(i)/float64(tc.n)) > 1e-15 {
				t.Errorf("n=%d: point %d has k=%d, frequency %v", tc.n, i, p.K[i], p.Freq[i])
			}
		}
		if p.PlotFreq[0] != 0 || (tc.points > 1 && p.PlotFreq[tc.points-1] != 1) {
			t.Errorf("n=%d: plot axis %v does not run 0..1", tc.n, p.PlotFreq)
		}
		if p.DLogAmp[0] != 0 {
			t.Errorf("n=%d: dLogAmp(0) = %v, want 0", tc.n, p.DLogAmp[0])
		}
	}
}

func TestConstantMap(t *testing.T) {
	// All amplitude at frequency 0: F(0,0) = A·n², every other bin is
	// rounding noise (~1e-14) below the 1e-6 floor, so dLogAmp(k > 0) =
	// log(1e-6) − log(A·n² + 1e-6) up to ~1e-8.
	const A = 3
	for _, n := range []int{7, 8} {
		m := Maps[float32]{B: 2, C: 3, H: n, W: n, Data: make([]float32, 2*3*n*n)}
		for i := range m.Data {
			m.Data[i] = A
		}
		want := math.Log(LogEps) - math.Log(A*float64(n*n)+LogEps)
		for _, nyq := range []bool{false, true} {
			p, err := RelativeLogAmplitude(m, &Options{IncludeNyquist: nyq})
			if err != nil {
				t.Fatal(err)
			}
			for k := 1; k < len(p.DLogAmp); k++ {
				if math.Abs(p.DLogAmp[k]-want) > 1e-6 {
					t.Errorf("n=%d: dLogAmp(%d) = %.8g, want %.8g", n, k, p.DLogAmp[k], want)
				}
			}
		}
		s, err := MeanLogAmplitude(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.H {
			for j := range s.W {
				want := math.Log(LogEps)
				if i == n/2 && j == n/2 {
					want = math.Log(A*float64(n*n) + LogEps)
				}
				if v := s.Data[i*s.W+j]; math.Abs(v-want) > 1e-6 {
					t.Errorf("n=%d: shifted map (%d,%d) = %.8g, want %.8g", n, i, j, v, want)
				}
			}
		}
	}
}

func TestCheckerboard(t *testing.T) {
	// (−1)^(i+j) on an even n×n grid is the frequency (n/2, n/2): all of
	// its amplitude, n², is in the corner of the shifted map.
	for _, n := range []int{4, 8, 16} {
		m := Maps[float64]{B: 1, C: 2, H: n, W: n, Data: make([]float64, 2*n*n)}
		for idx := range 2 {
			for i := range n {
				for j := range n {
					m.Data[(idx*n+i)*n+j] = float64(1 - 2*((i+j)%2))
				}
			}
		}
		s, err := MeanLogAmplitude(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		peak := math.Log(float64(n*n) + LogEps)
		if v := s.Data[0]; math.Abs(v-peak) > 1e-9 {
			t.Errorf("n=%d: shifted corner (0,0) = %.8g, want %.8g", n, v, peak)
		}
		for i, v := range s.Data[1:] {
			if math.Abs(v-math.Log(LogEps)) > 1e-6 {
				t.Errorf("n=%d: shifted entry %d = %.8g, want log(1e-6)", n, i+1, v)
			}
		}
		// With the Nyquist point the profile shows it at frequency π...
		p, err := RelativeLogAmplitude(m, &Options{IncludeNyquist: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.Last(), peak-math.Log(LogEps); math.Abs(got-want) > 1e-6 || p.Freq[len(p.Freq)-1] != math.Pi {
			t.Errorf("n=%d: Nyquist point %.8g at %.4gπ, want %.8g at π", n, got, p.Freq[len(p.Freq)-1]/math.Pi, want)
		}
		// ...while the official half diagonal, which stops at π − 2π/n,
		// misses it entirely: flat 0.
		p, err = RelativeLogAmplitude(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range p.DLogAmp {
			if math.Abs(v) > 1e-6 {
				t.Errorf("n=%d: official dLogAmp(%d) = %.3g, want 0 (checkerboard invisible)", n, k, v)
			}
		}
	}
}

// TestGaussianNoiseIsFlat checks the profile of white Gaussian noise.
//
// For x[i,j] ~ N(0,1) i.i.d., a bin F(k,l) that is not its own conjugate is
// circular complex Gaussian with E|F|² = S = n²: |F|² ~ S·Exp(1), so
// log|F| = ½log S + ½log E with E[log E] = −γ and Var = π²/6, i.e.
// Var(log|F|) = π²/24. The DC bin (and for even n the bins (0,n/2),
// (n/2,0), (n/2,n/2)) is real Gaussian: |F|² ~ S·χ²₁, E[log χ²₁] = −γ − log 2,
// Var = π²/2, so Var(log|F|) = π²/8 and its mean is lower by ½log 2.
// The 1e-6 floor is negligible against |F| ~ n.
//
// Hence E[dLogAmp(k)] = ½log 2 ≈ 0.347 for every k ≥ 1 on the official
// diagonal (flat, but not at 0), and 0 at the real Nyquist point. Distinct
// diagonal bins are independent, so over N averaged maps dLogAmp(k) has
// standard deviation σ = √((π²/24 + π²/8)/N) = √(π²/(6N)) (0.020 for
// N = 4096) and two points k, k' ≥ 1 differ with standard deviation
// √(π²/(12N)). The test allows 5σ per point (two-sided p ≈ 6e-7, a handful
// of points per case) and a spread of 6 pair-σ over k ≥ 1.
func TestGaussianNoiseIsFlat(t *testing.T) {
	const B, C = 16, 256
	N := float64(B * C)
	sigma := math.Sqrt(math.Pi * math.Pi / (6 * N))
	pairSigma := math.Sqrt(math.Pi * math.Pi / (12 * N))
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{15, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := noiseMaps(rng, B, C, n, n)
			p, err := RelativeLogAmplitude(m, &Options{IncludeNyquist: true})
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			for k := 1; k < len(p.DLogAmp); k++ {
				want := 0.5 * math.Ln2
				if 2*k == n {
					want = 0 // real Nyquist bin: same law as DC
				} else {
					lo, hi = min(lo, p.DLogAmp[k]), max(hi, p.DLogAmp[k])
				}
				if d := p.DLogAmp[k] - want; math.Abs(d) > 5*sigma {
					t.Errorf("dLogAmp(%d) = %.4f, want %.4f ± %.4f", k, p.DLogAmp[k], want, 5*sigma)
				}
			}
			if hi-lo > 6*pairSigma {
				t.Errorf("profile spread %.4f over k ≥ 1 exceeds %.4f: not flat", hi-lo, 6*pairSigma)
			}
			t.Logf("n=%d: dLogAmp %.3f (5σ = %.3f, spread %.4f)", n, p.DLogAmp, 5*sigma, hi-lo)
		})
	}
}

func TestWorkersAgree(t *testing.T) {
	m := noiseMaps(rand.New(rand.NewPCG(31, 32)), 5, 7, 8, 8)
	a, err := RelativeLogAmplitude(m, &Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := RelativeLogAmplitude(m, &Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(a.DLogAmp, b.DLogAmp); d > 1e-12 {
		t.Errorf("1 vs 4 workers differ by %.3g", d)
	}
}

func TestLogAmplitudeErrors(t *testing.T) {
	sq := Maps[float64]{B: 1, C: 1, H: 4, W: 6, Data: make([]float64, 24)}
	if _, err := RelativeLogAmplitude(sq, nil); !errors.Is(err, ErrNotSquare) {
		t.Errorf("non-square maps: got %v, want ErrNotSquare", err)
	}
	s, err := MeanLogAmplitude(sq, nil)
	if err != nil {
		t.Fatalf("non-square map spectrum: %v", err)
	}
	if _, err := s.HalfDiagonal(false); !errors.Is(err, ErrNotSquare) {
		t.Errorf("non-square half diagonal: got %v, want ErrNotSquare", err)
	}
	if _, err := RelativeLogAmplitude(Maps[float64]{B: 1, C: 1, H: 4, W: 4, Data: make([]float64, 15)}, nil); err == nil {
		t.Error("short data: no error")
	}
	if _, err := MeanLogAmplitude(Maps[float32]{B: 0, C: 1, H: 4, W: 4}, nil); err == nil {
		t.Error("zero batch: no error")
	}
	bad := Maps[float64]{B: 1, C: 1, H: 4, W: 4, Data: make([]float64, 16)}
	bad.Data[5] = math.NaN()
	if _, err := RelativeLogAmplitude(bad, nil); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN input: got %v, want ErrNonFinite", err)
	}
	if _, err := MeanLogAmplitude(bad, nil); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN input map: got %v, want ErrNonFinite", err)
	}
}

func TestSpectrumGrid(t *testing.T) {
	// 4×5 (H×W): rows are frequencies −2..1 (×2π/4), columns −2..2 (×2π/5).
	m := noiseMaps(rand.New(rand.NewPCG(51, 52)), 1, 1, 4, 5)
	s, err := MeanLogAmplitude(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, r := s.Dims(); c != 5 || r != 4 {
		t.Fatalf("Dims() = %d, %d, want 5, 4", c, r)
	}
	if s.X(2) != 0 || s.Y(2) != 0 || s.X(0) != -0.8 || s.Y(0) != -1 || s.X(4) != 0.8 || s.Y(3) != 0.5 {
		t.Errorf("axes: X = %v..%v, Y = %v..%v", s.X(0), s.X(4), s.Y(0), s.Y(3))
	}
	for r := range 4 {
		for c := range 5 {
			if s.Z(c, r) != s.At(r-2, c-2) {
				t.Errorf("Z(%d,%d) = %v differs from At(%d,%d) = %v", c, r, s.Z(c, r), r-2, c-2, s.At(r-2, c-2))
			}
		}
	}
}

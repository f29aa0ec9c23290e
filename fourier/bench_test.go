package fourier

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRelativeLogAmplitude measures a realistic layer: B = 100
// images, C = 64 channels, 16×16 and 32×32 float32 maps, for the
// diagonal-only route (RelativeLogAmplitude) and the full mean map
// (MeanLogAmplitude), with one worker and the default (GOMAXPROCS).
func BenchmarkRelativeLogAmplitude(b *testing.B) {
	const B, C = 100, 64
	for _, n := range []int{16, 32} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		m := Maps[float32]{B: B, C: C, H: n, W: n, Data: make([]float32, B*C*n*n)}
		for i := range m.Data {
			m.Data[i] = float32(rng.NormFloat64())
		}
		for _, workers := range []int{1, 0} {
			opt := &Options{Workers: workers}
			b.Run(fmt.Sprintf("diagonal/%dx%d/workers=%d", n, n, workers), func(b *testing.B) {
				b.SetBytes(int64(4 * len(m.Data)))
				for b.Loop() {
					if _, err := RelativeLogAmplitude(m, opt); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("fullmap/%dx%d/workers=%d", n, n, workers), func(b *testing.B) {
				b.SetBytes(int64(4 * len(m.Data)))
				for b.Loop() {
					s, err := MeanLogAmplitude(m, opt)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.HalfDiagonal(false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFFT2 measures one 2-D transform, real and complex input, for
// even, odd-prime and power-of-two sizes.
func BenchmarkFFT2(b *testing.B) {
	for _, n := range []int{16, 32, 31} {
		x := randReal(rand.New(rand.NewPCG(1, 2)), n*n)
		dst := make([]complex128, n*n)
		b.Run(fmt.Sprintf("real/%dx%d", n, n), func(b *testing.B) {
			for b.Loop() {
				FFT2Real(dst, x, n, n)
			}
		})
		c := toComplex(x)
		b.Run(fmt.Sprintf("complex/%dx%d", n, n), func(b *testing.B) {
			for b.Loop() {
				FFT2(dst, c, n, n)
			}
		})
	}
}

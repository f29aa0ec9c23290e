package fourier

import (
	"errors"
	"fmt"
)

// Float is the element type of feature maps: float32 (what models produce)
// or float64. All arithmetic is done in float64.
type Float interface {
	~float32 | ~float64
}

// Maps is a batch of feature maps of shape (B, C, H, W), stored row-major in
// Data (as a contiguous NCHW tensor is): element (b, c, i, j) is
// Data[((b*C+c)*H+i)*W+j].
type Maps[T Float] struct {
	B, C, H, W int
	Data       []T
}

// Validate reports whether the dimensions are positive and Data holds
// exactly B·C·H·W values.
func (m Maps[T]) Validate() error {
	if m.B <= 0 || m.C <= 0 || m.H <= 0 || m.W <= 0 {
		return fmt.Errorf("fourier: feature maps of shape (%d, %d, %d, %d): dimensions must be positive", m.B, m.C, m.H, m.W)
	}
	if len(m.Data) != m.B*m.C*m.H*m.W {
		return fmt.Errorf("fourier: %d values for feature maps of shape (%d, %d, %d, %d)", len(m.Data), m.B, m.C, m.H, m.W)
	}
	return nil
}

// plane returns the H×W map of sample b, channel c (index b*C+c).
func (m Maps[T]) plane(idx int) []T {
	n := m.H * m.W
	return m.Data[idx*n : (idx+1)*n]
}

// Tokens is a batch of ViT token maps of shape (B, N, C), stored row-major in
// Data: token n of sample b has its C features at Data[(b*N+n)*C:][:C].
type Tokens[T Float] struct {
	B, N, C int
	Data    []T
}

// ErrNotSquare reports a token count or a feature map that is not square
// where a square one is required.
var ErrNotSquare = errors.New("not square")

// TokensToMaps turns ViT tokens (B, N, C) into feature maps (B, C, h, w).
// With cls set, token 0 (the class token) is dropped first. The remaining
// N' tokens must form a square grid, h = w = √N' (otherwise an error wrapping
// ErrNotSquare). Patch token n goes to row n / w, column n % w: the
// row-major order in which a patch embedding (timm's PatchEmbed, a strided
// convolution followed by flatten(2)) lays the grid out. The result is a new
// slice.
func TokensToMaps[T Float](t Tokens[T], cls bool) (Maps[T], error) {
	if t.B <= 0 || t.N <= 0 || t.C <= 0 {
		return Maps[T]{}, fmt.Errorf("fourier: tokens of shape (%d, %d, %d): dimensions must be positive", t.B, t.N, t.C)
	}
	if len(t.Data) != t.B*t.N*t.C {
		return Maps[T]{}, fmt.Errorf("fourier: %d values for tokens of shape (%d, %d, %d)", len(t.Data), t.B, t.N, t.C)
	}
	first := 0
	if cls {
		first = 1
	}
	np := t.N - first
	side := isqrt(np)
	if np <= 0 || side*side != np {
		return Maps[T]{}, fmt.Errorf("fourier: %d patch tokens (N = %d, class token dropped: %t) do not form a square grid: %w",
			np, t.N, cls, ErrNotSquare)
	}
	m := Maps[T]{B: t.B, C: t.C, H: side, W: side, Data: make([]T, t.B*t.C*np)}
	for b := 0; b < t.B; b++ {
		for n := 0; n < np; n++ {
			tok := t.Data[(b*t.N+first+n)*t.C:][:t.C]
			for c, v := range tok {
				// Row n/side, column n%side: offset n in the h×w plane.
				m.Data[(b*t.C+c)*np+n] = v
			}
		}
	}
	return m, nil
}

// isqrt returns ⌊√n⌋ exactly for 0 ≤ n < 2^62 (and 0 for n ≤ 0).
func isqrt(n int) int {
	if n <= 0 {
		return 0
	}
	s := 0
	for bit := 1 << 30; bit > 0; bit >>= 1 { // n < 2^62
		if t := s | bit; t*t <= n {
			s = t
		}
	}
	return s
}

package fourier

import (
	"errors"
	"testing"
)

// posTokens returns (B, N, C) tokens whose value encodes where the token
// must land: 1000·b + 100·row + 10·col + channel, with patch token n at
// row n / side, column n % side; a class token, if any, holds −1.
func posTokens(b, side, c int, cls bool) Tokens[float32] {
	first := 0
	if cls {
		first = 1
	}
	n := side*side + first
	t := Tokens[float32]{B: b, N: n, C: c, Data: make([]float32, b*n*c)}
	for bi := range b {
		for ni := range n {
			for ci := range c {
				v := float32(-1)
				if p := ni - first; p >= 0 {
					v = float32(1000*bi + 100*(p/side) + 10*(p%side) + ci)
				}
				t.Data[(bi*n+ni)*c+ci] = v
			}
		}
	}
	return t
}

func TestTokensToMaps(t *testing.T) {
	for _, cls := range []bool{true, false} {
		for _, side := range []int{1, 3, 4} {
			const B, C = 2, 5
			m, err := TokensToMaps(posTokens(B, side, C, cls), cls)
			if err != nil {
				t.Fatalf("cls=%t side=%d: %v", cls, side, err)
			}
			if m.B != B || m.C != C || m.H != side || m.W != side || len(m.Data) != B*C*side*side {
				t.Fatalf("cls=%t side=%d: shape (%d,%d,%d,%d) with %d values", cls, side, m.B, m.C, m.H, m.W, len(m.Data))
			}
			for b := range B {
				for c := range C {
					for i := range side {
						for j := range side {
							got := m.Data[((b*C+c)*side+i)*side+j]
							if want := float32(1000*b + 100*i + 10*j + c); got != want {
								t.Errorf("cls=%t side=%d: (b=%d,c=%d,i=%d,j=%d) = %v, want %v", cls, side, b, c, i, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

func TestTokensToMapsErrors(t *testing.T) {
	// 17 tokens: a square grid only once the class token is dropped.
	tok := Tokens[float64]{B: 1, N: 17, C: 2, Data: make([]float64, 34)}
	if _, err := TokensToMaps(tok, false); !errors.Is(err, ErrNotSquare) {
		t.Errorf("17 tokens without CLS: got %v, want ErrNotSquare", err)
	}
	if _, err := TokensToMaps(tok, true); err != nil {
		t.Errorf("17 tokens with CLS: %v", err)
	}
	one := Tokens[float64]{B: 1, N: 1, C: 2, Data: make([]float64, 2)}
	if _, err := TokensToMaps(one, true); !errors.Is(err, ErrNotSquare) {
		t.Errorf("only a class token: got %v, want ErrNotSquare", err)
	}
	short := Tokens[float64]{B: 1, N: 16, C: 2, Data: make([]float64, 31)}
	if _, err := TokensToMaps(short, false); err == nil {
		t.Error("short data: no error")
	}
	if _, err := TokensToMaps(Tokens[float64]{B: 1, N: 4, C: 0}, false); err == nil {
		t.Error("zero channels: no error")
	}
}

func TestIsqrt(t *testing.T) {
	for n := range 10000 {
		s := isqrt(n)
		if s*s > n || (s+1)*(s+1) <= n {
			t.Fatalf("isqrt(%d) = %d", n, s)
		}
	}
	if s := isqrt(1 << 60); s != 1<<30 {
		t.Errorf("isqrt(2^60) = %d", s)
	}
}

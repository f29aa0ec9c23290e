package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestBlurFilter compares the blur with a direct evaluation of the
// zero-padded 3x3 binomial filter [1 2 1]ᵀ[1 2 1]/16, channel by channel.
func TestBlurFilter(t *testing.T) {
	const b, c, h, w = 2, 3, 5, 6
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, b*c*h*w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	xt, err := ts.OfSlice(x)
	if err != nil {
		t.Fatal(err)
	}
	xt, err = xt.Reshape([]int64{b, c, h, w}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer xt.MustDrop()
	k, err := blurKernel(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer k.MustDrop()
	f := &fwd{}
	y := f.blur(xt, k)
	got, err := torchx.Values[float32](y)
	f.s.Close()
	if err != nil || f.err != nil {
		t.Fatal(err, f.err)
	}
	tap := [3]float64{1, 2, 1}
	for p := 0; p < b*c; p++ {
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				var want float64
				for di := -1; di <= 1; di++ {
					for dj := -1; dj <= 1; dj++ {
						if ii, jj := i+di, j+dj; ii >= 0 && ii < h && jj >= 0 && jj < w {
							want += tap[di+1] * tap[dj+1] / 16 * float64(x[p*h*w+ii*w+jj])
						}
					}
				}
				if g := float64(got[p*h*w+i*w+j]); math.Abs(g-want) > 1e-6 {
					t.Fatalf("plane %d, (%d, %d): %g, want %g", p, i, j, g, want)
				}
			}
		}
	}
}

// TestWindowMask checks the mask of a 3x3 window on a 4x4 grid with a
// class token against the definition, entry by entry.
func TestWindowMask(t *testing.T) {
	m, err := windowMask(4, 3, true, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.MustDrop()
	v, err := torchx.Values[float32](m)
	if err != nil {
		t.Fatal(err)
	}
	const n = 17
	if len(v) != n*n {
		t.Fatalf("%d entries, want %d", len(v), n*n)
	}
	for q := 0; q < n; q++ {
		for k := 0; k < n; k++ {
			open := q == 0 || k == 0
			if q > 0 && k > 0 {
				qr, qc, kr, kc := (q-1)/4, (q-1)%4, (k-1)/4, (k-1)%4
				open = abs(qr-kr) <= 1 && abs(qc-kc) <= 1
			}
			got := v[q*n+k]
			if open && got != 0 || !open && !math.IsInf(float64(got), -1) {
				t.Errorf("mask[%d][%d] = %v, want %s", q, k, got, map[bool]string{true: "0", false: "-inf"}[open])
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

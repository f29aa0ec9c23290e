package analysis

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/cka"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkGram compares the two ways of forming a layer's Gram matrix in
// float64: libtorch (what analysis.CKA does) and gonum (cka.Gram), on n
// images of a feature map of d values (32,768: alternet-mini's layer1.0,
// 32 channels of 32×32).
//
// libtorch runs on $VITPROBE_THREADS threads (all cores if unset); gonum's
// product on one.
func BenchmarkGram(b *testing.B) {
	lockThread(b)
	torchx.KeepFreedMemory() // as the commands do: freed tensors' pages are reused
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ n, d int }{{100, 4096}, {100, 32768}, {256, 32768}} {
		v := make([]float32, s.n*s.d)
		f := cka.Features{N: s.n, D: s.d, Data: make([]float64, s.n*s.d)}
		for i := range v {
			v[i] = float32(r.NormFloat64())
			f.Data[i] = float64(v[i])
		}
		x, err := torchx.FromSlice(v, []int64{int64(s.n), int64(s.d / 1024), 32, 32}, gotch.Float)
		if err != nil {
			b.Fatal(err)
		}
		l := models.Layer{Name: "layer1.0", Kind: models.KindConv}
		var bufs gramBuffers
		b.Run(fmt.Sprintf("libtorch/n=%d/d=%d", s.n, s.d), func(b *testing.B) {
			_, _, _ = torchGram(l, x, &bufs) // first touch of the buffers' pages, outside the timing
			for b.Loop() {
				if _, _, err := torchGram(l, x, &bufs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("gonum/n=%d/d=%d", s.n, s.d), func(b *testing.B) {
			_, _ = cka.Gram(nil, f)
			for b.Loop() {
				if _, err := cka.Gram(nil, f); err != nil {
					b.Fatal(err)
				}
			}
		})
		x.MustDrop()
	}
}

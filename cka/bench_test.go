package cka

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGram measures the linear kernel of one minibatch (n examples,
// d features): the cost that grows with a layer's size.
func BenchmarkGram(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct{ n, d int }{{64, 4096}, {64, 32768}, {256, 4096}, {256, 32768}} {
		x := gauss(r, s.n, s.d)
		b.Run(fmt.Sprintf("n=%d/d=%d", s.n, s.d), func(b *testing.B) {
			var dst []float64
			for b.Loop() {
				var err error
				if dst, err = Gram(dst, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBatchOf measures the HSIC of every pair of 30 representations
// (the three mini models' layers together) from their Gram matrices.
func BenchmarkBatchOf(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{64, 256} {
		grams := make([][]float64, 30)
		for i := range grams {
			g, err := Gram(nil, gauss(r, n, 16))
			if err != nil {
				b.Fatal(err)
			}
			grams[i] = g
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := BatchOf(grams, n, Unbiased); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package torchx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkAttention times the fused attention on vit-mini's shapes (65
// tokens, 4 heads of 16) for 50 sequences (a landscape batch) on one
// thread: the forward pass without autograd (what landscape points and the
// Fourier passes run), the forward and backward pass of a training step,
// and a Hessian-vector product through it (forward, backward, double
// backward), each as one operator call on the packed projection, with the
// GFLOP/s of the attention products (not the softmax) each reaches.
//
//	go test ./torchx -run '^$' -bench '^BenchmarkAttention$'
func BenchmarkAttention(b *testing.B) {
	torchx.KeepFreedMemory()
	if _, err := torchx.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	defer torchx.SetThreads(0)
	const g, n, h, d = 50, 65, 4, 16
	scale := 1 / math.Sqrt(d)
	qShape, oShape := []int64{g, n, 3 * h * d}, []int64{g, n, h * d}
	r := rand.New(rand.NewPCG(1, 2))
	qkvV, wV, vV := randVals(r, g*n*3*h*d, 1), randVals(r, g*n*h*d, 1), randVals(r, g*n*3*h*d, 1)
	// A head's product is N·N·d multiply-adds: the forward pass has two
	// (logits, output), the backward four more, the double backward eleven.
	product := float64(g*h) * 2 * n * n * d
	for _, c := range []struct {
		what     string
		products float64
	}{{"forward", 2}, {"fwd+bwd", 6}, {"hvp", 17}} {
		what := c.what
		b.Run(what, func(b *testing.B) {
			var s torchx.Scope
			defer s.Close()
			qkv := scoped(&s, gotch.Float, qkvV, qShape, what != "forward")
			w := scoped(&s, gotch.Float, wV, oShape, false)
			v := scoped(&s, gotch.Float, vV, qShape, false)
			step := func() error {
				var s torchx.Scope
				defer s.Close()
				if what == "forward" {
					return torchx.NoGrad(func() error {
						o, err := torchx.Attention(qkv, nil, h, scale)
						if err == nil {
							o.MustDrop()
						}
						return err
					})
				}
				o, err := torchx.Attention(qkv, nil, h, scale)
				if err != nil {
					return err
				}
				s.Add(o)
				loss := attnLoss(&s, o, w)
				if what == "fwd+bwd" {
					gr, err := torchx.Grad(loss, []*ts.Tensor{qkv})
					torchx.DropAll(gr)
					return err
				}
				hv, err := torchx.NewHVP(loss, []*ts.Tensor{qkv})
				if err != nil {
					return err
				}
				defer hv.Close()
				out, err := hv.Apply([]*ts.Tensor{v})
				torchx.DropAll(out)
				return err
			}
			if err := step(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(c.products*product*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

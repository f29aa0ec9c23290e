package models_test

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkForwardBackward measures one training-mode forward pass, the
// mean of the logits as a loss and the gradient of every trainable
// parameter, at batch 32, reporting images per second. Compare with
// reference/pytorch/bench_models.py (same libtorch, same threads).
//
//	go test ./models -run '^$' -bench ForwardBackward -benchtime 20x
func BenchmarkForwardBackward(b *testing.B) {
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini", "resnet18", "resnet50", "preact-resnet50", "alternet50", "vit-ti"} {
		b.Run(name, func(b *testing.B) {
			const batch = 32
			step := newFwdBwd(b, name, batch)
			step() // warm-up: allocator, oneDNN primitives
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// newFwdBwd builds a freshly seeded preset at its default configuration and
// returns one training-mode forward pass on batch random images with the
// gradient of its mean output (torchx.Grad), dropping what it makes. The
// model and images are released when the benchmark run ends.
func newFwdBwd(b *testing.B, name string, batch int64) func() {
	b.Helper()
	cfg := must(models.Defaults(name))
	torchx.Seed(1)
	m := must(models.New(name, cfg, gotch.CPU))
	b.Cleanup(m.Close)
	var params []*ts.Tensor
	for _, p := range m.Params() {
		if p.Trainable() {
			params = append(params, p.Tensor)
		}
	}
	x := must(ts.Randn([]int64{batch, int64(cfg.InChannels), int64(cfg.ImageSize), int64(cfg.ImageSize)}, gotch.Float, gotch.CPU))
	b.Cleanup(func() { x.MustDrop() })
	return func() {
		y := must(m.Forward(x, models.Train, nil))
		l := must(y.Mean(gotch.Float, true))
		torchx.DropAll(must(torchx.Grad(l, params)))
		l.MustDrop()
	}
}

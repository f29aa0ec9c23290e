package torchx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkBatchNormTrain times a training-mode batch norm, forward and
// backward, on channels-last maps of resnet-mini's first and last stages
// at the mini recipe's batch (128), on one thread: BatchNormTrain's kernel
// against libtorch's batch_norm.
//
//	go test ./torchx -run '^$' -bench BatchNormTrain
func BenchmarkBatchNormTrain(b *testing.B) {
	torchx.KeepFreedMemory() // as the commands do: freed maps' pages are reused
	if _, err := torchx.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	defer torchx.SetThreads(0)
	for _, shape := range [][]int64{{128, 16, 32, 32}, {128, 128, 4, 4}} {
		for _, impl := range []string{"torchx", "libtorch"} {
			b.Run(fmt.Sprintf("%v/%s", shape, impl), func(b *testing.B) {
				var s torchx.Scope
				defer s.Close()
				r := rand.New(rand.NewPCG(1, 2))
				n := shape[0] * shape[1] * shape[2] * shape[3]
				x := s.Add(must(torchx.FromSlice(randVals(r, n, 1), shape, gotch.Float)))
				x = s.Add(must(torchx.ChannelsLast(x)))
				x = s.Add(must(x.SetRequiresGrad(true, false)))
				w := s.Add(must(torchx.FromSlice(randVals(r, shape[1], 1), shape[1:2], gotch.Float)))
				w = s.Add(must(w.SetRequiresGrad(true, false)))
				bias := s.Add(must(w.ZerosLike(false)))
				bias = s.Add(must(bias.SetRequiresGrad(true, false)))
				rm, rv := s.Add(must(w.ZerosLike(false))), s.Add(must(w.OnesLike(false)))
				dy := s.Add(must(torchx.ChannelsLast(s.Add(must(torchx.FromSlice(randVals(r, n, 1), shape, gotch.Float))))))
				step := func() {
					var y *ts.Tensor
					if impl == "torchx" {
						y = must(torchx.BatchNormTrain(x, w, bias, rm, rv, 0.1, 1e-5))
					} else {
						y = must(ts.BatchNorm(x, w, bias, rm, rv, true, 0.1, 1e-5, false))
					}
					g := must(torchx.GradDot([]*ts.Tensor{y}, []*ts.Tensor{dy}, []*ts.Tensor{x, w, bias}, false, false))
					torchx.DropAll(g)
					y.MustDrop()
				}
				step()
				b.ResetTimer()
				c0 := cpuSeconds()
				for range b.N {
					step()
				}
				b.ReportMetric(1e3*(cpuSeconds()-c0)/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

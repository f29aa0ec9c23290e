package train

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkTrainStep times one full training step of each mini preset on
// MNIST at the mini recipe's batch (batch assembly, forward, loss,
// backward, clipping, AdamW) with one libtorch thread and with every core.
// VITPROBE_BENCH_MODELS (comma-separated) limits the presets;
// VITPROBE_BENCH_BATCH replaces the recipe's batch size.
//
//	go test ./train -run '^$' -bench TrainStep -benchtime 10x
func BenchmarkTrainStep(b *testing.B) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		b.Skip(err)
	}
	all, _ := torchx.DefaultThreads()
	names := []string{"resnet-mini", "vit-mini", "alternet-mini"}
	if v := os.Getenv("VITPROBE_BENCH_MODELS"); v != "" {
		names = strings.Split(v, ",")
	}
	for _, name := range names {
		for _, threads := range []int{1, all} {
			benchTrainStep(b, d, name, threads)
		}
	}
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
}

// benchTrainStep times one preset at one thread count as a sub-benchmark.
func benchTrainStep(b *testing.B, d *data.Dataset, name string, threads int) {
	b.Helper()
	b.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(b *testing.B) {
		if _, err := torchx.SetThreads(threads); err != nil {
			b.Fatal(err)
		}
		c, err := Recipe("mini", name, "mnist")
		if err != nil {
			b.Fatal(err)
		}
		if v := os.Getenv("VITPROBE_BENCH_BATCH"); v != "" {
			if c.BatchSize, err = strconv.Atoi(v); err != nil {
				b.Fatalf("VITPROBE_BENCH_BATCH: %v", err)
			}
		}
		torchx.Seed(1)
		m, err := models.New(c.Model, c.ModelConfig, gotch.CPU)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		_, trainable := trainableParams(m)
		opt, err := newOptimizer(trainable)
		if err != nil {
			b.Fatal(err)
		}
		defer opt.close()
		smp, err := data.Shuffled(d.Indices(), c.BatchSize, 1, true)
		if err != nil {
			b.Fatal(err)
		}
		ep := smp.Epoch(0)
		step := func(i int) {
			if _, _, err := trainStep(m, opt, d, ep.Batch(i%ep.Len()), ep.Rand(i), c, 1e-3, int64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
		step(0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			step(i + 1)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
		b.ReportMetric(float64(c.BatchSize*b.N)/b.Elapsed().Seconds(), "img/s")
	})
}

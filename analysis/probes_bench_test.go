package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// fpBenchModel builds a mini preset with fresh weights.
func fpBenchModel(b *testing.B, name string) models.Model {
	b.Helper()
	torchx.Seed(1)
	cfg, err := models.Defaults(name)
	if err != nil {
		b.Fatal(err)
	}
	m, err := models.New(name, cfg, gotch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

var fpBenchPresets = []string{"resnet-mini", "vit-mini", "alternet-mini"}

// The three benchmarks below run 100 images in one batch through a mini
// preset: BenchmarkForward is the bare eval forward pass, the floor of the
// other two; BenchmarkMeasureFeatures adds copying every layer out and the
// Fourier and variance sums; BenchmarkNoiseBand is one band of the noise
// analysis (a clean and a noisy pass, plus the noise). Compare ns/op.

func BenchmarkForward(b *testing.B) {
	d := fpRandomImages(100, 1)
	for _, name := range fpBenchPresets {
		b.Run(name, func(b *testing.B) {
			m := fpBenchModel(b, name)
			defer m.Close()
			bt, err := torchdata.NewBatch(d, d.Indices(), data.Augment{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			err = torchx.NoGrad(func() error {
				for b.Loop() {
					out, err := m.Forward(bt.Images, models.Eval, nil)
					if err != nil {
						return err
					}
					_ = out.Drop()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkMeasureFeatures(b *testing.B) {
	d := fpRandomImages(100, 1)
	for _, name := range fpBenchPresets {
		b.Run(name, func(b *testing.B) {
			m := fpBenchModel(b, name)
			defer m.Close()
			for b.Loop() {
				if _, err := MeasureFeatures(context.Background(), m, d, d.Indices(), FeatureOptions{Batch: 100}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNoiseBand(b *testing.B) {
	d := fpRandomImages(100, 1)
	for _, name := range fpBenchPresets {
		b.Run(name, func(b *testing.B) {
			m := fpBenchModel(b, name)
			defer m.Close()
			opt := NoiseOptions{Level: 1, Bands: []float64{0.5}, Batch: 100}
			for b.Loop() {
				if _, err := NoiseRobustness(context.Background(), m, d, d.Indices(), opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForwardProfile is BenchmarkForward under torchx.ProfileOps on
// one thread (a landscape worker's setting): where an evaluation pass
// spends its time, per operator, printed once all presets have run.
//
//	go test ./analysis -run '^$' -bench ForwardProfile -benchtime 20x
func BenchmarkForwardProfile(b *testing.B) {
	d := fpRandomImages(50, 1)
	var tables []string
	defer func() {
		for _, t := range tables {
			fmt.Print(t)
		}
	}()
	for _, name := range fpBenchPresets {
		b.Run(name, func(b *testing.B) {
			lockThread(b)
			defer torchx.SetThreads(torchx.Threads())
			if _, err := torchx.SetThreads(1); err != nil {
				b.Fatal(err)
			}
			m := fpBenchModel(b, name)
			defer m.Close()
			bt, err := torchdata.NewBatch(d, d.Indices(), data.Augment{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bt.Close()
			pass := func() error {
				out, err := m.Forward(bt.Images, models.Eval, nil)
				if err != nil {
					return err
				}
				return out.Drop()
			}
			var p *torchx.Profile
			err = torchx.NoGrad(func() error {
				if err := pass(); err != nil {
					return err
				}
				b.ResetTimer()
				var err error
				p, err = torchx.ProfileOps(func() error {
					for i := 0; i < b.N; i++ {
						if err := pass(); err != nil {
							return err
						}
					}
					return nil
				})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			var t strings.Builder
			fmt.Fprintf(&t, "\n%s: evaluation pass, batch 50, 1 thread, %d passes\n", name, b.N)
			if err := p.WriteTable(&t, 12, b.N); err != nil {
				b.Fatal(err)
			}
			tables = append(tables, t.String())
		})
	}
}

package analysis

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// lsBenchModel loads $VITPROBE_DEMO/NAME/final.json (default /tmp/demo,
// where `bin/train --model NAME --out /tmp/demo/NAME` puts it), or builds
// the preset with fresh weights: the cost of a point does not depend on
// the weights' values.
func lsBenchModel(b *testing.B, name string) models.Model {
	b.Helper()
	demo := os.Getenv("VITPROBE_DEMO")
	if demo == "" {
		demo = "/tmp/demo"
	}
	if m, _, err := models.Load(filepath.Join(demo, name, "final.json"), gotch.CPU); err == nil {
		b.Cleanup(m.Close)
		return m
	}
	torchx.Seed(1)
	m, err := models.New(name, models.Config{Classes: 10, InChannels: 1, ImageSize: 32}, gotch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	return m
}

// lsCPUSeconds is the CPU time of this process so far (user + system, all
// threads): a measure of work that other processes' load hardly changes.
func lsCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// BenchmarkLandscapePoint measures one grid point (1,000 MNIST images in
// batches of 50, the command's defaults) of each mini model, with the two
// threads of this machine used as two workers of one libtorch thread each
// (the command's choice), as one worker of two intra-op threads, and as
// one worker of one thread, in points per second (wall clock) and CPU
// seconds per point (all threads), and the achieved GFLOP/s (a point is a
// forward pass over the 1,000 images, models.CountFLOPs in evaluation
// mode). "set" is the cost of moving the weights
// alone (w0 + x·d1 + y·d2 in Go, then torchx.CopyIn into every moving
// tensor).
//
//	go test ./analysis -run '^$' -bench LandscapePoint -benchtime 20x
func BenchmarkLandscapePoint(b *testing.B) {
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		for _, c := range []struct {
			label            string
			workers, threads int
		}{{"2x1", 2, 1}, {"1x2", 1, 2}, {"1x1", 1, 1}} {
			b.Run(fmt.Sprintf("%s/workers=%s", name, c.label), func(b *testing.B) {
				m := lsBenchModel(b, name)
				ev, _ := lsSetup(b, m, 1000, &LandscapeOptions{Batch: 50, Workers: c.workers, ThreadsPerWorker: c.threads})
				ctx := context.Background()
				if _, err := ev.Evaluate(ctx, 0.1, 0.1); err != nil { // warm-up
					b.Fatal(err)
				}
				cpu0 := lsCPUSeconds()
				b.ResetTimer()
				for i := range b.N {
					x := float64(i%21)/10 - 1
					if _, err := ev.Evaluate(ctx, x, -x); err != nil {
						b.Fatal(err)
					}
				}
				pps := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(pps, "points/s")
				b.ReportMetric((lsCPUSeconds()-cpu0)/float64(b.N), "cpu-s/point")
				if fl, err := models.CountFLOPs(m, 1000, models.Eval); err == nil {
					b.ReportMetric(fl.Forward.Total()*pps/1e9, "GFLOP/s")
				}
			})
		}
		b.Run(name+"/set", func(b *testing.B) {
			m := lsBenchModel(b, name)
			ev, _ := lsSetup(b, m, 50, &LandscapeOptions{Batch: 50})
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				x := float64(i%21)/10 - 1
				ev.buf = ev.surface.At(ev.buf, x, -x)
				weights := make([][]float64, len(ev.buf))
				for _, k := range ev.moving {
					weights[k] = ev.buf[k]
				}
				ev.moved = true
				if _, _, err := ev.dispatch(ctx, weights, nil, false, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLandscapeBatch measures landscape points per second of each mini
// model on the same 1,000 images at batches of 50 (the command's default),
// 100, 250 and 500, with the default's two workers of one thread (every
// batch count even, so both workers get the same share). It bounds what
// stacking several grid points into one pass could gain: P stacked points
// of 50 images carry the activations of a batch of 50·P with products no
// larger than one point's, so a larger batch of one point is that pass
// with larger products still (docs/benchmarks.md).
//
//	go test ./analysis -run '^$' -bench LandscapeBatch -benchtime 12x
func BenchmarkLandscapeBatch(b *testing.B) {
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		for _, bs := range []int{50, 100, 250, 500} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, bs), func(b *testing.B) {
				m := lsBenchModel(b, name)
				ev, _ := lsSetup(b, m, 1000, &LandscapeOptions{Batch: bs, Workers: 2, ThreadsPerWorker: 1})
				ctx := context.Background()
				if _, err := ev.Evaluate(ctx, 0.1, 0.1); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := range b.N {
					x := float64(i%21)/10 - 1
					if _, err := ev.Evaluate(ctx, x, -x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

package analysis

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkTorchScriptVsPreset measures what the analyses cost on a mini
// preset and on its PyTorch twin exported as TorchScript with the same
// weights (docs/benchmarks.md):
//
//	VITPROBE_THREADS=1 go test ./analysis -run '^$' -bench TorchScriptVsPreset -benchtime 20x -count 5
//
// per model, for impl=preset and impl=torchscript, one after the other:
//   - hvp: a Hessian-vector product at batch 16 on a kept graph (hvp/s);
//   - point: a landscape grid point on 256 MNIST test images in batches
//     of 128, one worker (points/s);
//   - fourier: the Fourier and variance pass (MeasureFeatures) over 256
//     images in batches of 64 (images/s).
//
// Each also reports CPU seconds per operation (all threads of the
// process), which other processes' load changes less than wall time.
func BenchmarkTorchScriptVsPreset(b *testing.B) {
	for _, name := range benchNames() {
		for _, what := range []string{"hvp", "point", "fourier"} {
			for _, impl := range []string{"preset", "torchscript"} {
				b.Run(name+"/"+what+"/"+impl, func(b *testing.B) {
					m := tsBenchModel(b, name, impl)
					switch what {
					case "hvp":
						benchHVPOn(b, m)
					case "point":
						benchPointOn(b, m)
					case "fourier":
						benchFourierOn(b, m)
					}
				})
			}
		}
	}
}

var tsBench struct {
	sync.Mutex
	models map[string][2]models.Model
}

// tsBenchModel returns the preset name (seed 1) or its TorchScript twin,
// exporting once per process.
func tsBenchModel(b *testing.B, name, impl string) models.Model {
	b.Helper()
	lockThread(b)
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
	tsBench.Lock()
	defer tsBench.Unlock()
	if tsBench.models == nil {
		tsBench.models = map[string][2]models.Model{}
	}
	pair, ok := tsBench.models[name]
	if !ok {
		// Kept for the whole process: -count repeats reuse them.
		preset, script := exportTwinKept(b, name, 1)
		pair = [2]models.Model{preset, script}
		tsBench.models[name] = pair
	}
	if impl == "preset" {
		return pair[0]
	}
	return pair[1]
}

func benchHVPOn(b *testing.B, m models.Model) {
	batch := batchOf(b, 0, 16, data.Augment{})
	h, err := NewBatchHessian(m, batch, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	v := randVec(h.Dim(), 1)
	dst := make([]float64, h.Dim())
	if err := h.MulVec(dst, v); err != nil { // warm-up
		b.Fatal(err)
	}
	var ts []time.Duration
	cpu := lsCPUSeconds()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := h.MulVec(dst, v); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, ts)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hvp/s")
	b.ReportMetric((lsCPUSeconds()-cpu)/float64(b.N), "cpu-s/op")
}

func benchPointOn(b *testing.B, m models.Model) {
	d := mnist(b)
	idx := d.Indices()[:256]
	params, err := LandscapeParams(m)
	if err != nil {
		b.Fatal(err)
	}
	if err := LandscapeZeroRule(m, false, false).Apply(params); err != nil {
		b.Fatal(err)
	}
	d1 := must(landscape.Random(params, 5, 0, landscape.NormFilter))
	d2 := must(landscape.Random(params, 5, 1, landscape.NormFilter))
	ev, err := NewLandscapeEvaluator(m, d, idx, params, []landscape.Direction{d1, d2}, &LandscapeOptions{Batch: 128, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := ev.Close(); err != nil {
			b.Fatal(err)
		}
	}()
	if _, err := ev.Evaluate(context.Background(), 0.1, 0.1); err != nil { // warm-up
		b.Fatal(err)
	}
	cpu := lsCPUSeconds()
	var ts []time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := ev.Evaluate(context.Background(), 0.01*float64(i%7), -0.01*float64(i%5)); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, ts)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric((lsCPUSeconds()-cpu)/float64(b.N), "cpu-s/op")
}

func benchFourierOn(b *testing.B, m models.Model) {
	d := mnist(b)
	idx := d.Indices()[:256]
	opt := FeatureOptions{Batch: 64}
	if _, err := MeasureFeatures(context.Background(), m, d, idx[:64], opt); err != nil { // warm-up
		b.Fatal(err)
	}
	cpu := lsCPUSeconds()
	var ts []time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := MeasureFeatures(context.Background(), m, d, idx, opt); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, ts)
	b.ReportMetric(float64(b.N*len(idx))/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric((lsCPUSeconds()-cpu)/float64(b.N), "cpu-s/op")
}

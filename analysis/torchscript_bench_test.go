package analysis

import (
	"context"
	"slices"
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
//	VITPROBE_THREADS=1 go test ./analysis -run '^$' -bench TorchScriptVsPreset -benchtime 20x
//
// per model, one operation of each kind:
//   - hvp: a Hessian-vector product at batch 16 on a kept graph;
//   - point: a landscape grid point on 256 MNIST test images in batches
//     of 128, one worker;
//   - fourier: the Fourier and variance pass (MeasureFeatures) over 256
//     images in batches of 64.
//
// Every iteration runs the operation once on each model, alternating
// which goes first, so that both see the same load on a shared machine;
// malloc keeps freed memory as in the commands (torchx.KeepFreedMemory).
// Reported: the median milliseconds of each (preset-ms, torchscript-ms),
// the rates (hvp/s, points/s or images/s of each), and speed, the median
// over iterations of the preset's time over the TorchScript model's (1:
// as fast; above 1: the TorchScript model is faster).
func BenchmarkTorchScriptVsPreset(b *testing.B) {
	for _, name := range benchNames() {
		for _, what := range []string{"hvp", "point", "fourier"} {
			b.Run(name+"/"+what, func(b *testing.B) {
				preset, script := tsBenchModels(b, name)
				var ops [2]func() error
				var unit string
				var per float64 // operations per call, for the rate
				for k, m := range []models.Model{preset, script} {
					switch what {
					case "hvp":
						ops[k], unit, per = benchHVPOp(b, m), "hvp/s", 1
					case "point":
						ops[k], unit, per = benchPointOp(b, m), "points/s", 1
					case "fourier":
						ops[k], unit, per = benchFourierOp(b, m), "images/s", 256
					}
				}
				for _, op := range ops { // warm-up
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
				var times [2][]time.Duration
				var ratios []float64
				b.ResetTimer()
				for i := range b.N {
					var t [2]time.Duration
					for j := range 2 {
						k := (i + j) % 2
						t0 := time.Now()
						if err := ops[k](); err != nil {
							b.Fatal(err)
						}
						t[k] = time.Since(t0)
						times[k] = append(times[k], t[k])
					}
					ratios = append(ratios, t[0].Seconds()/t[1].Seconds())
				}
				b.StopTimer()
				med := func(ts []time.Duration) time.Duration {
					ts = slices.Clone(ts)
					slices.Sort(ts)
					return ts[len(ts)/2]
				}
				slices.Sort(ratios)
				for k, impl := range []string{"preset", "torchscript"} {
					m := med(times[k])
					b.ReportMetric(float64(m.Microseconds())/1e3, impl+"-ms")
					b.ReportMetric(per/m.Seconds(), impl+"-"+unit)
				}
				b.ReportMetric(ratios[len(ratios)/2], "speed")
			})
		}
	}
}

var tsBench struct {
	sync.Mutex
	models map[string][2]models.Model
}

// tsBenchModels returns the preset name (seed 1) and its TorchScript twin,
// exporting once per process.
func tsBenchModels(b *testing.B, name string) (models.Model, models.Model) {
	b.Helper()
	lockThread(b)
	torchx.KeepFreedMemory() // as the commands do: freed tensors' pages are reused
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
	return pair[0], pair[1]
}

// benchHVPOp returns one Hessian-vector product at batch 16 on m (the
// graph is built once and kept until the benchmark ends).
func benchHVPOp(b *testing.B, m models.Model) func() error {
	batch := batchOf(b, 0, 16, data.Augment{})
	h, err := NewBatchHessian(m, batch, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	v := randVec(h.Dim(), 1)
	dst := make([]float64, h.Dim())
	return func() error { return h.MulVec(dst, v) }
}

// benchPointOp returns the evaluation of one landscape point on 256 images
// (points vary, as on a grid).
func benchPointOp(b *testing.B, m models.Model) func() error {
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
	b.Cleanup(func() {
		if err := ev.Close(); err != nil {
			b.Error(err)
		}
	})
	i := 0
	return func() error {
		i++
		_, err := ev.Evaluate(context.Background(), 0.01*float64(i%7), -0.01*float64(i%5))
		return err
	}
}

// benchFourierOp returns the Fourier and variance pass over 256 images.
func benchFourierOp(b *testing.B, m models.Model) func() error {
	d := mnist(b)
	idx := d.Indices()[:256]
	return func() error {
		_, err := MeasureFeatures(context.Background(), m, d, idx, FeatureOptions{Batch: 64})
		return err
	}
}

package train

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// BenchmarkTrainStep times one full training step of each mini preset on
// MNIST at the mini recipe's batch (batch assembly, forward, loss,
// backward, clipping, AdamW) with one libtorch thread and with every core,
// and, for the presets whose steps split (models.SplitsTraining), split
// over one one-thread worker per core (Options.Workers).
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
			benchTrainStep(b, d, name, threads, 1)
		}
		if cfg, err := models.Defaults(name); err == nil && all > 1 {
			m, err := models.New(name, cfg, gotch.CPU)
			if err != nil {
				b.Fatal(err)
			}
			split := models.SplitsTraining(m)
			m.Close()
			if split { // the calling thread keeps all threads, as train --workers does
				benchTrainStep(b, d, name, all, all)
			}
		}
	}
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
}

// benchTrainStep times one preset at one thread count, or split over
// workers of one thread each (workers > 1; the calling thread, which clips
// and updates, keeps threads), as a sub-benchmark.
func benchTrainStep(b *testing.B, d *data.Dataset, name string, threads, workers int) {
	b.Helper()
	sub := fmt.Sprintf("%s/threads=%d", name, threads)
	if workers > 1 {
		sub = fmt.Sprintf("%s/workers=%dx1", name, workers)
	}
	b.Run(sub, func(b *testing.B) {
		// On one OS thread, as the commands run (internal/torchcli): OpenMP
		// keeps a team of workers per calling thread, and the unlocked
		// goroutine moved between threads and started several (oneDNN's
		// kernels ran on six threads in one perf record of 2-thread steps).
		// Unlocked, vit-mini's 2-thread step escaped OpenMP's default spin
		// (36 ms against 87-95 ms locked), so it measured something the
		// commands did not run; with OMP_WAIT_POLICY=PASSIVE, as the
		// commands and make bench set it, locked takes 35-36 ms.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if _, err := torchx.SetThreads(threads); err != nil {
			b.Fatal(err)
		}
		m, c, stepErr := newStepBench(b, d, name, workers)
		step := func(i int) {
			if err := stepErr(i); err != nil {
				b.Fatal(err)
			}
		}
		step(0)
		fl, err := models.CountFLOPs(m, c.BatchSize, models.Train)
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuSeconds()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			step(i + 1)
		}
		b.StopTimer()
		cpu := cpuSeconds() - c0
		reportStep(b, c.BatchSize, fl.Forward.Total()+fl.Backward.Total(), cpu)
	})
}

// cpuSeconds is the CPU time of the process (user + system, all threads):
// on a machine shared with other jobs it measures the work, which other
// processes hardly change, where wall time also measures the queue.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// reportStep reports a step benchmark's rates: milliseconds (wall and CPU)
// per step, images per second, the step's FLOPs per image
// (models.CountFLOPs: forward and backward) and the achieved GFLOP per
// second of wall time and of CPU time.
func reportStep(b *testing.B, batch int, flops, cpu float64) {
	wall := b.Elapsed().Seconds()
	n := float64(b.N)
	b.ReportMetric(1e3*wall/n, "ms/step")
	b.ReportMetric(1e3*cpu/n, "cpu-ms/step")
	b.ReportMetric(float64(batch)*n/wall, "img/s")
	b.ReportMetric(flops/float64(batch)/1e6, "MFLOP/img")
	b.ReportMetric(flops*n/wall/1e9, "GFLOP/s")
	b.ReportMetric(flops*n/cpu/1e9, "GFLOP/cpu-s")
}

// BenchmarkTrainStepProfile profiles b.N training steps of each mini preset
// (as BenchmarkTrainStep, every core) with libtorch's operator profiler and
// prints where a step's time goes: the operators by self time and the time
// outside operators (torchx.ProfileOps), each table after a "profile:"
// header, for scripts/bench.sh's summary. The profiler's own cost
// (about a microsecond per operator call) makes these steps slightly
// slower than BenchmarkTrainStep's.
//
//	go test ./train -run '^$' -bench TrainStepProfile -benchtime 10x
func BenchmarkTrainStepProfile(b *testing.B) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		b.Skip(err)
	}
	names := []string{"resnet-mini", "vit-mini", "alternet-mini"}
	if v := os.Getenv("VITPROBE_BENCH_MODELS"); v != "" {
		names = strings.Split(v, ",")
	}
	// The last run of each sub-benchmark (the benchmark runs it with N=1
	// first) is printed once all have run.
	tables := make([]string, len(names))
	defer func() {
		for _, t := range tables {
			fmt.Print(t)
		}
	}()
	for k, name := range names {
		b.Run(name, func(b *testing.B) {
			threads, err := torchx.SetThreads(0)
			if err != nil {
				b.Fatal(err)
			}
			_, c, step := newStepBench(b, d, name, 1)
			if err := step(0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			p, err := torchx.ProfileOps(func() error {
				for i := 0; i < b.N; i++ {
					if err := step(i + 1); err != nil {
						return err
					}
				}
				return nil
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			var t strings.Builder
			fmt.Fprintf(&t, "profile: training step, %s, batch %d, %d threads, per step (mean of %d)\n\n", name, c.BatchSize, threads, b.N)
			if err := p.WriteTable(&t, 12, b.N); err != nil {
				b.Fatal(err)
			}
			tables[k] = t.String() + "\n"
		})
	}
}

// newStepBench builds a preset as BenchmarkTrainStep times it: the mini
// recipe on MNIST (VITPROBE_BENCH_BATCH replaces its batch size), a model
// seeded with 1 and its optimiser, released when the benchmark run ends,
// and a function running training step i on the i-th batch of one
// shuffled epoch (split over workers when workers > 1).
func newStepBench(b *testing.B, d *data.Dataset, name string, workers int) (models.Model, Config, func(i int) error) {
	b.Helper()
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
	b.Cleanup(m.Close)
	_, trainable := trainableParams(m)
	opt, err := newOptimizer(trainable)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(opt.close)
	var sp *splitStep
	if workers > 1 {
		if sp, err = newSplitStep(m, opt, workers); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(sp.close)
	}
	smp, err := data.Shuffled(d.Indices(), c.BatchSize, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	ep := smp.Epoch(0)
	return m, c, func(i int) error {
		_, _, err := trainStep(m, opt, sp, d, ep.Batch(i%ep.Len()), ep.Rand(i), c, 1e-3, int64(i+1))
		return err
	}
}

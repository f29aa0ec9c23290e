package torchx_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// cpuSeconds is the CPU time of the process (user + system, all threads).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// BenchmarkPeak measures this machine's rates for the two kernels the
// models' FLOPs run in, the references of every "fraction of peak" in
// docs/benchmarks.md: OpenBLAS's sgemm on 1024x1024 matrices (through
// libtorch's matmul) and oneDNN's 3x3 convolution 64->64 channels on
// 32x32 maps at batch 32 (through libtorch's conv2d, channels-last as the
// models run it), on one thread and on every core. It reports the best
// call's GFLOP/s (the peak: the machine is shared, and a peak is what the
// kernel reaches when it runs undisturbed), the median call's, and GFLOP
// per CPU second over all calls.
//
//	go test ./torchx -run '^$' -bench Peak -benchtime 20x
func BenchmarkPeak(b *testing.B) {
	all, err := torchx.DefaultThreads()
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := torchx.SetThreads(0); err != nil {
			b.Fatal(err)
		}
	}()
	for _, threads := range []int{1, all} {
		b.Run(fmt.Sprintf("sgemm1024/threads=%d", threads), func(b *testing.B) {
			if _, err := torchx.SetThreads(threads); err != nil {
				b.Fatal(err)
			}
			x := must(ts.Randn([]int64{1024, 1024}, gotch.Float, gotch.CPU))
			y := must(ts.Randn([]int64{1024, 1024}, gotch.Float, gotch.CPU))
			defer torchx.DropAll([]*ts.Tensor{x, y})
			peakRun(b, 2*1024*1024*1024, func() { must(x.Matmul(y, false)).MustDrop() })
		})
		b.Run(fmt.Sprintf("conv3x3-64/threads=%d", threads), func(b *testing.B) {
			if _, err := torchx.SetThreads(threads); err != nil {
				b.Fatal(err)
			}
			x0 := must(ts.Randn([]int64{32, 64, 32, 32}, gotch.Float, gotch.CPU))
			x := must(torchx.ChannelsLast(x0))
			w := must(ts.Randn([]int64{64, 64, 3, 3}, gotch.Float, gotch.CPU))
			defer torchx.DropAll([]*ts.Tensor{x0, x, w})
			flops := 2.0 * 32 * 32 * 32 * 64 * 64 * 9
			peakRun(b, flops, func() {
				must(ts.Conv2d(x, w, ts.None, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, 1)).MustDrop()
			})
		})
	}
}

// peakRun times f b.N times after two warm-up calls and reports the best
// and median GFLOP/s of a call of the given FLOPs and GFLOP per CPU second.
func peakRun(b *testing.B, flops float64, f func()) {
	b.Helper()
	f()
	f()
	best, ts := 0.0, make([]float64, 0, b.N)
	c0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		f()
		d := time.Since(t0).Seconds()
		ts = append(ts, d)
		if r := flops / d / 1e9; r > best {
			best = r
		}
	}
	b.StopTimer()
	cpu := cpuSeconds() - c0
	med := median(ts)
	b.ReportMetric(best, "peak-GFLOP/s")
	b.ReportMetric(flops/med/1e9, "median-GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

package models_test

import (
	"syscall"
	"testing"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// cpuSeconds is the CPU time of the process (user + system, all threads):
// on a machine shared with other jobs it measures the work, which the
// neighbours hardly change, where wall time measures the queue.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// BenchmarkAttentionImpl times a training-mode forward and backward pass of
// vit-mini and alternet-mini at batch 16 on one thread with the fused
// attention and with the composite it replaced, alternating, in wall and
// CPU milliseconds per pass.
//
//	go test ./models -run '^$' -bench AttentionImpl -benchtime 20x -count 3
func BenchmarkAttentionImpl(b *testing.B) {
	defer func(was bool) { *models.FusedAttention = was }(*models.FusedAttention)
	if _, err := torchx.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"vit-mini", "alternet-mini"} {
		for _, impl := range []string{"fused", "composite"} {
			b.Run(name+"/"+impl, func(b *testing.B) {
				*models.FusedAttention = impl == "fused"
				benchFwdBwd(b, name, 16)
			})
		}
	}
}

// BenchmarkConvVariants times a training-mode forward and backward pass of
// resnet-mini (batch 128) and alternet-mini (batch 64) on one thread with
// the channels-last layout on and off and torchx.Conv2d (with the affine
// batch norm of differentiated evaluation passes) on and off, in wall and
// CPU milliseconds per pass.
//
//	go test ./models -run '^$' -bench ConvVariants -benchtime 5x -count 3
func BenchmarkConvVariants(b *testing.B) {
	defer func(cl, fd bool) { *models.ChannelsLast, *models.FastDerivatives = cl, fd }(*models.ChannelsLast, *models.FastDerivatives)
	if _, err := torchx.SetThreads(1); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		batch int64
	}{{"resnet-mini", 128}, {"alternet-mini", 64}} {
		for _, v := range []struct {
			label  string
			cl, fd bool
		}{{"cl+fast", true, true}, {"cl", true, false}, {"fast", false, true}, {"plain", false, false}} {
			b.Run(c.name+"/"+v.label, func(b *testing.B) {
				*models.ChannelsLast, *models.FastDerivatives = v.cl, v.fd
				benchFwdBwd(b, c.name, c.batch)
			})
		}
	}
}

// benchFwdBwd times newFwdBwd's pass of a preset at batch, reporting CPU
// milliseconds per pass beside the wall time.
func benchFwdBwd(b *testing.B, name string, batch int64) {
	b.Helper()
	step := newFwdBwd(b, name, batch)
	step()
	c0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(1e3*(cpuSeconds()-c0)/float64(b.N), "cpu-ms/op")
}

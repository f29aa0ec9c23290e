package torchx_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

func TestThreads(t *testing.T) {
	t.Setenv(torchx.ThreadsEnv, "")
	n, err := torchx.SetThreads(0)
	if err != nil || n < 1 {
		t.Fatalf("SetThreads(0) = %d, %v", n, err)
	}
	if got, _ := torchx.DefaultThreads(); n != got {
		t.Errorf("default %d threads, libtorch reports %d", got, n)
	}
	t.Setenv(torchx.ThreadsEnv, "1")
	if n, err := torchx.SetThreads(0); err != nil || n != 1 {
		t.Errorf("with %s=1: %d threads, %v", torchx.ThreadsEnv, n, err)
	}
	t.Setenv(torchx.ThreadsEnv, "many")
	if _, err := torchx.SetThreads(0); err == nil {
		t.Error("a non-numeric thread count: want an error")
	}
	if n, err := torchx.SetThreads(2); err != nil || n != 2 {
		t.Errorf("SetThreads(2) = %d, %v", n, err)
	}
	// OpenBLAS (Debian's libopenblas0-pthread, which set-up installs)
	// follows: its pool runs the matrix products.
	for _, want := range []int{1, 2} {
		if _, err := torchx.SetThreads(want); err != nil {
			t.Fatal(err)
		}
		if got := torchx.BLASThreads(); got != want {
			t.Errorf("SetThreads(%d): OpenBLAS has %d threads", want, got)
		}
	}
}

// TestSeedReproducible: one call seeds libtorch's generator and the Go
// source, so draws repeat bit for bit.
func TestSeedReproducible(t *testing.T) {
	draw := func() ([]float32, uint64) {
		r := torchx.Seed(42)
		x := must(ts.Randn([]int64{64}, gotch.Float, gotch.CPU))
		defer x.MustDrop()
		return must(torchx.Values[float32](x)), r.Uint64()
	}
	a, ga := draw()
	b, gb := draw()
	if ga != gb {
		t.Errorf("Go source: %d then %d", ga, gb)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("libtorch draw %d: %v then %v", i, a[i], b[i])
		}
	}
	torchx.Seed(43)
	c := must(ts.Randn([]int64{64}, gotch.Float, gotch.CPU))
	defer c.MustDrop()
	if must(torchx.Values[float32](c))[0] == a[0] {
		t.Error("another seed gave the same draw")
	}
}

func TestScopeAndNoGrad(t *testing.T) {
	var s torchx.Scope
	x := s.Add(must(ts.Ones([]int64{3}, gotch.Float, gotch.CPU)))
	y := s.Add(must(ts.Ones([]int64{3}, gotch.Float, gotch.CPU)))
	if s.Len() != 2 || s.Release(y) != y || s.Len() != 1 {
		t.Fatalf("scope holds %d", s.Len())
	}
	s.Close()
	_ = x
	defer y.MustDrop()
	if s.Len() != 0 {
		t.Fatal("scope not empty after Close")
	}
	torchx.SetGradEnabled(true)
	err := torchx.NoGrad(func() error {
		if torchx.GradEnabled() {
			t.Error("grad mode on inside NoGrad")
		}
		return nil
	})
	if err != nil || !torchx.GradEnabled() {
		t.Errorf("grad mode not restored: %v", err)
	}
}

func TestCopyRoundTrip(t *testing.T) {
	v := []float64{1.5, -2, 3.25, 1e-8, 7, 0}
	x := must(torchx.FromSlice(v, []int64{2, 3}, gotch.Float))
	defer x.MustDrop()
	got := must(torchx.Values[float64](x))
	for i := range v {
		if float64(float32(v[i])) != got[i] {
			t.Fatalf("element %d: %v, want %v", i, got[i], float32(v[i]))
		}
	}
	if err := torchx.CopyIn(x, []float32{6, 5, 4, 3, 2, 1}); err != nil {
		t.Fatal(err)
	}
	if g := must(torchx.Values[float32](x)); g[0] != 6 || g[5] != 1 {
		t.Fatalf("after CopyIn: %v", g)
	}
	if err := torchx.CopyIn(x, []float32{1}); err == nil {
		t.Error("CopyIn with the wrong length: want an error")
	}
	if _, err := torchx.FromSlice([]float32{1, 2}, []int64{3}, gotch.Float); err == nil {
		t.Error("FromSlice with the wrong length: want an error")
	}
}

func TestScopeDropSince(t *testing.T) {
	var s torchx.Scope
	mk := func() *ts.Tensor { return s.Add(must(ts.Ones([]int64{2}, gotch.Float, gotch.CPU))) }
	a := mk()
	mark := s.Mark()
	mk()
	keep := mk()
	mk()
	s.DropSince(mark, keep)
	if s.Len() != 2 {
		t.Fatalf("scope holds %d after DropSince, want 2 (a and keep)", s.Len())
	}
	if !s.DropOwned(a) || s.Len() != 1 {
		t.Fatalf("DropOwned(a): scope holds %d", s.Len())
	}
	outside := must(ts.Ones([]int64{2}, gotch.Float, gotch.CPU))
	defer outside.MustDrop()
	if s.DropOwned(outside) {
		t.Error("DropOwned dropped a tensor the scope does not own")
	}
	s.Close()
}

// TestOnLockedThreadSetsOpenMP starts many OnLockedThread calls at once
// (so that most run on OS threads made for them) and checks that OpenMP's
// count, as oneDNN reads it, is libtorch's on each before fn does any torch
// work. The control, goroutines that only lock a thread, shows what fn
// would otherwise see on a fresh thread: OpenMP's process default.
func TestOnLockedThreadSetsOpenMP(t *testing.T) {
	pin(t)
	if torchx.OMPThreads() < 0 {
		t.Skip("libtorch is not built with OpenMP")
	}
	defer torchx.SetThreads(torchx.Threads())
	if _, err := torchx.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	const n = 12
	run := func(locked bool) map[int]int {
		var mu sync.Mutex
		var wg sync.WaitGroup
		seen := map[int]int{}
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				record := func() error {
					k := torchx.OMPThreads()
					<-start // every goroutine holds its thread until all have one
					mu.Lock()
					seen[k]++
					mu.Unlock()
					return nil
				}
				if locked {
					if err := torchx.OnLockedThread(record); err != nil {
						t.Error(err)
					}
					return
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				_ = record()
			}()
		}
		time.Sleep(50 * time.Millisecond)
		close(start)
		wg.Wait()
		return seen
	}
	if got := run(true); got[1] != n {
		t.Errorf("OpenMP's counts on OnLockedThread's threads: %v, want 1 on all %d", got, n)
	}
	if runtime.NumCPU() > 1 {
		t.Logf("without it (plain locked goroutines): %v", run(false))
	}
}

// TestShimKernelsParallel: the shim's own kernels split their loops over
// libtorch's threads. ATen's parallel_for, which they call, is a header
// template that runs the whole range on the calling thread where the shim
// is compiled without OpenMP; until 4 Dec it was, and batch norm's and the
// attention's kernels ran on one core at every thread count.
func TestShimKernelsParallel(t *testing.T) {
	pin(t)
	defer torchx.SetThreads(torchx.Threads())
	for _, n := range []int{1, 2, 3} {
		if _, err := torchx.SetThreads(n); err != nil {
			t.Fatal(err)
		}
		if got := torchx.ParallelWidth(); got != n {
			t.Errorf("%d libtorch threads: the shim's parallel loop ran on %d", n, got)
		}
	}
}

// TestStaleThreadCountSynced makes the state the CI run of 3 Dec met: an
// OS thread that ran torch work at one count while another thread set a
// new one. OpenMP's count on the first thread stays the old one until
// Threads (which OnLockedThread calls before fn) imposes SetThreads' count.
func TestStaleThreadCountSynced(t *testing.T) {
	if torchx.OMPThreads() < 0 {
		t.Skip("libtorch is not built with OpenMP")
	}
	before := torchx.Threads()
	defer func() {
		_ = torchx.OnLockedThread(func() error { _, err := torchx.SetThreads(before); return err })
	}()
	setOn := func(n int) {
		if err := torchx.OnLockedThread(func() error { _, err := torchx.SetThreads(n); return err }); err != nil {
			t.Fatal(err)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := torchx.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	setOn(1) // on another OS thread: this one keeps 2 in OpenMP
	if got := torchx.OMPThreads(); got != 2 {
		t.Logf("OpenMP's count here before the sync: %d (expected the stale 2)", got)
	}
	if got := torchx.Threads(); got != 1 {
		t.Errorf("Threads() = %d after SetThreads(1) elsewhere, want 1", got)
	}
	if got := torchx.OMPThreads(); got != 1 {
		t.Errorf("OpenMP's count on this thread after Threads(): %d, want 1", got)
	}
	setOn(2)
	if err := torchx.OnLockedThread(func() error {
		if got := torchx.OMPThreads(); got != 2 {
			t.Errorf("OpenMP's count inside OnLockedThread after SetThreads(2): %d, want 2", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

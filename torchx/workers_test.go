package torchx_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestWorkers: every worker runs its own index on one libtorch thread, a
// panic becomes an error naming the lowest failing worker, two live sets
// keep the count at 1 until the last closes, and a closed set refuses work.
func TestWorkers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := torchx.SetThreads(2); err != nil {
		t.Fatal(err)
	}
	if _, err := torchx.StartWorkers(0); err == nil {
		t.Fatal("StartWorkers(0) gave no error")
	}
	a, err := torchx.StartWorkers(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, a.Len())
	if err := a.All(func(i int) error { seen[i] = torchx.Threads()*10 + i; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, s := range seen {
		if s != 10+i {
			t.Errorf("worker %d saw %d (threads*10 + index), want %d", i, s, 10+i)
		}
	}
	err = a.All(func(i int) error {
		if i >= 1 {
			panic("boom")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "worker 1: panic: boom") {
		t.Fatalf("error %v, want worker 1's panic", err)
	}
	b, err := torchx.StartWorkers(1)
	if err != nil {
		t.Fatal(err)
	}
	a.Close(nil)
	if n := torchx.Threads(); n != 1 {
		t.Errorf("thread count %d with one set still open, want 1", n)
	}
	released := 0
	b.Close(func(int) { released++ })
	b.Close(nil)
	if released != 1 {
		t.Errorf("release ran %d times, want 1", released)
	}
	if n := torchx.Threads(); n != 2 {
		t.Errorf("thread count %d after both closed, want 2", n)
	}
	if err := a.All(func(int) error { return nil }); err == nil || !a.Closed() {
		t.Error("a closed set ran work")
	}
}

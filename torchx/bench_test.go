package torchx_test

import (
	"bufio"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/torchx"
)

// Memory and cost of Hessian-vector products on the small real network of
// hvp_real_test.go (docs/benchmarks.md):
//
//	go test ./torchx -run TestHVPMemoryFlat -v
//	go test ./torchx -run '^$' -bench 'RealNet' -count 5

// rssKB returns the resident set size of this process (VmRSS).
func rssKB(t testing.TB) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// TestHVPMemoryFlat runs 10,000 Hessian-vector products, each the full
// cycle the Hessian adapter makes (float64 vector -> tensors, product on
// the kept graph, tensors -> float64, drop), and checks that resident
// memory after 10,000 is within 10% of what it was after 1,000: every
// tensor is freed deterministically, none waits for a finalizer. Skipped
// with -short (it takes a few seconds).
func TestHVPMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 products")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := newRealNet(t)
	l := n.loss()
	defer l.MustDrop()
	h := must(torchx.NewHVP(l, n.params))
	defer h.Close()
	dim := must(torchx.Numel(n.params))
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, dim)
	out := make([]float64, dim)
	var at1k int
	for i := 1; i <= 10000; i++ {
		for j := range v {
			v[j] = r.NormFloat64()
		}
		vt := must(torchx.Unflatten(v, n.params))
		hv := must(h.Apply(vt))
		if err := torchx.Flatten(out, hv); err != nil {
			t.Fatal(err)
		}
		torchx.DropAll(vt)
		torchx.DropAll(hv)
		switch i {
		case 1000:
			debug.FreeOSMemory() // Go's own garbage (the MNIST file read at setup) is not the question
			at1k = rssKB(t)
		case 10000:
			debug.FreeOSMemory()
			at10k := rssKB(t)
			growth := float64(at10k-at1k) / float64(at1k)
			t.Logf("VmRSS after 1,000 products %d kB, after 10,000 %d kB (%+.2f%%)", at1k, at10k, 100*growth)
			if growth > 0.10 {
				t.Errorf("resident memory grew by %.1f%% between 1,000 and 10,000 products, want < 10%%", 100*growth)
			}
		}
	}
}

// BenchmarkRealNet compares, on the small network, one Hessian-vector
// product on a kept graph ("hvp") with one forward and backward pass
// ("fwd+bwd") and with the forward and graph-keeping backward that precede
// the products of a batch ("setup").
func BenchmarkRealNet(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.Run("hvp", func(b *testing.B) {
		n := newRealNet(b)
		l := n.loss()
		defer l.MustDrop()
		h := must(torchx.NewHVP(l, n.params))
		defer h.Close()
		dim := must(torchx.Numel(n.params))
		v := make([]float64, dim)
		for i := range v {
			v[i] = 1
		}
		out := make([]float64, dim)
		b.ResetTimer()
		for range b.N {
			vt := must(torchx.Unflatten(v, n.params))
			hv := must(h.Apply(vt))
			if err := torchx.Flatten(out, hv); err != nil {
				b.Fatal(err)
			}
			torchx.DropAll(vt)
			torchx.DropAll(hv)
		}
	})
	b.Run("fwd+bwd", func(b *testing.B) {
		n := newRealNet(b)
		for range b.N {
			l := n.loss()
			g := must(torchx.Grad(l, n.params))
			torchx.DropAll(append(g, l))
		}
	})
	b.Run("setup", func(b *testing.B) {
		n := newRealNet(b)
		for range b.N {
			l := n.loss()
			h := must(torchx.NewHVP(l, n.params))
			h.Close()
			l.MustDrop()
		}
	})
}

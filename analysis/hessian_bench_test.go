package analysis

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// Benchmarks of the Hessian adapter on the mini presets (docs/benchmarks.md):
//
//	go test ./analysis -run '^$' -bench 'HVP' -benchtime 50x -count 5
//	go test ./analysis -run TestLanczosVsPowerTrained -v -hessian.ckpt /tmp/demo/resnet-mini/final.json
//
// Threads: $VITPROBE_THREADS (default: every core), as the commands do.

var (
	ckptFlag   = flag.String("hessian.ckpt", "", "checkpoint for TestLanczosVsPowerTrained (skipped when empty)")
	lvpBatches = flag.Int("hessian.batches", 2, "minibatches of TestLanczosVsPowerTrained")
	lvpTight   = flag.Bool("hessian.tight", false, "TestLanczosVsPowerTrained: also power iteration at tolerance 1e-5")
	benchModel = flag.String("hessian.models", "resnet-mini,vit-mini,alternet-mini", "mini presets the HVP benchmarks run on")
)

// benchSetup seeds libtorch, sets the threads and returns a freshly
// initialised preset with a batch of 16 MNIST test images.
func benchSetup(b *testing.B, name string) (models.Model, *torchdata.Batch) {
	b.Helper()
	lockThread(b)
	if _, err := torchx.SetThreads(0); err != nil {
		b.Fatal(err)
	}
	torchx.Seed(1)
	cfg, err := models.Defaults(name)
	if err != nil {
		b.Fatal(err)
	}
	m, err := models.New(name, cfg, gotch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	return m, batchOf(b, 0, 16, data.Augment{})
}

func benchNames() []string {
	var out []string
	for _, n := range strings.Split(*benchModel, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// BenchmarkHVP times, per mini preset at batch 16 (eval mode):
//   - hvp: one Hessian-vector product on a kept first-order graph (what
//     every product after the first costs), float64 vectors in and out;
//   - fwd+bwd: one forward and backward pass (torchx.Grad), the unit
//     PyHessian's cost is usually quoted in;
//   - setup: the forward and the graph-keeping backward (NewBatchHessian),
//     paid once per batch;
//   - hvp-split: one product as hvp, the batch split over one worker per
//     thread of the benchmark (HessianOptions.Workers: each part's graph
//     on an OS thread of its own with one libtorch thread);
//   - hvp-workers: products as the hessian command computes its minibatch
//     spectra by default, one worker per thread of the benchmark (each a
//     copy of the model with its own graph on an OS thread of its own,
//     one libtorch thread each), in products per second of all workers.
func BenchmarkHVP(b *testing.B) {
	for _, name := range benchNames() {
		for _, split := range []bool{false, true} {
			sub := "/hvp"
			if split {
				sub = "/hvp-split"
			}
			b.Run(name+sub, func(b *testing.B) {
				benchOneHVP(b, name, split)
			})
		}
		b.Run(name+"/fwd+bwd", func(b *testing.B) {
			m, batch := benchSetup(b, name)
			fb := fwdBwd(m, batch)
			step := func() {
				if err := fb(); err != nil {
					b.Fatal(err)
				}
			}
			step()
			var ts []time.Duration
			c0 := lsCPUSeconds()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				step()
				ts = append(ts, time.Since(t0))
			}
			b.StopTimer()
			reportMedian(b, ts)
			reportFLOPs(b, m, 16, "fwd+bwd", ts, lsCPUSeconds()-c0)
		})
		b.Run(name+"/hvp-workers", func(b *testing.B) { benchHVPWorkers(b, name) })
		b.Run(name+"/setup", func(b *testing.B) {
			m, batch := benchSetup(b, name)
			var ts []time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				h, err := NewBatchHessian(m, batch, nil)
				if err != nil {
					b.Fatal(err)
				}
				h.Close()
				ts = append(ts, time.Since(t0))
			}
			reportMedian(b, ts)
		})
	}
}

// benchHVPWorkers is BenchmarkHVP's hvp-workers: as many workers as the
// benchmark's threads, each on a locked OS thread at one libtorch thread
// with a fresh copy of the preset and its own graph of the same batch,
// b.N products each, all started together.
func benchHVPWorkers(b *testing.B, name string) {
	m, batch := benchSetup(b, name)
	workers := torchx.Threads()
	copies := []models.Model{m}
	for range workers - 1 {
		r, err := models.Replicate(m, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(r.Close)
		copies = append(copies, r)
	}
	start := make(chan struct{})
	ready := make(chan error, workers)
	failed := make(chan error, workers)
	var wg sync.WaitGroup
	for _, c := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := torchx.WorkerThread(true, 1); err != nil {
				ready <- err
				return
			}
			h, err := NewBatchHessian(c, batch, nil)
			if err != nil {
				ready <- err
				return
			}
			defer h.Close()
			v, dst := randVec(h.Dim(), 1), make([]float64, h.Dim())
			if err := h.MulVec(dst, v); err != nil { // warm-up
				ready <- err
				return
			}
			ready <- nil
			<-start
			for range b.N {
				if err := h.MulVec(dst, v); err != nil {
					failed <- err
					return
				}
			}
		}()
	}
	var setupErr error
	for range workers {
		if err := <-ready; err != nil && setupErr == nil {
			setupErr = err
		}
	}
	b.ResetTimer()
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(workers*b.N)/elapsed.Seconds(), "hvp/s")
	b.ReportMetric(1e3*elapsed.Seconds()/float64(b.N), "ms/product-per-worker")
	b.ReportMetric(float64(workers), "workers")
}

// benchOneHVP times one product at a time on the kept graph (split: the
// batch split over one worker per thread).
func benchOneHVP(b *testing.B, name string, split bool) {
	m, mul := newBenchHVP(b, name, split)
	var ts []time.Duration
	c0 := lsCPUSeconds()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := mul(); err != nil {
			b.Fatal(err)
		}
		ts = append(ts, time.Since(t0))
	}
	b.StopTimer()
	reportMedian(b, ts)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hvp/s")
	reportFLOPs(b, m, 16, "hvp", ts, lsCPUSeconds()-c0)
}

// newBenchHVP returns BenchmarkHVP's product on a fresh preset (benchSetup):
// the minibatch Hessian of its batch of 16 (closed when the benchmark run
// ends; split: over one worker per thread) applied to a fixed random
// vector, after one warm-up product.
func newBenchHVP(b *testing.B, name string, split bool) (models.Model, func() error) {
	b.Helper()
	m, batch := benchSetup(b, name)
	var opt HessianOptions
	if split {
		opt.Workers = torchx.Threads()
	}
	h, err := NewBatchHessian(m, batch, &opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	v := randVec(h.Dim(), 1)
	dst := make([]float64, h.Dim())
	mul := func() error { return h.MulVec(dst, v) }
	if err := mul(); err != nil { // warm-up
		b.Fatal(err)
	}
	return m, mul
}

// fwdBwd returns one forward and backward pass of m on batch in evaluation
// mode (torchx.Grad of the loss for the trainable parameters), the unit
// PyHessian's cost is usually quoted in; it drops what it makes.
func fwdBwd(m models.Model, batch *torchdata.Batch) func() error {
	tensors, _ := paramTensors(TrainableParams(m))
	return func() error {
		logits, err := m.Forward(batch.Images, models.Eval, nil)
		if err != nil {
			return err
		}
		defer torchx.DropAll([]*ts.Tensor{logits})
		loss, err := train.Loss(logits, batch)
		if err != nil {
			return err
		}
		defer torchx.DropAll([]*ts.Tensor{loss})
		g, err := torchx.Grad(loss, tensors)
		torchx.DropAll(g)
		return err
	}
}

// reportFLOPs adds the CPU milliseconds per call (all threads: a measure
// of the work that other processes' load hardly changes) and the achieved
// rates of the pass (models.CountFLOPs in evaluation mode: "hvp" or
// "fwd+bwd"): MFLOP per call, GFLOP/s at the median call's wall time and
// GFLOP per CPU second.
func reportFLOPs(b *testing.B, m models.Model, batch int, pass string, ts []time.Duration, cpu float64) {
	b.Helper()
	n := float64(len(ts))
	b.ReportMetric(1e3*cpu/n, "cpu-ms")
	fl, err := models.CountFLOPs(m, batch, models.Eval)
	if err != nil {
		return // a model CountFLOPs does not know: no rates
	}
	f := fl.Forward.Total() + fl.Backward.Total()
	if pass == "hvp" {
		f = fl.HVP.Total()
	}
	sorted := slices.Clone(ts)
	slices.Sort(sorted)
	b.ReportMetric(f/1e6, "MFLOP")
	b.ReportMetric(f/sorted[len(sorted)/2].Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(f*n/cpu/1e9, "GFLOP/cpu-s")
	}
}

// reportMedian adds the median time of an iteration, in milliseconds: on a
// shared machine the mean (ns/op) carries the outliers of other jobs, and
// bench_hvp.py reports medians too.
func reportMedian(b *testing.B, ts []time.Duration) {
	slices.Sort(ts)
	b.ReportMetric(float64(ts[len(ts)/2].Microseconds())/1e3, "median-ms")
}

// TestLanczosVsPowerTrained compares the top-5 eigenvalues of minibatch
// Hessians of a trained checkpoint by power iteration at PyHessian's
// defaults and by Lanczos (tolerance 1e-6), and the products each needed;
// with -hessian.tight, also by power iteration at tolerance 1e-5 (capped at
// 300 products per eigenvalue). It runs only with -hessian.ckpt.
func TestLanczosVsPowerTrained(t *testing.T) {
	if *ckptFlag == "" {
		t.Skip("needs -hessian.ckpt PATH (a trained checkpoint)")
	}
	lockThread(t)
	if _, err := torchx.SetThreads(0); err != nil {
		t.Fatal(err)
	}
	m, ck, err := models.Load(*ckptFlag, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := data.Load(ck.Dataset, os.Getenv("VITPROBE_DATA"), data.Train)
	if err != nil {
		t.Fatal(err)
	}
	batches := *lvpBatches
	mb := must(NewMinibatches(d, nil, 16, batches, 0, data.Augment{}))
	byMagnitude := func(v []float64) []float64 {
		s := slices.Clone(v)
		slices.SortFunc(s, func(a, b float64) int { return cmp.Compare(math.Abs(b), math.Abs(a)) })
		return s
	}
	worst := func(a, ref []float64) float64 {
		w := 0.0
		a, ref = byMagnitude(a), byMagnitude(ref)
		for i := range ref {
			w = math.Max(w, math.Abs(a[i]-ref[i])/math.Abs(ref[i]))
		}
		return w
	}
	var wp, wt float64
	var pp, pt, pl int
	for b := range batches {
		batch := must(mb.Batch(b))
		h := must(NewBatchHessian(m, batch, &HessianOptions{Label: fmt.Sprintf("batch %d", b)}))
		batch.Close()
		seed := hessian.BatchSeed(0, b)
		l := must((&hessian.LanczosSettings{}).TopK(h, 5, seed))
		p := must((*hessian.PowerSettings)(nil).TopK(h, 5, seed))
		pl, pp = pl+l.Products, pp+p.Products
		wp = math.Max(wp, worst(p.Values, l.Values))
		t.Logf("batch %d: Lanczos %.6g (%d products, residuals %.2g)", b, l.Values, l.Products, l.Residuals)
		t.Logf("batch %d: power, PyHessian defaults %.6g (%d products, converged %v)", b, p.Values, p.Products, p.Converged)
		if *lvpTight {
			tight := must((&hessian.PowerSettings{Tol: 1e-5, MaxIter: 300}).TopK(h, 5, seed))
			pt += tight.Products
			wt = math.Max(wt, worst(tight.Values, l.Values))
			t.Logf("batch %d: power, tol 1e-5 %.6g (%d products, converged %v)", b, tight.Values, tight.Products, tight.Converged)
		}
		h.Close()
	}
	t.Logf("products over %d batches: power (PyHessian defaults) %d, Lanczos %d: ratio %.2f", batches, pp, pl, float64(pp)/float64(pl))
	t.Logf("largest relative difference to Lanczos (eigenvalues matched by magnitude): power (defaults) %.2g", wp)
	if *lvpTight {
		t.Logf("power (tol 1e-5): %d products (ratio %.2f), largest relative difference %.2g", pt, float64(pt)/float64(pl), wt)
		if wt > 1e-3 {
			t.Errorf("power iteration at tol 1e-5 and Lanczos disagree by %g relative, want <= 1e-3", wt)
		}
	}
}

// rssKB returns this process's resident set size (VmRSS of
// /proc/self/status) after returning Go's free memory to the system.
func rssKB(t testing.TB) int {
	t.Helper()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestBatchHessianMemoryFlat makes 10,000 products through the adapter,
// building and closing a new BatchHessian (a forward and a graph-keeping
// backward) every 100 products, and checks that resident memory after
// 10,000 is within 10% of what it was after 1,000. Skipped with -short.
func TestBatchHessianMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 products")
	}
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 12)
	b := batchOf(t, 0, 16, data.Augment{Smoothing: 0.1})
	v := randVec(m.dim(), 1)
	dst := make([]float64, m.dim())
	var h *BatchHessian
	var at1k int
	for i := 1; i <= 10000; i++ {
		if i%100 == 1 {
			if h != nil {
				h.Close()
			}
			h = must(NewBatchHessian(m, b, &HessianOptions{WeightDecay: 0.05}))
		}
		if err := h.MulVec(dst, v); err != nil {
			t.Fatal(err)
		}
		switch i {
		case 1000:
			at1k = rssKB(t)
		case 10000:
			at10k := rssKB(t)
			growth := float64(at10k-at1k) / float64(at1k)
			t.Logf("VmRSS after 1,000 products %d kB, after 10,000 %d kB (%+.2f%%), 100 operators built and closed", at1k, at10k, 100*growth)
			if growth > 0.10 {
				t.Errorf("resident memory grew by %.1f%%, want < 10%%", 100*growth)
			}
		}
	}
	h.Close()
}

// TestHVPMatchesPyTorch compares the adapter with plain PyTorch (the same
// libtorch through Python, reference/pytorch/bench_hvp.py --check) on MNIST
// test images 0..15: the loss, v'Hv and |Hv| for v = all ones, for each mini
// preset with seeded weights written as a checkpoint here (or for the
// checkpoint of -hessian.ckpt). Both are float32 computations summed in other
// orders, so they agree to about 1e-6 relative (v'Hv, a sum that cancels,
// relative to Σ|(Hv)_i|); 1e-4 is asked. alternet-mini's seeded weights put
// one ReLU input of layer4.0 on these images 2e-8 from zero, where rounding
// picks the side of the kink: with the fused attention and channels-last
// layout that input comes out positive, in PyTorch negative, and the one
// mask entry moves v'Hv by 2.4e-4 of itself, 1.8e-5 of Σ|(Hv)_i| (with 1e-3
// noise on the images the two agree to 2e-7).
func TestHVPMatchesPyTorch(t *testing.T) {
	py := testdep.Python(t, "numpy")
	ckpts := map[string]string{}
	if *ckptFlag != "" {
		ckpts["flag"] = *ckptFlag
	} else {
		dir := t.TempDir()
		for i, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
			cfg, err := models.Defaults(name)
			if err != nil {
				t.Fatal(err)
			}
			torchx.Seed(uint64(10 + i))
			m, err := models.New(name, cfg, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			if _, err := models.Save(path, m, models.Checkpoint{Phase: "init", Dataset: "mnist", Seed: uint64(10 + i)}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			ckpts[name] = path + ".json"
		}
	}
	for name, ckpt := range ckpts {
		t.Run(name, func(t *testing.T) { hvpMatchesPyTorch(t, py, ckpt) })
	}
}

func hvpMatchesPyTorch(t *testing.T, py, ckpt string) {
	cmd := exec.Command(py, "../reference/pytorch/bench_hvp.py", "--check", "--checkpoint", ckpt, "--threads", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench_hvp.py --check: %v\n%s", err, stderr.String())
	}
	var want struct {
		Loss, VHv float64
		NormHv    float64 `json:"norm_Hv"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	lockThread(t)
	m, _, err := models.Load(ckpt, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := must(NewBatchHessian(m, batchOf(t, 0, 16, data.Augment{}), nil))
	defer h.Close()
	v := make([]float64, h.Dim())
	for i := range v {
		v[i] = 1
	}
	hv := make([]float64, h.Dim())
	must(0, h.MulVec(hv, v))
	var vhv, nn, abs float64
	for _, x := range hv {
		vhv += x
		nn += x * x
		abs += math.Abs(x)
	}
	got := []float64{h.Loss(), vhv, math.Sqrt(nn)}
	ref := []float64{want.Loss, want.VHv, want.NormHv}
	// v'Hv = Σ (Hv)_i cancels: its error is measured against Σ |(Hv)_i|,
	// the scale of the rounding of its terms.
	scale := []float64{math.Abs(ref[0]), abs, math.Abs(ref[2])}
	for i, name := range []string{"loss", "v'Hv", "|Hv|"} {
		e := math.Abs(got[i]-ref[i]) / scale[i]
		t.Logf("%s: Go %.9g, PyTorch %.9g (difference %.2g of %.4g)", name, got[i], ref[i], e, scale[i])
		if e > 1e-4 {
			t.Errorf("%s differs by %g of %g", name, e, scale[i])
		}
	}
}

// BenchmarkHVPProfile profiles, per mini preset at batch 16 as
// BenchmarkHVP, b.N Hessian-vector products and b.N forward+backward
// passes, and b.N forward passes at batch 50 without autograd (what a
// landscape point repeats over its images), with libtorch's operator
// profiler, and prints where each call's time goes (torchx.ProfileOps),
// each table after a "profile:" header, for scripts/bench.sh's summary.
//
//	go test ./analysis -run '^$' -bench HVPProfile -benchtime 5x
func BenchmarkHVPProfile(b *testing.B) {
	// The last run of each sub-benchmark (the benchmark runs it with N=1
	// first) is printed once all have run, in order.
	var order []string
	tables := map[string]string{}
	defer func() {
		for _, k := range order {
			fmt.Print(tables[k])
		}
	}()
	show := func(b *testing.B, what string, p *torchx.Profile) {
		b.Helper()
		var t strings.Builder
		fmt.Fprintf(&t, "profile: %s, %d threads, per call (mean of %d)\n\n", what, torchx.Threads(), b.N)
		if err := p.WriteTable(&t, 12, b.N); err != nil {
			b.Fatal(err)
		}
		if _, ok := tables[what]; !ok {
			order = append(order, what)
		}
		tables[what] = t.String() + "\n"
	}
	for _, name := range benchNames() {
		b.Run(name+"/hvp", func(b *testing.B) {
			_, mul := newBenchHVP(b, name, false)
			b.ResetTimer()
			p, err := torchx.ProfileOps(func() error {
				for range b.N {
					if err := mul(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			show(b, "Hessian-vector product, "+name+", batch 16", p)
		})
		b.Run(name+"/fwd+bwd", func(b *testing.B) {
			m, batch := benchSetup(b, name)
			step := fwdBwd(m, batch)
			if err := step(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			p, err := torchx.ProfileOps(func() error {
				for range b.N {
					if err := step(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			show(b, "forward+backward, "+name+", batch 16", p)
		})
		b.Run(name+"/forward", func(b *testing.B) {
			m, _ := benchSetup(b, name)
			batch := batchOf(b, 0, 50, data.Augment{})
			fwd := func() error {
				return torchx.NoGrad(func() error {
					logits, err := m.Forward(batch.Images, models.Eval, nil)
					if err == nil {
						logits.MustDrop()
					}
					return err
				})
			}
			if err := fwd(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			p, err := torchx.ProfileOps(func() error {
				for range b.N {
					if err := fwd(); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			show(b, "forward without autograd (a landscape point's unit), "+name+", batch 50", p)
		})
	}
}

package analysis

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

func randVec(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func relDiff(got, want []float64) float64 {
	d := make([]float64, len(got))
	floats.SubTo(d, got, want)
	return floats.Norm(d, 2) / floats.Norm(want, 2)
}

func TestTrainableParamsSortedWithoutBuffers(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 1)
	ps := TrainableParams(m)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	want := []string{"conv.bias", "conv.weight", "fc.bias", "fc.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("trainable params %v, want %v", names, want)
	}
	b := batchOf(t, 0, 4, data.Augment{})
	h := must(NewBatchHessian(m, b, nil))
	defer h.Close()
	if h.Dim() != m.dim() {
		t.Fatalf("Dim %d, want %d", h.Dim(), m.dim())
	}
}

// The assembled Hessian of a float32 model is symmetric up to float32
// rounding of the double-backward pass: entries carry relative errors of a
// few ε32 ≈ 1.2e-7 times the terms summed, far below the 1e-4 asked.
func TestBatchHessianSymmetric(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 2)
	b := batchOf(t, 10, 8, data.Augment{})
	h := must(NewBatchHessian(m, b, nil))
	defer h.Close()
	a := must(AssembleHessian(h))
	_, asym := Symmetrize(a)
	if asym > 1e-4 {
		t.Fatalf("relative asymmetry %g, want <= 1e-4", asym)
	}
	if h.Products() != m.dim() {
		t.Errorf("products %d, want %d (one per column)", h.Products(), m.dim())
	}
	if mat.Norm(a, 2) == 0 {
		t.Fatal("zero Hessian")
	}
}

// gradAt returns the gradient of the batch loss of m (float64) at weights
// w0 + s·v, computed with torchx.Grad, restoring w0 afterwards.
func gradAt(t *testing.T, m *tinyNet, b *torchdata.Batch, w0, v []float64, s float64) []float64 {
	t.Helper()
	ps := m.tensors()
	w := make([]float64, len(w0))
	floats.AddScaledTo(w, w0, s, v)
	set := func(x []float64) {
		off := 0
		for _, p := range ps {
			n := int(p.Numel())
			if err := torchx.CopyIn(p, x[off:off+n]); err != nil {
				t.Fatal(err)
			}
			off += n
		}
	}
	set(w)
	defer set(w0)
	logits := must(m.Forward(b.Images, 0, nil))
	defer logits.MustDrop()
	loss := must(train.Loss(logits, b))
	defer loss.MustDrop()
	g := must(torchx.Grad(loss, ps))
	defer torchx.DropAll(g)
	out := make([]float64, len(w0))
	if err := torchx.Flatten(out, g); err != nil {
		t.Fatal(err)
	}
	return out
}

// On a float64 copy of the network, H v equals the central difference
// (g(w + h v) - g(w - h v)) / 2h of exact gradients. Its truncation error
// is h²/6·|D³L[v,v,·]| and its rounding error about ε64·|g|/h; with
// |v| = 1 and h = 1e-4 both are below 1e-9 relative for this smooth
// (tanh) network, so 1e-6 leaves a wide margin while still catching any
// missing or doubled term (errors of order 1).
func TestBatchHessianMatchesFiniteDifferences(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Double, 3)
	b := batchOf(t, 100, 8, data.Augment{})
	h := must(NewBatchHessian(m, b, nil))
	defer h.Close()
	w0 := make([]float64, h.Dim())
	if err := torchx.Flatten(w0, m.tensors()); err != nil {
		t.Fatal(err)
	}
	const step = 1e-4
	// Products first: moving the weights in place invalidates the graph.
	var vs, hvs [][]float64
	for trial := range 3 {
		v := randVec(h.Dim(), uint64(trial))
		floats.Scale(1/floats.Norm(v, 2), v)
		hv := make([]float64, h.Dim())
		if err := h.MulVec(hv, v); err != nil {
			t.Fatal(err)
		}
		vs, hvs = append(vs, v), append(hvs, hv)
	}
	h.Close()
	for trial, v := range vs {
		gp := gradAt(t, m, b, w0, v, step)
		gm := gradAt(t, m, b, w0, v, -step)
		fd := make([]float64, len(gp))
		floats.SubTo(fd, gp, gm)
		floats.Scale(1/(2*step), fd)
		e := relDiff(hvs[trial], fd)
		t.Logf("trial %d: |Hv - FD|/|FD| = %.3g", trial, e)
		if e > 1e-6 {
			t.Errorf("trial %d: |Hv - FD|/|FD| = %g, want <= 1e-6", trial, e)
		}
	}
}

// Weight decay wd adds wd·I: the assembled matrices differ by exactly wd on
// the diagonal (the term is added in float64 after the float32 product,
// which is the same with and without it), so every eigenvalue moves by wd.
func TestWeightDecayShiftsEigenvaluesByWD(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 4)
	b := batchOf(t, 20, 8, data.Augment{})
	const wd = 0.05
	h0 := must(NewBatchHessian(m, b, nil))
	defer h0.Close()
	h1 := must(NewBatchHessian(m, b, &HessianOptions{WeightDecay: wd}))
	defer h1.Close()
	a0 := must(AssembleHessian(h0))
	a1 := must(AssembleHessian(h1))
	n := h0.Dim()
	for i := range n {
		for j := range n {
			want := a0.At(i, j)
			if i == j {
				want += wd
			}
			if got := a1.At(i, j); math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
				t.Fatalf("H_wd[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	s0, _ := Symmetrize(a0)
	s1, _ := Symmetrize(a1)
	var e0, e1 mat.EigenSym
	if !e0.Factorize(s0, false) || !e1.Factorize(s1, false) {
		t.Fatal("eigendecomposition failed")
	}
	v0, v1 := e0.Values(nil), e1.Values(nil)
	for i := range v0 {
		if d := v1[i] - v0[i]; math.Abs(d-wd) > 1e-9 {
			t.Fatalf("eigenvalue %d moved by %v, want %v", i, d, wd)
		}
	}
	// Through the solver too: the top-5 (largest algebraic) move by wd.
	set := &hessian.LanczosSettings{Which: hessian.LargestAlgebraic, Tol: 1e-9, Seed: 1}
	l0 := must(hessian.Lanczos(h0, 5, set))
	l1 := must(hessian.Lanczos(h1, 5, set))
	for i := range 5 {
		if d := l1.Values[i] - l0.Values[i]; math.Abs(d-wd) > 1e-5*math.Max(1, math.Abs(l0.Values[i])) {
			t.Errorf("Lanczos eigenvalue %d moved by %v, want %v", i, d, wd)
		}
	}
}

// The top eigenvalue found through the operator (Lanczos, and power
// iteration with a tolerance of 1e-6, about what float32 products allow)
// agrees with the exact top eigenvalue of the assembled Hessian to 1e-4
// relative. This is the "mini model" check of the foundation, done on a
// tiny real network: a mini preset has 10^5-10^6 parameters, whose dense
// Hessian (10^10-10^12 entries) cannot be assembled.
func TestTopEigenvalueMatchesDense(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 5)
	b := batchOf(t, 40, 16, data.Augment{})
	h := must(NewBatchHessian(m, b, nil))
	defer h.Close()
	s, _ := Symmetrize(must(AssembleHessian(h)))
	var es mat.EigenSym
	if !es.Factorize(s, false) {
		t.Fatal("eigendecomposition failed")
	}
	vals := es.Values(nil)
	top := vals[len(vals)-1]
	if math.Abs(vals[0]) > top {
		top = vals[0]
	}
	l := must(hessian.Lanczos(h, 1, &hessian.LanczosSettings{Tol: 1e-8, Seed: 2}))
	if e := math.Abs(l.Values[0]-top) / math.Abs(top); e > 1e-4 {
		t.Errorf("Lanczos top eigenvalue %v, dense %v: relative error %g", l.Values[0], top, e)
	}
	t.Logf("dense top %v; Lanczos %v (%d products)", top, l.Values[0], l.Products)
	p := must(hessian.PowerIteration(h, 1, &hessian.PowerSettings{Tol: 1e-6, MaxIter: 1000, Seed: 2}))
	t.Logf("power iteration %v (%d products, converged %v); |λ2/λ1| = %.4f", p.Values[0], p.Products, p.Converged[0], second(vals)/math.Abs(top))
	if e := math.Abs(p.Values[0]-top) / math.Abs(top); e > 1e-4 {
		t.Errorf("power iteration top eigenvalue %v, dense %v: relative error %g", p.Values[0], top, e)
	}
}

// Soft targets (label smoothing, mixup) change the loss the Hessian is
// taken of: the operator must see them.
func TestBatchHessianUsesSoftTargets(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 6)
	hard := batchOf(t, 0, 8, data.Augment{})
	soft := batchOf(t, 0, 8, data.Augment{Smoothing: 0.3})
	h0 := must(NewBatchHessian(m, hard, nil))
	defer h0.Close()
	h1 := must(NewBatchHessian(m, soft, nil))
	defer h1.Close()
	if h0.Loss() == h1.Loss() {
		t.Fatalf("same loss %v with and without label smoothing", h0.Loss())
	}
	v := randVec(h0.Dim(), 9)
	a, c := make([]float64, len(v)), make([]float64, len(v))
	must(0, h0.MulVec(a, v))
	must(0, h1.MulVec(c, v))
	if relDiff(a, c) < 1e-6 {
		t.Fatal("label smoothing left the Hessian unchanged")
	}
}

func TestDataHessianIsWeightedMean(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 7)
	b1 := batchOf(t, 0, 6, data.Augment{})
	b2 := batchOf(t, 6, 2, data.Augment{}) // unequal sizes weigh 3:1
	const wd = 0.01
	v := randVec(m.dim(), 3)
	product := func(op hessian.Operator) []float64 {
		out := make([]float64, len(v))
		if err := op.MulVec(out, v); err != nil {
			t.Fatal(err)
		}
		return out
	}
	h1 := must(NewBatchHessian(m, b1, nil))
	defer h1.Close()
	h2 := must(NewBatchHessian(m, b2, nil))
	defer h2.Close()
	want := make([]float64, len(v))
	floats.AddScaled(want, 0.75, product(h1))
	floats.AddScaled(want, 0.25, product(h2))
	floats.AddScaled(want, wd, v)
	for _, retain := range []bool{false, true} {
		d := must(NewDataHessian(m, []*torchdata.Batch{b1, b2}, &DataHessianOptions{HessianOptions: HessianOptions{WeightDecay: wd}, Retain: retain}))
		got := product(d)
		again := product(d)
		d.Close()
		if e := relDiff(got, want); e > 1e-6 {
			t.Errorf("retain %v: relative error %g against the weighted batch Hessians", retain, e)
		}
		if !slices.Equal(got, again) {
			t.Errorf("retain %v: two products differ", retain)
		}
		if d.Products() != 2 {
			t.Errorf("retain %v: %d products counted, want 2", retain, d.Products())
		}
	}
}

func TestNonFiniteNamesTheBatch(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 8)
	nan := must(ts.Full([]int64{10}, ts.FloatScalar(math.NaN()), gotch.Float, gotch.CPU))
	defer nan.MustDrop()
	if err := torchx.NoGrad(func() error { m.param(3).Copy_(nan); return nil }); err != nil {
		t.Fatal(err)
	}
	b := batchOf(t, 0, 4, data.Augment{})
	_, err := NewBatchHessian(m, b, &HessianOptions{Label: "batch 17"})
	var nf *errs.NonFiniteError
	if !errors.As(err, &nf) || nf.Where != "batch 17" || !strings.Contains(err.Error(), "non-finite loss") {
		t.Fatalf("error %v, want an *errs.NonFiniteError of the loss naming batch 17", err)
	}
	// A non-finite product (checked apart from the loss).
	dst := []float64{1, math.Inf(1)}
	err = finish(dst, []float64{1, 1}, 0, "batch 4")
	if !errors.Is(err, hessian.ErrNonFinite) || !errors.As(err, &nf) || !strings.Contains(err.Error(), "batch 4") {
		t.Fatalf("error %v, want ErrNonFinite naming batch 4", err)
	}
}

func TestUseAfterClose(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 9)
	h := must(NewBatchHessian(m, batchOf(t, 0, 4, data.Augment{}), nil))
	h.Close()
	h.Close()
	v := make([]float64, h.Dim())
	if err := h.MulVec(v, v); err == nil {
		t.Fatal("product after Close: want an error")
	}
}

// bigOperator claims a dimension; it is never multiplied.
type bigOperator int

func (b bigOperator) Dim() int                  { return int(b) }
func (bigOperator) MulVec(_, _ []float64) error { return errors.New("not implemented") }

// second returns the second largest magnitude of vals.
func second(vals []float64) float64 {
	a := make([]float64, len(vals))
	for i, v := range vals {
		a[i] = math.Abs(v)
	}
	slices.Sort(a)
	return a[len(a)-2]
}

func TestAssembleRejectsLargeOperators(t *testing.T) {
	if _, err := AssembleHessian(bigOperator(MaxAssembleDim + 1)); err == nil {
		t.Fatal("want an error for a dimension above MaxAssembleDim")
	}
}

func TestMinibatches(t *testing.T) {
	d := mnist(t)
	idx := d.Indices()[:50]
	mb := must(NewMinibatches(d, idx, 16, 7, 3, data.Augment{}))
	// 50 examples hold 3 batches of 16 per pass: batches 3..5 are the
	// second pass, in another order.
	seen := map[int]int{}
	for b := range 3 {
		for _, i := range mb.Indices(b) {
			seen[i]++
		}
	}
	if len(seen) != 48 {
		t.Fatalf("first pass covers %d distinct examples, want 48", len(seen))
	}
	if slices.Equal(mb.Indices(0), mb.Indices(3)) {
		t.Error("second pass repeats the first")
	}
	again := must(NewMinibatches(d, idx, 16, 7, 3, data.Augment{}))
	if !slices.Equal(again.Indices(6), mb.Indices(6)) {
		t.Error("same seed, different batch 6")
	}
	other := must(NewMinibatches(d, idx, 16, 7, 4, data.Augment{}))
	if slices.Equal(other.Indices(0), mb.Indices(0)) {
		t.Error("another seed gives the same batch 0")
	}
	for _, c := range []struct {
		idx         []int
		size, count int
		want        string
	}{
		{[]int{}, 16, 1, "no examples"},
		{idx[:3], 16, 1, "fewer than one batch"},
		{idx, 0, 1, "batch size"},
		{idx, 16, 0, "minibatches"},
	} {
		if _, err := NewMinibatches(d, c.idx, c.size, c.count, 0, data.Augment{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMinibatches(%d examples, size %d, count %d): error %v, want %q", len(c.idx), c.size, c.count, err, c.want)
		}
	}
}

func TestMaxEigenSpectrumResumesExactly(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 10)
	d := mnist(t)
	mb := must(NewMinibatches(d, d.Indices()[:200], 8, 4, 1, data.PaperAugment(d.Info)))
	opt := &SpectrumOptions{K: 3, Seed: 5, WeightDecay: 0.05,
		Solver: &hessian.LanczosSettings{Tol: 1e-6}}
	var all []BatchResult
	must(0, MaxEigenSpectrum(context.Background(), m, mb, opt, func(r BatchResult) error { all = append(all, r); return nil }))
	if len(all) != 4 {
		t.Fatalf("%d results, want 4", len(all))
	}
	// Batches 1 and 3 alone, as a resumed or sharded run would do them.
	part := *opt
	part.Skip = func(b int) bool { return b%2 == 0 }
	var some []BatchResult
	must(0, MaxEigenSpectrum(context.Background(), m, mb, &part, func(r BatchResult) error { some = append(some, r); return nil }))
	for _, r := range some {
		w := all[r.Batch]
		if !slices.Equal(r.Values, w.Values) || r.Loss != w.Loss || r.Products != w.Products {
			t.Errorf("batch %d alone: %v (loss %v), in a full run %v (loss %v)", r.Batch, r.Values, r.Loss, w.Values, w.Loss)
		}
	}
	for _, r := range all {
		if len(r.Values) != 3 || r.Loss <= 0 || r.Products == 0 {
			t.Errorf("batch %d: %+v", r.Batch, r)
		}
	}
	// k larger than the dimension is an error naming the batch.
	err := MaxEigenSpectrum(context.Background(), m, mb, &SpectrumOptions{K: m.dim() + 1},
		func(BatchResult) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "batch 0") {
		t.Errorf("k > dim: error %v", err)
	}
	// A cancelled context stops before the first batch.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := MaxEigenSpectrum(ctx, m, mb, opt, func(BatchResult) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}

// TestMaxEigenSpectrumWorkers checks the minibatch spectrum computed by
// several workers against the same batches one after the other at the
// workers' thread count (one): the same eigenvalues, losses and product
// counts bit for bit, handed to done once each and in batch order, with
// and without skipped batches (down to a single one, as a resumed run may
// have left). The workers' model copies come from a
// Replica with other weights, so a copy that kept them would differ. It
// also checks the stops: a failing batch or done is an error naming its
// batch, after which every batch already finished has still reached done
// (in increasing order); a cancelled context is context.Canceled; and the
// calling thread's libtorch thread count is as before.
func TestMaxEigenSpectrumWorkers(t *testing.T) {
	lockThread(t)
	defer func(n int) { _, _ = torchx.SetThreads(n) }(torchx.Threads())
	must(torchx.SetThreads(1))
	m := newTinyNet(t, gotch.Float, 10)
	d := mnist(t)
	mb := must(NewMinibatches(d, d.Indices()[:400], 8, 7, 1, data.PaperAugment(d.Info)))
	base := SpectrumOptions{K: 3, Seed: 5, WeightDecay: 0.05, Solver: &hessian.LanczosSettings{Tol: 1e-6}}
	var want []BatchResult
	must(0, MaxEigenSpectrum(context.Background(), m, mb, &base, func(r BatchResult) error { want = append(want, r); return nil }))
	must(torchx.SetThreads(2)) // the workers set their own count
	var replicas []*tinyNet    // closed by MaxEigenSpectrum
	opt := base
	opt.Workers, opt.ThreadsPerWorker = 3, 1
	opt.Replica = func() (models.Model, error) {
		r := newTinyNet(t, gotch.Float, uint64(99+len(replicas)))
		replicas = append(replicas, r)
		return keptOpen{r}, nil
	}
	for _, skip := range []func(int) bool{nil, func(b int) bool { return b%3 == 1 }, func(b int) bool { return b != 4 }} {
		o := opt
		o.Skip = skip
		var got []BatchResult
		must(0, MaxEigenSpectrum(context.Background(), m, mb, &o, func(r BatchResult) error { got = append(got, r); return nil }))
		var expect []BatchResult
		for _, r := range want {
			if skip == nil || !skip(r.Batch) {
				expect = append(expect, r)
			}
		}
		if len(got) != len(expect) {
			t.Fatalf("skip %v: %d results, want %d", skip != nil, len(got), len(expect))
		}
		for i, r := range got {
			w := expect[i]
			if r.Batch != w.Batch || !slices.Equal(r.Values, w.Values) || r.Loss != w.Loss || r.Products != w.Products {
				t.Errorf("result %d: batch %d %v (loss %v, %d products), one after the other: batch %d %v (loss %v, %d products)",
					i, r.Batch, r.Values, r.Loss, r.Products, w.Batch, w.Values, w.Loss, w.Products)
			}
		}
	}
	if n := torchx.Threads(); n != 2 {
		t.Errorf("the calling thread's count is %d after the workers, want 2 as before", n)
	}
	// done fails at batch 2: the error names it, and every result handed
	// over is a distinct batch in increasing order.
	var seen []int
	err := MaxEigenSpectrum(context.Background(), m, mb, &opt, func(r BatchResult) error {
		seen = append(seen, r.Batch)
		if r.Batch == 2 {
			return errors.New("disk full")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "batch 2") || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("done failing at batch 2: error %v", err)
	}
	if !slices.IsSorted(seen) || len(seen) < 3 || seen[0] != 0 || seen[1] != 1 || seen[2] != 2 || len(slices.Compact(slices.Clone(seen))) != len(seen) {
		t.Errorf("done failing at batch 2: batches handed over %v, want 0, 1, 2 then finished ones in order", seen)
	}
	// A batch that fails: k larger than the dimension.
	bad := opt
	bad.K = m.dim() + 1
	if err := MaxEigenSpectrum(context.Background(), m, mb, &bad, func(BatchResult) error { return nil }); err == nil || !strings.Contains(err.Error(), "batch ") {
		t.Errorf("k > dim with workers: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := MaxEigenSpectrum(ctx, m, mb, &opt, func(BatchResult) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled, with workers: error %v", err)
	}
	if err := MaxEigenSpectrum(context.Background(), m, mb, &SpectrumOptions{Workers: -1}, func(BatchResult) error { return nil }); err == nil {
		t.Error("-1 workers: no error")
	}
}

// keptOpen is a model whose Close does nothing (its owner closes it).
type keptOpen struct{ *tinyNet }

func (keptOpen) Close() {}

package analysis

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestSplitHessianMatchesOneGraph checks a BatchHessian split over workers
// against the one-graph operator on the same batch (itself checked against
// finite differences and PyTorch): the products and the loss agree to
// float32 rounding, for a convolutional preset (batch norm in eval mode)
// and a ViT, on a batch with soft targets split unevenly (7 rows in parts
// of 3, 2 and 2), with the L2 term added once; two products are the same
// bits; the caller's thread count is back after Close; products after
// Close are errors.
func TestSplitHessianMatchesOneGraph(t *testing.T) {
	lockThread(t)
	threads := torchx.Threads()
	for _, name := range []string{"resnet-mini", "vit-mini"} {
		t.Run(name, func(t *testing.T) {
			torchx.Seed(3)
			m := must(models.New(name, models.Config{Classes: 10, InChannels: 1, ImageSize: 32}, gotch.CPU))
			defer m.Close()
			b := batchOf(t, 40, 7, data.PaperAugment(mnist(t).Info))
			if b.Targets == nil {
				t.Fatal("the paper's augmentation gave no soft targets")
			}
			const wd = 0.05
			one := must(NewBatchHessian(m, b, &HessianOptions{WeightDecay: wd}))
			defer one.Close()
			split := must(NewBatchHessian(m, b, &HessianOptions{WeightDecay: wd, Workers: 3}))
			if got := torchx.Threads(); got != 1 {
				t.Errorf("thread count %d while the split operator lives, want 1", got)
			}
			if split.Dim() != one.Dim() {
				t.Fatalf("dimension %d, want %d", split.Dim(), one.Dim())
			}
			if e := relDiff([]float64{split.Loss()}, []float64{one.Loss()}); e > 1e-6 {
				t.Errorf("loss %v, one graph %v", split.Loss(), one.Loss())
			}
			v := randVec(one.Dim(), 11)
			want := make([]float64, len(v))
			must(0, one.MulVec(want, v))
			got := make([]float64, len(v))
			again := make([]float64, len(v))
			must(0, split.MulVec(got, v))
			must(0, split.MulVec(again, v))
			if e := relDiff(got, want); e > 2e-5 {
				t.Errorf("relative error %g against the one-graph product", e)
			}
			if !slices.Equal(got, again) {
				t.Error("two products of the split operator differ")
			}
			if split.Products() != 2 {
				t.Errorf("%d products counted, want 2", split.Products())
			}
			split.Close()
			split.Close()
			if got := torchx.Threads(); got != threads {
				t.Errorf("thread count %d after Close, want %d back", got, threads)
			}
			if err := split.MulVec(got, v); err == nil {
				t.Error("product after Close: want an error")
			}
		})
	}
}

func TestSplitHessianRejectsNegativeWorkers(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 4)
	if _, err := NewBatchHessian(m, batchOf(t, 0, 4, data.Augment{}), &HessianOptions{Workers: -1}); err == nil {
		t.Fatal("-1 workers: want an error")
	}
}

// TestDataHessianWorkers: a DataHessian whose batches are dealt to 2, 3
// or 5 workers (5 capped at the 3 batches), with and without kept graphs,
// agrees with the one-thread operator (itself checked against the weighted
// batch Hessians) to float32 rounding, L2 term included; two products are
// the same bits; the caller's thread count is back after Close.
func TestDataHessianWorkers(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Float, 12)
	batches := []*torchdata.Batch{batchOf(t, 0, 6, data.Augment{}), batchOf(t, 6, 2, data.Augment{}), batchOf(t, 8, 5, data.Augment{})}
	v := randVec(m.dim(), 4)
	product := func(op hessian.Operator) []float64 {
		out := make([]float64, len(v))
		must(0, op.MulVec(out, v))
		return out
	}
	seq := must(NewDataHessian(m, batches, &DataHessianOptions{HessianOptions: HessianOptions{WeightDecay: 0.01}}))
	want := product(seq)
	seq.Close()
	threads := torchx.Threads()
	for _, workers := range []int{2, 3, 5} {
		for _, retain := range []bool{false, true} {
			opt := &DataHessianOptions{Retain: retain, HessianOptions: HessianOptions{WeightDecay: 0.01, Workers: workers,
				Replica: func() (models.Model, error) { return keptOpen{newTinyNet(t, gotch.Float, 77)}, nil }}}
			d := must(NewDataHessian(m, batches, opt))
			got, again := product(d), product(d)
			d.Close()
			if e := relDiff(got, want); e > 1e-6 {
				t.Errorf("%d workers, retain %v: relative error %g against one thread", workers, retain, e)
			}
			if !slices.Equal(got, again) {
				t.Errorf("%d workers, retain %v: two products differ", workers, retain)
			}
			if d.Products() != 2 {
				t.Errorf("%d workers, retain %v: %d products counted, want 2", workers, retain, d.Products())
			}
			if n := torchx.Threads(); n != threads {
				t.Errorf("%d workers, retain %v: thread count %d after Close, want %d", workers, retain, n, threads)
			}
		}
	}
}

// TestWorkersFailAndOverlap: a model copy that cannot be made is an error
// (not a panic) that leaves the thread count as it was; two operators with
// workers that overlap keep the count at 1 until the last of them closes,
// whichever closes first.
func TestWorkersFailAndOverlap(t *testing.T) {
	lockThread(t)
	threads := torchx.Threads()
	m := newTinyNet(t, gotch.Float, 13)
	b := batchOf(t, 0, 6, data.Augment{})
	failing := func() (models.Model, error) { return nil, errors.New("no copy today") }
	_, err := NewBatchHessian(m, b, &HessianOptions{Workers: 2, Replica: failing})
	if err == nil || !strings.Contains(err.Error(), "no copy today") {
		t.Fatalf("error %v, want the copy's", err)
	}
	if n := torchx.Threads(); n != threads {
		t.Fatalf("thread count %d after the failure, want %d", n, threads)
	}
	replica := func() (models.Model, error) { return keptOpen{newTinyNet(t, gotch.Float, 78)}, nil }
	a := must(NewBatchHessian(m, b, &HessianOptions{Workers: 2, Replica: replica}))
	c := must(NewDataHessian(m, []*torchdata.Batch{b, batchOf(t, 6, 3, data.Augment{})},
		&DataHessianOptions{HessianOptions: HessianOptions{Workers: 2, Replica: replica}}))
	a.Close()
	if n := torchx.Threads(); n != 1 {
		t.Errorf("thread count %d with one operator still open, want 1", n)
	}
	v := randVec(c.Dim(), 2)
	must(0, c.MulVec(make([]float64, len(v)), v))
	c.Close()
	if n := torchx.Threads(); n != threads {
		t.Errorf("thread count %d after both closed, want %d", n, threads)
	}
}

package train

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestSplitStepMatchesOneGraph: each mini preset (drop path 0.3, the mini
// recipe's augmentation), a batch of 7 split over 2, 3 and 8 workers: the
// gradient in the optimiser's buffer, the loss and the correct count are
// those of the one-graph step from the same generator state, and so are
// the run's model's running statistics (the ResNets and AlterNets, whose
// workers share batch norm's statistics); another step's masks change the
// gradient far more, so the comparison sees the masks. The gradient is
// asked within 1e-5 of its largest entry for vit-mini; with batch norm
// within 1e-4, or 4 times what the one-graph step itself moves between one
// and two libtorch threads if more: the convolutions' weight gradients
// before a batch norm are sums that cancel (its backward pass removes the
// channel's mean), so their rounding is that much larger (measured:
// 1.1e-5 and 3.2e-5 of the largest entry between the thread counts, 1.3e-5
// to 3.5e-5 split; workers that took only their own rows' statistics:
// 0.28). A second step after a split update checks
// that the copies take the new weights and running statistics.
func TestSplitStepMatchesOneGraph(t *testing.T) {
	for _, name := range []string{"vit-mini", "resnet-mini", "alternet-mini"} {
		t.Run(name, func(t *testing.T) { testSplitStep(t, name) })
	}
}

func testSplitStep(t *testing.T, name string) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		t.Skip("MNIST:", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := Recipe("mini", name, "mnist")
	if err != nil {
		t.Fatal(err)
	}
	c.BatchSize = 7
	c.ModelConfig.DropPath = 0.3
	smp, err := data.Shuffled(d.Indices(), c.BatchSize, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	ep := smp.Epoch(0)
	build := func() (models.Model, *optimizer) {
		torchx.Seed(c.Seed)
		m, err := models.New(c.Model, c.ModelConfig, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		_, trainable := trainableParams(m)
		opt, err := newOptimizer(trainable)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { opt.close(); m.Close() })
		return m, opt
	}
	batch := func(k int) *torchdata.Batch {
		torchx.Seed(stepSeed(c.Seed, int64(k+1)))
		b, err := torchdata.NewBatch(d, ep.Batch(k), c.Augment, ep.Rand(k))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		return b
	}
	// oneGraph returns step k's gradient, loss and correct count, as
	// trainStep computes them without workers.
	oneGraph := func(m models.Model, opt *optimizer, k, seedStep int) ([]float32, float64, int) {
		b := batch(k)
		torchx.Seed(stepSeed(c.Seed, int64(seedStep+1)))
		logits := must(m.Forward(b.Images, models.Train, nil))
		defer logits.MustDrop()
		loss := must(Loss(logits, b))
		defer loss.MustDrop()
		lv := must(Scalar(loss))
		correct := must(Correct(logits, b))
		if err := torchx.GradInto(opt.gflat, loss, opt.params); err != nil {
			t.Fatal(err)
		}
		return must(torchx.Values[float32](opt.gflat)), lv, correct
	}
	// stats returns a model's running statistics.
	stats := func(m models.Model) []float32 {
		var out []float32
		for _, b := range buffers(m) {
			out = append(out, must(torchx.Values[float32](b))...)
		}
		return out
	}
	compare := func(label string, got, want []float32) (diff, scale float64) {
		if len(got) != len(want) {
			t.Fatalf("%s: %d gradient entries, want %d", label, len(got), len(want))
		}
		for i := range want {
			diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
			scale = math.Max(scale, math.Abs(float64(want[i])))
		}
		return diff, scale
	}
	ref, refOpt := build()
	want, wantLoss, wantCorrect := oneGraph(ref, refOpt, 0, 0)
	wantStats := stats(ref)
	other, _, _ := oneGraph(ref, refOpt, 0, 5)
	tol := 1e-5 // of the largest entry
	if models.SharesStats(ref) {
		// want on this thread's libtorch threads, one on another count.
		threads, alt := torchx.Threads(), 2
		if threads > 1 {
			alt = 1
		}
		must(torchx.SetThreads(alt))
		m1, opt1 := build()
		one, _, _ := oneGraph(m1, opt1, 0, 0)
		must(torchx.SetThreads(threads))
		noise, scale := compare("other threads", one, want)
		t.Logf("the one-graph step on %d and %d threads: largest difference %.3g (largest entry %.3g)", threads, alt, noise, scale)
		tol = math.Max(1e-4, 4*noise/scale)
	}
	for _, workers := range []int{2, 3, 8} { // 8: a worker without rows
		m, opt := build()
		sp, err := newSplitStep(m, opt, workers)
		if err != nil {
			t.Fatal(err)
		}
		lv, correct, err := sp.gradients(opt, batch(0))
		if err != nil {
			t.Fatal(err)
		}
		got := must(torchx.Values[float32](opt.gflat))
		diff, scale := compare("step 1", got, want)
		masks, _ := compare("another step's masks", other, want)
		t.Logf("%d workers: largest gradient difference %.3g (largest entry %.3g; another step's masks %.3g); loss %.7f / %.7f",
			workers, diff, scale, masks, lv, wantLoss)
		if diff > tol*scale || math.Abs(lv-wantLoss) > 1e-6*math.Abs(wantLoss) || correct != wantCorrect {
			t.Errorf("%d workers: gradient off by %.3g (largest %.3g), loss %v want %v, correct %d want %d",
				workers, diff, scale, lv, wantLoss, correct, wantCorrect)
		}
		if masks < 1e-2*scale {
			t.Errorf("another step's masks change the gradient by only %.3g: the test cannot see the masks", masks)
		}
		if sd, ss := compare("running statistics", stats(m), wantStats); sd > 1e-5*ss {
			t.Errorf("%d workers: running statistics off by %.3g (largest %.3g)", workers, sd, ss)
		}
		// One update, then the reference takes the split run's weights and
		// both compute step 2's gradient.
		if err := opt.update(c, 1e-2, 1); err != nil {
			t.Fatal(err)
		}
		if err := torchx.NoGrad(func() error {
			if err := torchx.Copy(refOpt.pflat, opt.pflat); err != nil {
				return err
			}
			mb, rb := buffers(m), buffers(ref)
			for k := range mb {
				if err := torchx.Copy(rb[k], mb[k]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want2, _, _ := oneGraph(ref, refOpt, 1, 1)
		wantStats2 := stats(ref)
		if _, _, err := sp.gradients(opt, batch(1)); err != nil {
			t.Fatal(err)
		}
		diff, scale = compare("step 2", must(torchx.Values[float32](opt.gflat)), want2)
		if diff > tol*scale {
			t.Errorf("%d workers, step 2: gradient off by %.3g (largest %.3g): the copies kept old weights?", workers, diff, scale)
		}
		if sd, ss := compare("running statistics, step 2", stats(m), wantStats2); sd > 1e-5*ss {
			t.Errorf("%d workers, step 2: running statistics off by %.3g (largest %.3g)", workers, sd, ss)
		}
		sp.close()
		ref, refOpt = build() // the reference's own weights again
	}
	// The test evaluation on the workers: Evaluate's numbers, the batches'
	// parts added in the same order (each batch computed on one thread).
	m, opt := build()
	sp, err := newSplitStep(m, opt, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	// One update first, so that the copies hold stale weights unless the
	// evaluation gives them the new ones.
	if _, _, err := sp.gradients(opt, batch(0)); err != nil {
		t.Fatal(err)
	}
	if err := opt.update(c, 1e-2, 1); err != nil {
		t.Fatal(err)
	}
	test, err := data.Load("mnist", "", data.Test)
	if err != nil {
		t.Fatal(err)
	}
	idx := test.Indices()[:230]
	gotEval, err := sp.evaluate(opt, test, idx, 50)
	if err != nil {
		t.Fatal(err)
	}
	wantEval, err := Evaluate(m, test, idx, 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluation on workers: NLL %.9f accuracy %.4f; on the calling thread: %.9f, %.4f", gotEval.NLL, gotEval.Accuracy, wantEval.NLL, wantEval.Accuracy)
	if math.Abs(gotEval.NLL-wantEval.NLL) > 1e-6*wantEval.NLL || gotEval.Accuracy != wantEval.Accuracy || gotEval.N != 230 {
		t.Errorf("evaluation on workers %+v, on the calling thread %+v", gotEval, wantEval)
	}
}

package train

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestSplitStepMatchesOneGraph: vit-mini (drop path 0.3, the mini recipe's
// augmentation), a batch of 7 split over 2, 3 and 8 workers: the gradient in
// the optimiser's buffer, the loss and the correct count are those of the
// one-graph step from the same generator state (gradient within 1e-5 of
// its largest entry); another step's masks change the gradient far more,
// so the comparison sees the masks. A second step after a split update
// checks that the copies take the new weights. The ResNets refuse.
func TestSplitStepMatchesOneGraph(t *testing.T) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		t.Skip("MNIST:", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := Recipe("mini", "vit-mini", "mnist")
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
	other, _, _ := oneGraph(ref, refOpt, 0, 5)
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
		if diff > 1e-5*scale || math.Abs(lv-wantLoss) > 1e-6*math.Abs(wantLoss) || correct != wantCorrect {
			t.Errorf("%d workers: gradient off by %.3g (largest %.3g), loss %v want %v, correct %d want %d",
				workers, diff, scale, lv, wantLoss, correct, wantCorrect)
		}
		if masks < 1e-2*scale {
			t.Errorf("another step's masks change the gradient by only %.3g: the test cannot see the masks", masks)
		}
		// One update, then the reference takes the split run's weights and
		// both compute step 2's gradient.
		if err := opt.update(c, 1e-2, 1); err != nil {
			t.Fatal(err)
		}
		if err := torchx.NoGrad(func() error { return torchx.Copy(refOpt.pflat, opt.pflat) }); err != nil {
			t.Fatal(err)
		}
		want2, _, _ := oneGraph(ref, refOpt, 1, 1)
		if _, _, err := sp.gradients(opt, batch(1)); err != nil {
			t.Fatal(err)
		}
		diff, scale = compare("step 2", must(torchx.Values[float32](opt.gflat)), want2)
		if diff > 1e-5*scale {
			t.Errorf("%d workers, step 2: gradient off by %.3g (largest %.3g): the copies kept old weights?", workers, diff, scale)
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
	cr, err := Recipe("mini", "resnet-mini", "mnist")
	if err != nil {
		t.Fatal(err)
	}
	torchx.Seed(1)
	rm := must(models.New(cr.Model, cr.ModelConfig, gotch.CPU))
	defer rm.Close()
	_, rt := trainableParams(rm)
	ro := must(newOptimizer(rt))
	defer ro.close()
	if _, err := newSplitStep(rm, ro, 2); err == nil || !strings.Contains(err.Error(), "cannot be split") {
		t.Errorf("resnet-mini split: error %v", err)
	}
}

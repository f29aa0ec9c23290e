package train

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestFlatStepMatchesPerTensor trains two copies of a preset from the same
// seed for a few steps, one with the flat-buffer optimiser of trainStep,
// the other with the per-tensor gradient, clipping and AdamW calls it
// replaced (torchx.Grad, ClipGradNorm, AdamWStep over every tensor), and
// checks that every weight is identical to the bit after every step: the
// flat buffers change where the numbers are stored, not how they are
// computed (with the gradients in the standard layout: see perTensorStep).
func TestFlatStepMatchesPerTensor(t *testing.T) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		t.Skip("MNIST:", err)
	}
	for _, name := range []string{"resnet-mini", "vit-mini"} {
		t.Run(name, func(t *testing.T) {
			// One OS thread with its count set: OpenMP keeps the count per
			// thread, and oneDNN reads it as the calling thread has it.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if _, err := torchx.SetThreads(1); err != nil {
				t.Fatal(err)
			}
			c, err := Recipe("mini", name, "mnist")
			if err != nil {
				t.Fatal(err)
			}
			c.BatchSize = 8
			c.Clip = 0.5 // small enough to clip
			build := func() models.Model {
				torchx.Seed(c.Seed)
				m, err := models.New(c.Model, c.ModelConfig, gotch.CPU)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			a, b := build(), build()
			defer a.Close()
			defer b.Close()
			_, trainable := trainableParams(a)
			opt, err := newOptimizer(trainable)
			if err != nil {
				t.Fatal(err)
			}
			defer opt.close()
			bt, _ := trainableParams(b)
			var bm, bv []*ts.Tensor
			for _, p := range bt {
				bm = append(bm, must(p.ZerosLike(false)))
				bv = append(bv, must(p.ZerosLike(false)))
			}
			defer torchx.DropAll(bm)
			defer torchx.DropAll(bv)
			smp, err := data.Shuffled(d.Indices(), c.BatchSize, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			ep := smp.Epoch(0)
			for k := range 3 {
				step := int64(k + 1)
				la, _, err := trainStep(a, opt, nil, d, ep.Batch(k), ep.Rand(k), c, 1e-3, step)
				if err != nil {
					t.Fatal(err)
				}
				lb := perTensorStep(t, b, bt, bm, bv, d, ep.Batch(k), c, 1e-3, step)
				if la != lb {
					t.Errorf("step %d: loss %v (flat) vs %v (per tensor)", step, la, lb)
				}
				pa, pb := a.Params(), b.Params()
				for i := range pa {
					x := must(torchx.Values[float32](pa[i].Tensor))
					y := must(torchx.Values[float32](pb[i].Tensor))
					for j := range x {
						if x[j] != y[j] {
							t.Fatalf("step %d: %s[%d] = %v (flat) vs %v (per tensor)", step, pa[i].Name, j, x[j], y[j])
						}
					}
				}
			}
		})
	}
}

// perTensorStep is trainStep as it was before the flat buffers.
func perTensorStep(t *testing.T, m models.Model, params, mm, vv []*ts.Tensor, d *data.Dataset, idx []int, c Config, lr float64, step int64) float64 {
	t.Helper()
	torchx.Seed(stepSeed(c.Seed, step))
	b := must(torchdata.NewBatch(d, idx, c.Augment, nil))
	defer b.Close()
	logits := must(m.Forward(b.Images, models.Train, nil))
	defer logits.MustDrop()
	loss := must(Loss(logits, b))
	defer loss.MustDrop()
	lv := must(Scalar(loss))
	grads := must(torchx.Grad(loss, params))
	// The weight gradients of convolutions on channels-last activations
	// come out channels-last; the flat buffer holds every gradient in the
	// standard layout, and the clipping norms sum in memory order, so the
	// reference takes them in that layout too (otherwise the two norms
	// differ in the last bit).
	for i, g := range grads {
		grads[i] = must(g.Contiguous(true))
	}
	defer torchx.DropAll(grads)
	must(torchx.ClipGradNorm(grads, c.Clip))
	if err := torchx.AdamWStep(params, grads, mm, vv, lr, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, step); err != nil {
		t.Fatal(err)
	}
	return lv
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}

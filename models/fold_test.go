package models_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestInferenceFusionMatches compares inference passes (evaluation mode
// without gradients) with batch norm folded into the convolutions and
// in-place ReLUs and additions, or with convolution, addition and ReLU
// fused in one oneDNN call (FuseConv), against the same passes computed op
// by op (FoldBN off), on generic weights: the logits and every probed layer's
// output, relative difference at most 1e-5 (the folded weights w·α are
// rounded to float32 once, the unfolded pass rounds y and y·α + β
// separately; measured 3e-7..5e-7). The probes also check that no in-place
// operation touched a tensor already handed to a probe: each layer's output
// is read again after the pass (an addition done in place into a block's
// input fails this). A lesioned block (the shortcut alone) and spatial
// smoothing take the other branches. The ResNets only: AlterNet's passes
// are computed op by op (see foldBN). Passes with gradients or in training
// mode do not fold: there the switch changes no bit.
func TestInferenceFusionMatches(t *testing.T) {
	runtime.LockOSThread() // one OS thread, one OpenMP count: bit comparisons
	defer runtime.UnlockOSThread()
	if _, err := torchx.SetThreads(torchx.Threads()); err != nil {
		t.Fatal(err)
	}
	defer func(was bool) { *models.FoldBN = was }(*models.FoldBN)
	for _, c := range []struct {
		what, name string
		edit       func(*models.Config)
		lesion     []int
	}{
		{what: "resnet-mini", name: "resnet-mini"},
		{what: "resnet-mini blur", name: "resnet-mini", edit: func(c *models.Config) { c.Blur = true }},
		{what: "resnet-mini lesion 2", name: "resnet-mini", lesion: []int{2}},
	} {
		t.Run(c.what, func(t *testing.T) {
			cfg := must(models.Defaults(c.name))
			if c.edit != nil {
				c.edit(&cfg)
			}
			torchx.Seed(5)
			m := must(models.New(c.name, cfg, gotch.CPU))
			defer m.Close()
			perturb(t, m, rand.New(rand.NewPCG(5, 1)))
			if c.lesion != nil {
				if err := m.(models.Lesioner).SetLesion(c.lesion...); err != nil {
					t.Fatal(err)
				}
			}
			x := must(ts.Randn([]int64{5, 1, 32, 32}, gotch.Float, gotch.CPU))
			defer x.MustDrop()
			type pass struct {
				logits []float64
				layers map[string][]float64
			}
			run := func(fold, grad bool, mode models.Mode) pass {
				*models.FoldBN = fold
				held := map[string]*ts.Tensor{}
				seen := map[string][]float64{}
				probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
					held[l.Name] = out.MustShallowClone()
					v, err := torchx.Values[float64](out)
					seen[l.Name] = v
					return err
				})
				var out *ts.Tensor
				fwd := func() error {
					var err error
					out, err = m.Forward(x, mode, probe)
					return err
				}
				var err error
				if grad {
					err = fwd()
				} else {
					err = torchx.NoGrad(fwd)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer out.MustDrop()
				for name, h := range held {
					again := must(torchx.Values[float64](h))
					h.MustDrop()
					if relDiff(again, seen[name]) != 0 {
						t.Errorf("fold %v: the output of %s changed after the probe saw it", fold, name)
					}
				}
				return pass{flatten(t, []*ts.Tensor{out}), seen}
			}
			off := run(false, false, models.Eval)
			for _, fuse := range []bool{true, false} {
				*models.FuseConv = fuse
				on := run(true, false, models.Eval)
				*models.FuseConv = true
				worst := relDiff(on.logits, off.logits)
				for name, v := range off.layers {
					worst = max(worst, relDiff(on.layers[name], v))
				}
				t.Logf("inference, folded (fused convolutions %v) against op by op: largest relative difference %.2g over logits and %d layers", fuse, worst, len(off.layers))
				if !(worst <= 1e-5) {
					t.Errorf("folded inference (fused convolutions %v) differs from the op-by-op pass by %.3g relative, want <= 1e-5", fuse, worst)
				}
			}
			for _, k := range []struct {
				what string
				mode models.Mode
			}{{"evaluation with gradients", models.Eval}, {"training", models.Train}} {
				a, b := run(true, true, k.mode), run(false, true, k.mode)
				if d := relDiff(a.logits, b.logits); d != 0 {
					t.Errorf("%s: the switch changed the logits by %.3g", k.what, d)
				}
			}
		})
	}
}

// TestKeptFoldsFollowTheWeights: the ResNets keep their inference passes'
// batch-norm folds between passes (folds). After in-place writes of the
// kind each user makes (CopyIn of a convolution's weight and of a norm's
// running variance, as a landscape point does; a training pass, which
// moves the running statistics; every parameter written; the trainer's
// AdamW step, which writes the buffer the parameters were packed into)
// the next inference pass must agree with the op-by-op pass at the new
// weights, and differ from the pass before the write; two passes with no
// write between them give the same bits.
func TestKeptFoldsFollowTheWeights(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := torchx.SetThreads(torchx.Threads()); err != nil {
		t.Fatal(err)
	}
	defer func(was bool) { *models.FoldBN = was }(*models.FoldBN)
	torchx.Seed(6)
	m := must(models.New("resnet-mini", must(models.Defaults("resnet-mini")), gotch.CPU))
	defer m.Close()
	rng := rand.New(rand.NewPCG(6, 2))
	perturb(t, m, rng)
	x := must(ts.Randn([]int64{4, 1, 32, 32}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	pass := func(fold bool, mode models.Mode) []float64 {
		*models.FoldBN = fold
		var out *ts.Tensor
		f := func() (err error) { out, err = m.Forward(x, mode, nil); return err }
		var err error
		if mode == models.Eval {
			err = torchx.NoGrad(f)
		} else {
			err = f()
		}
		if err != nil {
			t.Fatal(err)
		}
		defer out.MustDrop()
		return flatten(t, []*ts.Tensor{out})
	}
	param := func(name string) *ts.Tensor {
		for _, p := range m.Params() {
			if p.Name == name {
				return p.Tensor
			}
		}
		t.Fatalf("no parameter %s", name)
		return nil
	}
	scaled := func(p *ts.Tensor, s float32) {
		v := must(torchx.Values[float32](p))
		for i := range v {
			v[i] *= s
		}
		if err := torchx.NoGrad(func() error { return torchx.CopyIn(p, v) }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, before []float64) []float64 {
		t.Helper()
		kept := pass(true, models.Eval)
		again := pass(true, models.Eval)
		fresh := pass(false, models.Eval)
		if d := relDiff(kept, fresh); !(d <= 1e-5) {
			t.Errorf("%s: the kept folds' pass differs from the op-by-op pass by %.3g relative", what, d)
		}
		if relDiff(kept, again) != 0 {
			t.Errorf("%s: two passes without a write differ", what)
		}
		if before != nil && relDiff(kept, before) < 1e-4 {
			t.Errorf("%s: the pass did not change (relative change %.3g)", what, relDiff(kept, before))
		}
		return kept
	}
	out := check("first pass", nil)
	scaled(param("layer1.0.conv1.weight"), 1.5)
	out = check("a convolution's weight written", out)
	scaled(param("layer2.0.bn2.running_var"), 3)
	out = check("a running variance written", out)
	pass(true, models.Train) // moves every norm's running statistics
	out = check("after a training pass", out)
	var trainable []*ts.Tensor
	for _, p := range m.Params() {
		if p.Trainable() {
			scaled(p.Tensor, 0.9)
			trainable = append(trainable, p.Tensor)
		}
	}
	out = check("every parameter scaled", out)
	// The trainer's optimiser writes through the packed buffer only.
	flat := must(torchx.Pack(trainable))
	defer flat.MustDrop()
	n := must(flat.Size())
	grad := must(ts.Randn(n, gotch.Float, gotch.CPU))
	m1 := must(ts.Zeros(n, gotch.Float, gotch.CPU))
	v1 := must(ts.Zeros(n, gotch.Float, gotch.CPU))
	defer torchx.DropAll([]*ts.Tensor{grad, m1, v1})
	pass(true, models.Eval) // folds of the packed weights, kept
	if err := torchx.AdamWStep([]*ts.Tensor{flat}, []*ts.Tensor{grad}, []*ts.Tensor{m1}, []*ts.Tensor{v1},
		0.05, 0.9, 0.999, 1e-8, 0, 1); err != nil {
		t.Fatal(err)
	}
	check("an AdamW step through the packed buffer", out)
}

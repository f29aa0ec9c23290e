package models_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// outputs runs m in eval mode and returns the logits and every layer's
// output, by layer index.
func outputs(t *testing.T, m models.Model, x *ts.Tensor) ([]float32, map[int][]float32) {
	t.Helper()
	layers := map[int][]float32{}
	probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
		v, err := torchx.Values[float32](out)
		layers[l.Index] = v
		return err
	})
	var logits []float32
	err := torchx.NoGrad(func() error {
		y, err := m.Forward(x, models.Eval, probe)
		if err != nil {
			return err
		}
		defer y.MustDrop()
		logits, err = torchx.Values[float32](y)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return logits, layers
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] == 0 && b[i] == 0) {
			return false
		}
	}
	return true
}

// branchEnd names the parameters that scale a residual branch's output:
// zeroing them makes the branch contribute exact zeros.
func branchEnd(name string, r models.Residual) []string {
	l := r.Layer.Name
	switch {
	case strings.HasPrefix(name, "resnet"):
		return []string{l + ".bn2.weight", l + ".bn2.bias"} // basic blocks
	case strings.HasPrefix(name, "vit") && r.Layer.Kind == models.KindMSA:
		return []string{l + ".proj.weight", l + ".proj.bias"}
	case strings.HasPrefix(name, "vit"):
		return []string{l + ".fc2.weight", l + ".fc2.bias"}
	case r.Layer.Kind == models.KindMSA:
		return []string{l + ".attn.proj.weight", l + ".attn.proj.bias"}
	}
	return []string{l + ".conv3.weight"}
}

// TestLesion checks the lesion hook of the mini presets against an
// independent construction: switching a residual branch off gives, bit for
// bit, the outputs of the same model whose branch ends in zeroed weights.
// It also checks which branches have identity shortcuts, that an identity
// block then passes its input on, and that clearing the lesion restores
// the original outputs exactly.
func TestLesion(t *testing.T) {
	for name, want := range map[string]string{
		// layer: "I" identity shortcut, "P" projection shortcut.
		"resnet-mini":   "layer1.0:I layer2.0:P layer3.0:P layer4.0:P",
		"alternet-mini": "layer1.0:P layer2.0:P layer2.1:I layer3.0:P layer3.1:I layer4.0:P layer4.1:I",
		"vit-mini": "blocks.0.attn:I blocks.0.mlp:I blocks.1.attn:I blocks.1.mlp:I blocks.2.attn:I blocks.2.mlp:I " +
			"blocks.3.attn:I blocks.3.mlp:I blocks.4.attn:I blocks.4.mlp:I blocks.5.attn:I blocks.5.mlp:I",
	} {
		t.Run(name, func(t *testing.T) {
			m := build(t, name, nil)
			perturb(t, m, rand.New(rand.NewPCG(3, 4)))
			les, ok := m.(models.Lesioner)
			if !ok {
				t.Fatalf("%s does not implement models.Lesioner", name)
			}
			var got []string
			for _, r := range les.Residuals() {
				s := "P"
				if r.Identity {
					s = "I"
				}
				got = append(got, r.Layer.Name+":"+s)
			}
			if strings.Join(got, " ") != want {
				t.Fatalf("residual branches %s, want %s", strings.Join(got, " "), want)
			}
			x := input(t, m.Spec().Config, 3)
			base, baseLayers := outputs(t, m, x)
			for _, r := range les.Residuals() {
				if err := les.SetLesion(r.Layer.Index); err != nil {
					t.Fatal(err)
				}
				logits, layers := outputs(t, m, x)
				// The reference: a second copy of the model with the
				// branch's last weights set to zero.
				ref := build(t, name, nil)
				perturb(t, ref, rand.New(rand.NewPCG(3, 4)))
				zeroed := 0
				for _, p := range ref.Params() {
					for _, n := range branchEnd(name, r) {
						if p.Name == n {
							shape := p.Shape
							k := 1
							for _, s := range shape {
								k *= int(s)
							}
							if err := torchx.CopyIn(p.Tensor, make([]float32, k)); err != nil {
								t.Fatal(err)
							}
							zeroed++
						}
					}
				}
				if zeroed != len(branchEnd(name, r)) {
					t.Fatalf("%s: zeroed %d of the parameters %v", r.Layer.Name, zeroed, branchEnd(name, r))
				}
				refLogits, refLayers := outputs(t, ref, x)
				if !same(logits, refLogits) {
					t.Errorf("%s lesioned: logits differ from the model with the branch's weights zeroed", r.Layer.Name)
				}
				for i, v := range refLayers {
					if !same(layers[i], v) {
						t.Errorf("%s lesioned: layer %d differs from the zeroed model's", r.Layer.Name, i)
					}
				}
				if r.Identity && !same(layers[r.Layer.Index], baseLayers[r.Layer.Index-1]) {
					t.Errorf("%s lesioned: the block does not pass its input on", r.Layer.Name)
				}
				if same(logits, base) {
					t.Errorf("%s lesioned: logits unchanged (the hook had no effect)", r.Layer.Name)
				}
				if l := les.Lesioned(); len(l) != 1 || l[0] != r.Layer.Index {
					t.Errorf("Lesioned() = %v, want [%d]", l, r.Layer.Index)
				}
			}
			if err := les.SetLesion(); err != nil {
				t.Fatal(err)
			}
			logits, _ := outputs(t, m, x)
			if !same(logits, base) {
				t.Error("clearing the lesion does not restore the original logits bit for bit")
			}
			// Two branches at once, then errors that change nothing.
			rs := les.Residuals()
			if err := les.SetLesion(rs[0].Layer.Index, rs[len(rs)-1].Layer.Index); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []int{0, len(m.Layers()) - 1, 999, -1} {
				err := les.SetLesion(bad)
				if err == nil {
					t.Errorf("SetLesion(%d): want an error (not a residual branch)", bad)
				}
				if got := fmt.Sprint(les.Lesioned()); got != fmt.Sprint([]int{rs[0].Layer.Index, rs[len(rs)-1].Layer.Index}) {
					t.Errorf("after a failed SetLesion(%d) the lesion is %s", bad, got)
				}
			}
			if err := les.SetLesion(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

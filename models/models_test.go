package models_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func build(t testing.TB, name string, mod func(*models.Config)) models.Model {
	t.Helper()
	cfg := must(models.Defaults(name))
	if mod != nil {
		mod(&cfg)
	}
	torchx.Seed(1)
	m, err := models.New(name, cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func input(t testing.TB, cfg models.Config, b int64) *ts.Tensor {
	x := must(ts.Randn([]int64{b, int64(cfg.InChannels), int64(cfg.ImageSize), int64(cfg.ImageSize)}, gotch.Float, gotch.CPU))
	t.Cleanup(func() { x.MustDrop() })
	return x
}

func TestOutputShapes(t *testing.T) {
	for _, name := range models.Names() {
		if testing.Short() && !strings.HasSuffix(name, "-mini") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m := build(t, name, nil)
			cfg := m.Spec().Config
			for _, mode := range []models.Mode{models.Eval, models.Train} {
				var seen []models.Layer
				probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
					seen = append(seen, l)
					return nil
				})
				y, err := m.Forward(input(t, cfg, 2), mode, probe)
				if err != nil {
					t.Fatal(err)
				}
				shape := must(y.Size())
				y.MustDrop()
				if len(shape) != 2 || shape[0] != 2 || shape[1] != int64(cfg.Classes) {
					t.Fatalf("mode %d: output shape %v, want [2 %d]", mode, shape, cfg.Classes)
				}
				layers := m.Layers()
				if len(seen) != len(layers) {
					t.Fatalf("probe saw %d layers, model lists %d", len(seen), len(layers))
				}
				for i := range seen {
					if seen[i] != layers[i] || seen[i].Index != i {
						t.Fatalf("layer %d: probe saw %+v, list has %+v", i, seen[i], layers[i])
					}
				}
			}
		})
	}
}

// Reference parameter counts from PyTorch 1.13 (Debian's python3-torch and
// python3-torchvision 0.14), by reference/pytorch/count_params.py:
// (reference_test.go checks every other preset against refmodels.py)
// torchvision's resnet18/resnet50 (num_classes=100) with conv1 replaced by
// a 3x3 stride-1 convolution and the max-pool removed, and the plain
// PyTorch ViT-Ti of reference/pytorch/refmodels.py.
func TestParamCounts(t *testing.T) {
	if testing.Short() {
		t.Skip("paper-sized models")
	}
	for name, want := range map[string]int64{
		"resnet18": 11220132,
		"resnet50": 23705252,
	} {
		m := build(t, name, nil)
		if got := models.NumParams(m); got != want {
			t.Errorf("%s: %d parameters, PyTorch has %d", name, got, want)
		}
	}
}

func TestParamsSortedAndKinds(t *testing.T) {
	m := build(t, "vit-mini", nil)
	ps := m.Params()
	kinds := map[string]models.ParamKind{}
	for i, p := range ps {
		if i > 0 && ps[i-1].Name >= p.Name {
			t.Fatalf("params not sorted: %s before %s", ps[i-1].Name, p.Name)
		}
		kinds[p.Name] = p.Kind
	}
	for name, want := range map[string]models.ParamKind{
		"patch_embed.proj.weight":  models.ParamWeight,
		"patch_embed.proj.bias":    models.ParamBias,
		"cls_token":                models.ParamToken,
		"pos_embed":                models.ParamPosEmbed,
		"blocks.0.attn.qkv.weight": models.ParamWeight,
		"blocks.0.norm1.weight":    models.ParamNormScale,
		"blocks.5.mlp.fc2.bias":    models.ParamBias,
		"norm.bias":                models.ParamNormShift,
		"head.weight":              models.ParamWeight,
	} {
		got, ok := kinds[name]
		if !ok || got != want {
			t.Errorf("%s: kind %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := kinds["blocks.0.attn.qkv.bias"]; ok {
		t.Error("vit-mini has a qkv bias; timm's ViT in the paper has none")
	}
}

func TestBadInput(t *testing.T) {
	_, err := models.New("vit-giant", models.Config{Classes: 10, InChannels: 1, ImageSize: 32}, gotch.CPU)
	var unknown *errs.UnknownModelError
	if !errors.As(err, &unknown) || unknown.Name != "vit-giant" || !strings.Contains(err.Error(), "resnet-mini") {
		t.Errorf("unknown model: %v; want an *errs.UnknownModelError listing the known names", err)
	}
	for _, c := range []struct {
		name string
		cfg  models.Config
		want string
	}{
		{"vit-mini", models.Config{Classes: 10, InChannels: 1, ImageSize: 30}, "patch size"},
		{"resnet-mini", models.Config{Classes: 1, InChannels: 1, ImageSize: 32}, "classes"},
		{"resnet-mini", models.Config{Classes: 10, InChannels: 0, ImageSize: 32}, "in_channels"},
		{"alternet-mini", models.Config{Classes: 10, InChannels: 1, ImageSize: 24}, "window"},
		{"resnet-mini", models.Config{Classes: 10, InChannels: 1, ImageSize: 32, GAPHead: true}, "GAP"},
		{"resnet-mini", models.Config{Classes: 10, InChannels: 1, ImageSize: 32, DropPath: 1}, "drop path"},
	} {
		_, err := models.New(c.name, c.cfg, gotch.CPU)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v; want an error mentioning %q", c.name, c.cfg, err, c.want)
		}
	}
	if _, err := models.New("resnet-mini", must(models.Defaults("resnet-mini")), gotch.CudaIfAvailable()); err != nil {
		t.Logf("(CUDA check) %v", err)
	}
	if _, err := models.New("resnet-mini", must(models.Defaults("resnet-mini")), gotch.Device{Name: "CUDA", Value: 0}); err == nil && !torchx.CUDAAvailable() {
		t.Error("CUDA device without CUDA: want an error")
	}
	m := build(t, "resnet-mini", nil)
	x := must(ts.Randn([]int64{2, 3, 32, 32}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	if _, err := m.Forward(x, models.Eval, nil); err == nil || !strings.Contains(err.Error(), "want (B, 1, 32, 32)") {
		t.Errorf("wrong input channels: %v", err)
	}
}

// TestTorchErrorIsAnError: an input of an element type gotch cannot name
// (complex) made Tensor.DType log.Fatal inside Forward, ending the
// caller's process; Forward returns an error instead.
func TestTorchErrorIsAnError(t *testing.T) {
	m := build(t, "resnet-mini", nil)
	var s torchx.Scope
	defer s.Close()
	pairs := s.Add(must(ts.Zeros([]int64{2, 1, 32, 32, 2}, gotch.Double, gotch.CPU)))
	x := s.Add(must(pairs.ViewAsComplex(false)))
	if _, err := m.Forward(x, models.Eval, nil); err == nil || !strings.Contains(err.Error(), "element type") {
		t.Errorf("complex input: %v, want an error about its element type", err)
	}
	if _, err := m.Forward(s.Add(ts.NewTensor()), models.Eval, nil); err == nil {
		t.Error("undefined input: no error")
	}
}

// TestParamsHaveOneHandle checks that a new model's tensors are held by
// the model alone (one handle each), so that Close frees them: the
// initialisers' in-place fills go through torchx.InPlace (gotch's in-place
// methods leave a second, unreachable handle: 75 of the three minis'
// tensors had two before). The training pass with drop path runs the
// in-place Bernoulli mask of each block, which goes through InPlace too.
func TestParamsHaveOneHandle(t *testing.T) {
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		cfg := must(models.Defaults(name))
		cfg.DropPath = 0.1
		m := must(models.New(name, cfg, gotch.CPU))
		x := must(ts.Randn([]int64{2, 1, 32, 32}, gotch.Float, gotch.CPU))
		out := must(m.Forward(x, models.Train, nil))
		out.MustDrop()
		x.MustDrop()
		for _, p := range m.Params() {
			if n := torchx.UseCount(p.Tensor); n != 1 {
				t.Errorf("%s: %s is shared by %d handles after New and a training pass, want 1", name, p.Name, n)
			}
		}
		m.Close()
	}
}

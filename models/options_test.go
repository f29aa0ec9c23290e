package models_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// state returns every tensor of m by name, as float32 values.
func state(t testing.TB, m models.Model) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range m.Params() {
		out[p.Name] = must(torchx.Values[float32](p.Tensor))
	}
	return out
}

// TestPatternPresetIsTheBase: a preset string spelling out a preset's own
// pattern builds the same network: the same tensors, initialised to the
// same values from the same seed, and the same layers.
func TestPatternPresetIsTheBase(t *testing.T) {
	for _, c := range []struct{ base, name string }{
		{"alternet-mini", "alternet-mini:C,CM,CM,CM"},
		{"alternet-mini", "alternet-mini:C,CM,CM,CM:heads=0,2,4,8"},
	} {
		a, b := build(t, c.base, nil), build(t, c.name, nil)
		sa, sb := state(t, a), state(t, b)
		if len(sa) != len(sb) {
			t.Fatalf("%s: %d tensors, %s: %d", c.base, len(sa), c.name, len(sb))
		}
		for n, v := range sa {
			if !slices.Equal(v, sb[n]) {
				t.Errorf("%s: tensor %s differs from %s's", c.name, n, c.base)
			}
		}
		if !slices.Equal(a.Layers(), b.Layers()) || b.Spec().Name != c.name {
			t.Errorf("%s: layers or name differ: %v, %q", c.name, b.Layers(), b.Spec().Name)
		}
	}
}

func blockLetters(m models.Model) string {
	var s strings.Builder
	for _, l := range m.Layers() {
		switch l.Kind {
		case models.KindMSA:
			s.WriteByte('M')
		case models.KindConv, models.KindDown:
			s.WriteByte('C')
		}
	}
	return s.String()
}

func TestPatternPresets(t *testing.T) {
	for _, c := range []struct {
		name   string
		blocks string
		params int64
	}{
		// The convolutional baseline of alternet-mini and a build-up step.
		{"alternet-mini:C,CC,CC,CC", "CCCCCCC", 0},
		{"alternet-mini:C,CC,CC,CCCM", "CCCCCCCCM", 0},
		// An MSA block in the first stage takes the first stage's head count.
		{"alternet-mini:CM,CM,CM,CM:heads=1,2,4,8", "CMCMCMCM", 0},
	} {
		m := build(t, c.name, nil)
		if got := blockLetters(m); got != c.blocks {
			t.Errorf("%s: blocks %s, want %s", c.name, got, c.blocks)
		}
		y, err := m.Forward(input(t, m.Spec().Config, 2), models.Train, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if shape := must(y.Size()); !slices.Equal(shape, []int64{2, 10}) {
			t.Errorf("%s: output %v", c.name, shape)
		}
		y.MustDrop()
		doc := must(models.Describe(c.name))
		if !strings.Contains(doc, strings.ReplaceAll(strings.Split(c.name, ":")[1], ",", "|")) {
			t.Errorf("Describe(%s) = %q does not show the pattern", c.name, doc)
		}
	}
	// The heads of stage 2 count: 4 heads of 16 dims make a qkv
	// projection of 3·64 outputs.
	m := build(t, "alternet-mini:C,CM,CC,CC:heads=1,4,4,8", nil)
	for _, p := range m.Params() {
		if p.Name == "layer2.1.attn.qkv.weight" && p.Shape[0] != 3*4*16 {
			t.Errorf("%s: shape %v, want %d outputs", p.Name, p.Shape, 3*4*16)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	cfg := must(models.Defaults("alternet-mini"))
	for _, c := range []struct {
		name    string
		mod     func(*models.Config)
		errPart string
	}{
		{"resnet-mini:C,C,C,C", nil, "AlterNet-family base"},
		{"alternet-mini:C,CM,CM", nil, "3 stages, but alternet-mini has 4"},
		{"alternet-mini:C,CM,CM,CX", nil, "is not C"},
		{"alternet-mini:C,CM,CM,CM", func(c *models.Config) { c.GAPHead = true }, "GAP head"},
		{"resnet-mini", func(c *models.Config) { c.Window = 3 }, "attention window option"},
		{"vit-mini", func(c *models.Config) { c.Blur = true }, "not to ViT"},
		{"vit-mini", func(c *models.Config) { c.Window = 4 }, "odd size"},
		{"vit-mini", func(c *models.Config) { c.Window = -1 }, "odd size"},
	} {
		c2 := cfg
		if d, err := models.Defaults(c.name); err == nil {
			c2 = d
		}
		if c.mod != nil {
			c.mod(&c2)
		}
		m, err := models.New(c.name, c2, gotch.CPU)
		if err == nil {
			m.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.errPart) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.errPart)
		}
	}
}

// attnOut runs m on x and returns the output of the first attention
// sub-block, blocks.0.attn, as (N, D) values of image 0.
func attnOut(t *testing.T, m models.Model, x *ts.Tensor) ([]float32, int) {
	t.Helper()
	var vals []float32
	var n int
	probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
		if l.Name == "blocks.0.attn" {
			shape := must(out.Size())
			n = int(shape[1])
			vals = must(torchx.Values[float32](out))[:shape[1]*shape[2]]
		}
		return nil
	})
	y, err := m.Forward(x, models.Eval, probe)
	if err != nil {
		t.Fatal(err)
	}
	y.MustDrop()
	return vals, n
}

// TestLocalAttention: with a window of w, a change of the top-left patch
// changes, after one attention layer, exactly the patch tokens within
// (w-1)/2 rows and columns of it (and the class token); with global
// attention every token; a window covering the grid is global attention.
func TestLocalAttention(t *testing.T) {
	cfg := must(models.Defaults("vit-mini"))
	x := input(t, cfg, 1)
	// The same images with the top-left 4x4 patch changed.
	xs := must(torchx.Values[float32](x))
	for r := 0; r < 4; r++ {
		for c := 0; c < 4; c++ {
			xs[r*32+c] += 3
		}
	}
	x2 := must(ts.OfSlice(xs))
	x2 = must(x2.Reshape([]int64{1, 1, 32, 32}, true))
	t.Cleanup(func() { x2.MustDrop() })

	global := build(t, "vit-mini", nil)
	g0, n := attnOut(t, global, x)
	for _, w := range []int{0, 3, 5, 15} {
		m := build(t, "vit-mini", func(c *models.Config) { c.Window = w })
		a, _ := attnOut(t, m, x)
		b, _ := attnOut(t, m, x2)
		d := len(a) / n
		for tok := 1; tok < n; tok++ {
			row, col := (tok-1)/8, (tok-1)%8
			near := w == 0 || (row <= (w-1)/2 && col <= (w-1)/2)
			diff := 0.0
			for j := 0; j < d; j++ {
				diff = math.Max(diff, math.Abs(float64(a[tok*d+j]-b[tok*d+j])))
			}
			if near && diff < 1e-5 {
				t.Errorf("window %d: token (%d, %d) sees the changed patch but did not change (%.3g)", w, row, col, diff)
			}
			if !near && diff > 1e-7 {
				t.Errorf("window %d: token (%d, %d) is outside the window but changed by %.3g", w, row, col, diff)
			}
		}
		if w == 15 {
			for i := range a {
				if math.Abs(float64(a[i]-g0[i])) > 1e-5 {
					t.Fatalf("window 15 over an 8x8 grid differs from global attention at %d: %g vs %g", i, a[i], g0[i])
				}
			}
		}
	}
}

// TestBlur: spatial smoothing adds no parameters and changes nothing
// before the first down-sampling block, and changes it and what follows.
func TestBlur(t *testing.T) {
	for _, name := range []string{"resnet-mini", "alternet-mini"} {
		plain := build(t, name, nil)
		blur := build(t, name, func(c *models.Config) { c.Blur = true })
		sp, sb := state(t, plain), state(t, blur)
		if len(sp) != len(sb) || models.NumParams(plain) != models.NumParams(blur) {
			t.Fatalf("%s: blur changes the tensors: %d vs %d", name, len(sp), len(sb))
		}
		x := input(t, plain.Spec().Config, 2)
		outs := func(m models.Model) map[string][]float32 {
			o := map[string][]float32{}
			y, err := m.Forward(x, models.Eval, models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
				o[l.Name] = must(torchx.Values[float32](out))
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			y.MustDrop()
			return o
		}
		op, ob := outs(plain), outs(blur)
		down := false
		for _, l := range plain.Layers() {
			if l.Kind == models.KindDown {
				down = true
			}
			same := slices.Equal(op[l.Name], ob[l.Name])
			if same == down {
				t.Errorf("%s: layer %s (%v) is %s with blur; want it %s", name, l.Name, l.Kind,
					map[bool]string{true: "unchanged", false: "changed"}[same], map[bool]string{true: "changed", false: "unchanged"}[down])
			}
		}
	}
}

func TestHeadParams(t *testing.T) {
	for name, want := range map[string][]string{
		"resnet-mini":   {"fc.bias", "fc.weight"},
		"alternet-mini": {"fc.bias", "fc.weight"},
		"vit-mini":      {"head.bias", "head.weight"},
	} {
		if got := models.HeadParams(build(t, name, nil)); !slices.Equal(got, want) {
			t.Errorf("HeadParams(%s) = %v, want %v", name, got, want)
		}
	}
}

package models

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models/pattern"
)

// checkOptions refuses the options of Config that preset name's family
// does not have: the GAP head and the attention window are ViT's, spatial
// smoothing is for networks that down-sample (ResNet, AlterNet).
func checkOptions(name string, isViT bool, c Config) error {
	switch {
	case c.GAPHead && !isViT:
		return errGAP(name)
	case c.Window != 0 && !isViT:
		return fmt.Errorf("models: %s: the attention window option applies to ViT presets only", name)
	case c.Blur && isViT:
		return fmt.Errorf("models: %s: spatial smoothing (blur) applies to presets that down-sample (ResNet, AlterNet), not to ViT", name)
	}
	return nil
}

// alterBases holds the architectures that preset strings with a block
// pattern can start from, by preset name (filled by presets.go).
var alterBases = map[string]alterArch{}

// patternPreset returns the preset a string "BASE:PATTERN[:heads=...]"
// describes (package pattern): the base's stem, widths, head size and
// window, with its stages replaced by the pattern. Stage s keeps the base's
// width of stage s, so the pattern must have as many stages as the base.
func patternPreset(name string) (preset, error) {
	n, err := pattern.ParseName(name)
	if err != nil {
		return preset{}, fmt.Errorf("models: %w", err)
	}
	base, ok := alterBases[n.Base]
	if !ok {
		known := make([]string, 0, len(alterBases))
		for k := range alterBases {
			known = append(known, k)
		}
		return preset{}, fmt.Errorf("models: %q: a block pattern needs an AlterNet-family base preset, not %q (known: %s)",
			name, n.Base, strings.Join(sorted(known), ", "))
	}
	if len(n.Stages) != len(base.pattern) {
		return preset{}, fmt.Errorf("models: %q: %d stages, but %s has %d", name, len(n.Stages), n.Base, len(base.pattern))
	}
	a := base
	a.pattern = append([]string(nil), n.Stages...)
	if n.Heads != nil {
		a.heads = append([]int(nil), n.Heads...)
	}
	basePreset := registry[n.Base]
	doc := fmt.Sprintf("%s with the block pattern %s (C convolution, M MSA), %s heads of %d dims per stage, window %d",
		n.Base, strings.Join(n.Stages, "|"), joinInts(a.heads, "/"), a.dimHead, a.window)
	return preset{doc: doc, defaults: basePreset.defaults, build: func(c Config, d gotch.Device) (Model, error) {
		if err := checkOptions(name, false, c); err != nil {
			return nil, err
		}
		return newAlterNet(a, c, d, name)
	}}, nil
}

func joinInts(xs []int, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, sep)
}

func sorted(xs []string) []string {
	sort.Strings(xs)
	return xs
}

// HeadParams returns the names of m's classifier parameters: those of its
// head layers (KindHead), e.g. "fc.weight" and "fc.bias" or "head.weight"
// and "head.bias". Fine-tuning for another number of classes starts them
// afresh.
func HeadParams(m Model) []string {
	var prefixes []string
	for _, l := range m.Layers() {
		if l.Kind == KindHead {
			prefixes = append(prefixes, l.Name+".")
		}
	}
	var out []string
	for _, p := range m.Params() {
		for _, pre := range prefixes {
			if strings.HasPrefix(p.Name, pre) {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out
}

// blurKernel is the 3x3 binomial low-pass filter [1 2 1]ᵀ[1 2 1]/16 of
// spatial smoothing, shaped (1, 1, 3, 3).
func blurKernel(dev gotch.Device) (*ts.Tensor, error) {
	k := []float32{1, 2, 1, 2, 4, 2, 1, 2, 1}
	for i := range k {
		k[i] /= 16
	}
	t, err := ts.OfSlice(k)
	if err != nil {
		return nil, fmt.Errorf("models: blur kernel: %w", err)
	}
	r, err := t.Reshape([]int64{1, 1, 3, 3}, true)
	if err != nil {
		return nil, fmt.Errorf("models: blur kernel: %w", err)
	}
	if dev != gotch.CPU {
		d, err := r.To(dev, true)
		if err != nil {
			return nil, err
		}
		r = d
	}
	return r, nil
}

// blur filters every channel of a (B, C, H, W) map with the (1, 1, 3, 3)
// kernel k, zero-padded (the size is kept; the border darkens, as with the
// reference code's zero padding). It is a depthwise convolution (the
// kernel repeated per channel), so the map keeps its layout (channels-last
// on the CPU) and its second derivatives take f.conv's path.
func (f *fwd) blur(x, k *ts.Tensor) *ts.Tensor {
	shape, ok := f.size(x)
	if !ok || !f.ok(k) {
		return nil
	}
	w := f.t(k.Repeat([]int64{shape[1], 1, 1, 1}, false))
	if !f.ok(w) {
		return nil
	}
	return f.conv(x, &conv{w: w, stride: 1, pad: 1, groups: shape[1], in: shape[1], out: shape[1], kernel: 3})
}

// windowMask returns the additive attention mask of local attention over
// a g x g grid of patch tokens (after a class token when cls): 0 where a
// query may attend to a key, -inf elsewhere. Patch tokens attend to the
// patch tokens within Chebyshev distance (window-1)/2 and to the class
// token; the class token attends to every token.
func windowMask(g int64, window int, cls bool, dev gotch.Device) (*ts.Tensor, error) {
	off := int64(0)
	if cls {
		off = 1
	}
	n := g*g + off
	r := int64(window-1) / 2
	m := make([]float32, n*n)
	inf := float32(math.Inf(-1))
	for q := off; q < n; q++ {
		qr, qc := (q-off)/g, (q-off)%g
		for k := off; k < n; k++ {
			kr, kc := (k-off)/g, (k-off)%g
			if abs64(kr-qr) > r || abs64(kc-qc) > r {
				m[q*n+k] = inf
			}
		}
	}
	t, err := ts.OfSlice(m)
	if err != nil {
		return nil, fmt.Errorf("models: attention mask: %w", err)
	}
	t2, err := t.Reshape([]int64{n, n}, true)
	if err != nil {
		return nil, fmt.Errorf("models: attention mask: %w", err)
	}
	if dev != gotch.CPU {
		d, err := t2.To(dev, true)
		if err != nil {
			return nil, err
		}
		t2 = d
	}
	return t2, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

package analysis

import (
	"fmt"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// fpLayer is one probe-able output of an fpModel: out returns the
// layer's values and shape for a batch of b input images x (normalised,
// (b, C, 32, 32) row-major).
type fpLayer struct {
	layer models.Layer
	out   func(x []float32, b int) ([]float32, []int64)
}

// fpModel is a hand-built models.Model for known-answer tests: its layers
// output maps the test chooses, and its logits come from a Go function of
// the input images. Everything reaches the probe as real libtorch tensors,
// through the same Forward/Probe path as the presets.
type fpModel struct {
	name    string
	layers  []fpLayer
	classes int
	logits  func(x []float32, b, c int) []float32 // (b, classes)
}

func (f *fpModel) Spec() models.Spec      { return models.Spec{Name: f.name} }
func (f *fpModel) Params() []models.Param { return nil }
func (f *fpModel) Close()                 {}

func (f *fpModel) Layers() []models.Layer {
	out := make([]models.Layer, len(f.layers))
	for i, l := range f.layers {
		out[i] = l.layer
	}
	return out
}

func (f *fpModel) Forward(x *ts.Tensor, _ models.Mode, probe models.Probe) (*ts.Tensor, error) {
	shape, err := x.Size()
	if err != nil {
		return nil, err
	}
	b, c := int(shape[0]), int(shape[1])
	xs, err := torchx.Values[float32](x)
	if err != nil {
		return nil, err
	}
	for _, l := range f.layers {
		v, s := l.out(xs, b)
		t, err := torchx.FromSlice(v, s, gotch.Float)
		if err != nil {
			return nil, err
		}
		if probe != nil {
			err = probe.Observe(l.layer, t)
		}
		_ = t.Drop()
		if err != nil {
			return nil, fmt.Errorf("fake probe at %s: %w", l.layer.Name, err)
		}
	}
	k := f.classes
	var z []float32
	if f.logits != nil {
		z = f.logits(xs, b, c)
	} else {
		z = make([]float32, b*k)
	}
	return torchx.FromSlice(z, []int64{int64(b), int64(k)}, gotch.Float)
}

// fpConst outputs the value v everywhere, (b, c, n, n).
func fpConst(l models.Layer, c, n int, v float32) fpLayer {
	return fpLayer{layer: l, out: func(_ []float32, b int) ([]float32, []int64) {
		out := make([]float32, b*c*n*n)
		for i := range out {
			out[i] = v
		}
		return out, []int64{int64(b), int64(c), int64(n), int64(n)}
	}}
}

// fpChecker outputs (−1)^(i+j) in every map, (b, c, n, n).
func fpChecker(l models.Layer, c, n int) fpLayer {
	return fpLayer{layer: l, out: func(_ []float32, b int) ([]float32, []int64) {
		out := make([]float32, b*c*n*n)
		for p := 0; p < b*c; p++ {
			for i := range n {
				for j := range n {
					out[(p*n+i)*n+j] = float32(1 - 2*((i+j)%2))
				}
			}
		}
		return out, []int64{int64(b), int64(c), int64(n), int64(n)}
	}}
}

// fpNoise outputs standard Gaussian noise, (b, c, n, n), from a seeded
// generator that advances with every call.
func fpNoise(l models.Layer, c, n int, seed uint64) fpLayer {
	rng := rand.New(rand.NewPCG(seed, 1))
	return fpLayer{layer: l, out: func(_ []float32, b int) ([]float32, []int64) {
		out := make([]float32, b*c*n*n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out, []int64{int64(b), int64(c), int64(n), int64(n)}
	}}
}

// fpInput outputs the input images themselves.
func fpInput(l models.Layer, c int) fpLayer {
	return fpLayer{layer: l, out: func(x []float32, b int) ([]float32, []int64) {
		return append([]float32(nil), x...), []int64{int64(b), int64(c), data.Size, data.Size}
	}}
}

// fpWave is the position encoding of the token test: 1 + cos(2π k0 (r+c)/side)
// at grid position (r, c).
func fpWave(r, c, side, k0 int) float32 {
	return float32(1 + fpCosPi(2*float64(k0*(r+c))/float64(side)))
}

// fpTokens outputs (b, 1 + side², c) tokens: a class token of 1e6 (which
// would dominate every statistic if it were not dropped) followed by the
// patch tokens in row-major grid order, each channel holding fpWave(r, c).
func fpTokens(l models.Layer, side, ch, k0 int) fpLayer {
	return fpLayer{layer: l, out: func(_ []float32, b int) ([]float32, []int64) {
		n := 1 + side*side
		out := make([]float32, b*n*ch)
		for s := range b {
			for t := range n {
				for q := range ch {
					v := float32(1e6)
					if t > 0 {
						p := t - 1
						v = fpWave(p/side, p%side, side, k0)
					}
					out[(s*n+t)*ch+q] = v
				}
			}
		}
		return out, []int64{int64(b), int64(n), int64(ch)}
	}}
}

// fpFlat outputs a non-spatial (b, c) tensor.
func fpFlat(l models.Layer, c int) fpLayer {
	return fpLayer{layer: l, out: func(_ []float32, b int) ([]float32, []int64) {
		return make([]float32, b*c), []int64{int64(b), int64(c)}
	}}
}

// fpDataset returns a one-channel dataset of n images whose pixels come
// from pixel(i, p) and whose labels from label(i).
func fpDataset(n int, pixel func(i, p int) uint8, label func(i int) uint8) *data.Dataset {
	d := &data.Dataset{
		Info:   data.Info{Name: "synthetic", Classes: 2, Channels: 1, Mean: [3]float64{0.5}, Std: [3]float64{0.25}},
		Split:  data.Test,
		Images: make([]uint8, n*data.Size*data.Size),
		Labels: make([]uint8, n),
	}
	for i := range n {
		for p := range data.Size * data.Size {
			d.Images[i*data.Size*data.Size+p] = pixel(i, p)
		}
		d.Labels[i] = label(i)
	}
	return d
}

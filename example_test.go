package vitprobe_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/torchx"
)

// A user-defined probe: the root-mean-square activation of every layer of
// a ViT, in depth order, with the layer's kind.
func Example_customProbe() {
	torchx.Seed(1)
	cfg, _ := models.Defaults("vit-mini")
	m, err := models.New("vit-mini", cfg, gotch.CPU)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	x, _ := ts.Ones([]int64{2, 1, 32, 32}, gotch.Float, gotch.CPU)
	defer x.MustDrop()

	rms := map[int]float64{}
	probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
		v, err := torchx.Values[float32](out) // copy: out is only lent
		if err != nil {
			return err
		}
		var s float64
		for _, a := range v {
			s += float64(a) * float64(a)
		}
		rms[l.Index] = math.Sqrt(s / float64(len(v)))
		return nil
	})
	y, err := m.Forward(x, models.Eval, probe)
	if err != nil {
		panic(err)
	}
	y.MustDrop()
	for _, l := range m.Layers()[:5] {
		fmt.Printf("%-16s %-4s rms>0: %v\n", l.Name, l.Kind, rms[l.Index] > 0)
	}
	fmt.Println("layers observed:", len(rms))
	// Output:
	// patch_embed      stem rms>0: true
	// blocks.0.attn    msa  rms>0: true
	// blocks.0.mlp     mlp  rms>0: true
	// blocks.1.attn    msa  rms>0: true
	// blocks.1.mlp     mlp  rms>0: true
	// layers observed: 14
}

// tinyNet is a user's own gotch model: a 3x3 convolution, ReLU, global
// average pooling and a linear layer, reporting its two layers to probes.
type tinyNet struct {
	conv, fc, bias *ts.Tensor
}

func (n *tinyNet) Spec() models.Spec {
	return models.Spec{Name: "tiny", Config: models.Config{Classes: 10, InChannels: 1, ImageSize: 32}}
}

func (n *tinyNet) Layers() []models.Layer {
	return []models.Layer{{Index: 0, Name: "conv", Kind: models.KindConv}, {Index: 1, Name: "fc", Kind: models.KindHead}}
}

func (n *tinyNet) Params() []models.Param {
	return []models.Param{
		{Name: "conv.weight", Kind: models.ParamWeight, Shape: []int64{8, 1, 3, 3}, Tensor: n.conv},
		{Name: "fc.bias", Kind: models.ParamBias, Shape: []int64{10}, Tensor: n.bias},
		{Name: "fc.weight", Kind: models.ParamWeight, Shape: []int64{10, 8}, Tensor: n.fc},
	}
}

func (n *tinyNet) Forward(x *ts.Tensor, _ models.Mode, p models.Probe) (*ts.Tensor, error) {
	c, err := ts.Conv2d(x, n.conv, ts.None, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, 1)
	if err != nil {
		return nil, err
	}
	defer c.MustDrop()
	r := c.MustRelu(false)
	defer r.MustDrop()
	if p != nil {
		if err := p.Observe(n.Layers()[0], r); err != nil {
			return nil, err
		}
	}
	g := r.MustMeanDim([]int64{2, 3}, false, gotch.Float, false)
	defer g.MustDrop()
	return ts.Linear(g, n.fc, n.bias)
}

func (n *tinyNet) Close() { torchx.DropAll([]*ts.Tensor{n.conv, n.fc, n.bias}) }

func newTinyNet() *tinyNet {
	torchx.Seed(2)
	scale := ts.FloatScalar(0.3)
	defer scale.MustDrop()
	w := func(shape ...int64) *ts.Tensor {
		t := ts.MustRandn(shape, gotch.Float, gotch.CPU).MustMulScalar(scale, true)
		return t.MustSetRequiresGrad(true, true)
	}
	return &tinyNet{conv: w(8, 1, 3, 3), fc: w(10, 8), bias: w(10)}
}

// Your own gotch model gets the package's analyses by implementing
// models.Model: here the feature-map variance and Fourier profile of its
// convolution layer, and the top Hessian eigenvalues of a minibatch.
func Example_ownModel() {
	test, err := data.Load("mnist", "", data.Test)
	if err != nil {
		fmt.Println("MNIST not found: run make setup")
		return
	}
	m := newTinyNet()
	defer m.Close()
	f, err := analysis.MeasureFeatures(context.Background(), m, test, test.Indices()[:64], analysis.FeatureOptions{Batch: 32})
	if err != nil {
		panic(err)
	}
	l := f.Fourier.Layers[0]
	fmt.Printf("%s: %d frequencies from 0 to %.4fπ, variance > 0: %v\n", l.Name, len(l.DLogAmp), l.Freq[len(l.Freq)-1]/math.Pi,
		f.Variance.Layers[0].Variance > 0)

	mb, err := analysis.NewMinibatches(test, nil, 16, 2, 1, data.Augment{})
	if err != nil {
		panic(err)
	}
	var n int
	err = analysis.MaxEigenSpectrum(context.Background(), m, mb, &analysis.SpectrumOptions{K: 3, Solver: &hessian.LanczosSettings{}},
		func(r analysis.BatchResult) error { n += len(r.Values); return nil })
	if err != nil {
		panic(err)
	}
	fmt.Println("eigenvalues:", n)
	// Output:
	// conv: 16 frequencies from 0 to 0.9375π, variance > 0: true
	// eigenvalues: 6
}

// From a checkpoint to the plots: save a model, load it back as a user
// would load cmd/train's output, measure it and draw the paper's figures.
func Example_checkpointToPlot() {
	test, err := data.Load("mnist", "", data.Test)
	if err != nil {
		fmt.Println("MNIST not found: run make setup")
		return
	}
	dir, _ := os.MkdirTemp("", "vitprobe-example")
	defer os.RemoveAll(dir)
	torchx.Seed(3)
	cfg, _ := models.Defaults("resnet-mini")
	fresh, _ := models.New("resnet-mini", cfg, gotch.CPU)
	if _, err := models.Save(filepath.Join(dir, "final"), fresh, models.Checkpoint{Phase: "final", Dataset: "mnist"}); err != nil {
		panic(err)
	}
	fresh.Close()

	m, ck, err := models.Load(filepath.Join(dir, "final.json"), gotch.CPU)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	idx := test.Indices()[:100]
	f, err := analysis.MeasureFeatures(context.Background(), m, test, idx, analysis.FeatureOptions{Batch: 50})
	if err != nil {
		panic(err)
	}
	fm := reports.FourierModelOf(ck.Spec.Name, f.Fourier, f.Variance, nil)
	for name, draw := range map[string]func([]reports.FourierModel) (*reports.Figure, error){
		"dlogamp.png":  reports.DLogAmpFigure,
		"variance.png": func(ms []reports.FourierModel) (*reports.Figure, error) { return reports.VarianceFigure(ms, false) },
	} {
		fig, err := draw([]reports.FourierModel{fm})
		if err != nil {
			panic(err)
		}
		if err := fig.Save(filepath.Join(dir, name)); err != nil {
			panic(err)
		}
	}
	for _, name := range []string{"dlogamp.png", "variance.png"} {
		st, err := os.Stat(filepath.Join(dir, name))
		fmt.Println(name, err == nil && st.Size() > 10000)
	}
	fmt.Println(ck.Spec.Name, "layers measured:", len(fm.Layers))
	// Output:
	// dlogamp.png true
	// variance.png true
	// resnet-mini layers measured: 5
}

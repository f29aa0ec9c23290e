package analysis

import (
	"context"
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
)

// LayerInfo identifies an analysed layer and the shape of its maps (see
// results.LayerInfo).
type LayerInfo = results.LayerInfo

// ErrNoSpatialLayers reports a model none of whose layers produced a
// feature map (B, C, H, W) or a square token grid (B, N, C): nothing for
// the Fourier and variance analyses to read.
var ErrNoSpatialLayers = errors.New("no spatial layers")

// FeatureOptions configures MeasureFeatures and FeatureProbe.
type FeatureOptions struct {
	// Batch is the number of images per forward pass (at least 1).
	Batch int
	// Nyquist adds, for even map sizes, the point at frequency exactly π
	// to the Fourier profiles (see fourier.Options.IncludeNyquist).
	Nyquist bool
	// SkipFourier and SkipVariance leave out one of the two analyses.
	SkipFourier, SkipVariance bool
	// PerImage also keeps every image's own high-frequency Δ log
	// amplitude and variance per layer (FourierLayer.HighFreqPerImage,
	// VarianceLayer.PerImage), for intervals over images.
	PerImage bool
	// Workers is the number of goroutines of the Go-side computations; 0
	// means GOMAXPROCS. Results depend on it only through the order of
	// floating-point sums.
	Workers int
	// Progress, if not nil, is called after every batch with the number of
	// batches done and their total.
	Progress func(done, total int)
}

// Features is what MeasureFeatures returns: each analysis that was not
// skipped.
type Features struct {
	Fourier  *FourierResult  `json:"fourier,omitempty"`
	Variance *VarianceResult `json:"variance,omitempty"`
}

// FeatureProbe is a models.Probe that accumulates, for every spatial layer
// of the forward passes it observes, the relative log amplitude (docs/methods.md
// §4) and the feature-map variance (§5). It keeps only per-layer sums, so
// any number of images can pass through it in batches; the results equal
// those of one batch holding all the images.
//
// Layers of kind KindHead and outputs that are not spatial (not 4-D, or
// fewer than two positions) are skipped. Token layers (Layer.Tokens, shape
// (B, N, C)) become maps by fourier.TokensToMaps, dropping token 0 when
// Layer.CLS is set. A FeatureProbe is not safe for concurrent use.
type FeatureProbe struct {
	opt     FeatureOptions
	layers  []*probeLayer
	byIndex map[int]*probeLayer
	buf     []float32
}

type probeLayer struct {
	info LayerInfo
	f    fourierAcc
	v    varianceAcc
}

// NewFeatureProbe returns an empty probe; opt.Batch and opt.Progress are
// not used by the probe itself.
func NewFeatureProbe(opt FeatureOptions) *FeatureProbe {
	return &FeatureProbe{opt: opt, byIndex: map[int]*probeLayer{}}
}

// Observe implements models.Probe.
func (p *FeatureProbe) Observe(l models.Layer, out *ts.Tensor) error {
	m, ok, err := layerMaps(l, out, &p.buf)
	if err != nil || !ok {
		return err
	}
	e := p.byIndex[l.Index]
	if e == nil {
		e = &probeLayer{info: LayerInfo{Index: l.Index, Name: l.Name, Kind: l.Kind, Tokens: l.Tokens,
			Channels: m.C, Height: m.H, Width: m.W}}
		e.f.perImage, e.v.perImage = p.opt.PerImage, p.opt.PerImage
		p.byIndex[l.Index] = e
		p.layers = append(p.layers, e)
	} else if e.info.Name != l.Name || e.info.Kind != l.Kind || e.info.Channels != m.C {
		return fmt.Errorf("analysis: layer %d was %s (%v, %d channels), now %s (%v, %d channels)",
			l.Index, e.info.Name, e.info.Kind, e.info.Channels, l.Name, l.Kind, m.C)
	}
	if !p.opt.SkipFourier {
		fo := &fourier.Options{IncludeNyquist: p.opt.Nyquist, Workers: p.opt.Workers}
		if err := e.f.add(m, fo); err != nil {
			return fmt.Errorf("analysis: relative log amplitude: %w", err)
		}
	}
	if !p.opt.SkipVariance {
		if err := e.v.add(m, p.opt.Workers); err != nil {
			return fmt.Errorf("analysis: variance: %w", err)
		}
	}
	return nil
}

// layerMaps copies a layer's output into Go memory as (B, C, H, W) maps,
// reusing *buf. ok is false for outputs that are not spatial.
func layerMaps(l models.Layer, out *ts.Tensor, buf *[]float32) (m fourier.Maps[float32], ok bool, err error) {
	if l.Kind == models.KindHead || out == nil {
		return m, false, nil
	}
	shape, err := out.Size()
	if err != nil {
		return m, false, fmt.Errorf("analysis: output shape: %w", err)
	}
	if l.Tokens {
		if len(shape) != 3 {
			return m, false, fmt.Errorf("analysis: token layer output of shape %v, want (B, N, C)", shape)
		}
		t := fourier.Tokens[float32]{B: int(shape[0]), N: int(shape[1]), C: int(shape[2])}
		if t.Data, err = probeCopyOut(out, t.B*t.N*t.C, buf); err != nil {
			return m, false, err
		}
		if m, err = fourier.TokensToMaps(t, l.CLS); err != nil {
			return m, false, fmt.Errorf("analysis: %w", err)
		}
		return m, m.H*m.W >= 2, nil
	}
	if len(shape) != 4 || shape[2]*shape[3] < 2 {
		return m, false, nil
	}
	m = fourier.Maps[float32]{B: int(shape[0]), C: int(shape[1]), H: int(shape[2]), W: int(shape[3])}
	if m.B <= 0 || m.C <= 0 {
		return m, false, fmt.Errorf("analysis: empty output of shape %v", shape)
	}
	if m.Data, err = probeCopyOut(out, m.B*m.C*m.H*m.W, buf); err != nil {
		return m, false, err
	}
	return m, true, nil
}

// probeCopyOut copies n float32 values of t into *buf (grown as needed).
func probeCopyOut(t *ts.Tensor, n int, buf *[]float32) ([]float32, error) {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	dst := (*buf)[:n]
	if err := torchx.CopyOut(dst, t); err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	return dst, nil
}

// infos returns the observed layers' descriptions with normalised depths,
// checking that every layer saw the same images.
func (p *FeatureProbe) infos(images func(*probeLayer) int) ([]LayerInfo, int, error) {
	if len(p.layers) == 0 {
		return nil, 0, fmt.Errorf("analysis: no layer output was a feature map or a square token grid: %w", ErrNoSpatialLayers)
	}
	last := 0
	for _, e := range p.layers {
		last = max(last, e.info.Index)
	}
	n := images(p.layers[0])
	out := make([]LayerInfo, len(p.layers))
	for i, e := range p.layers {
		if got := images(e); got != n {
			return nil, 0, fmt.Errorf("analysis: layer %d (%s) saw %d images, layer %d (%s) %d",
				e.info.Index, e.info.Name, got, p.layers[0].info.Index, p.layers[0].info.Name, n)
		}
		out[i] = e.info
		if last > 0 {
			out[i].Depth = float64(e.info.Index) / float64(last)
		}
	}
	return out, n, nil
}

// Fourier returns the relative log amplitude of every layer observed so
// far. It is an error if the probe skips the analysis or has seen no
// spatial layer (ErrNoSpatialLayers).
func (p *FeatureProbe) Fourier() (*FourierResult, error) {
	if p.opt.SkipFourier {
		return nil, errors.New("analysis: the probe was told to skip the Fourier analysis")
	}
	infos, n, err := p.infos(func(e *probeLayer) int { return e.f.images })
	if err != nil {
		return nil, err
	}
	r := &FourierResult{Images: n, Nyquist: p.opt.Nyquist, Layers: make([]FourierLayer, len(infos))}
	for i, e := range p.layers {
		r.Layers[i] = e.f.result(infos[i])
	}
	return r, nil
}

// Variance returns the feature-map variance of every layer observed so
// far. It is an error if the probe skips the analysis or has seen no
// spatial layer (ErrNoSpatialLayers).
func (p *FeatureProbe) Variance() (*VarianceResult, error) {
	if p.opt.SkipVariance {
		return nil, errors.New("analysis: the probe was told to skip the variance analysis")
	}
	infos, n, err := p.infos(func(e *probeLayer) int { return e.v.images })
	if err != nil {
		return nil, err
	}
	r := &VarianceResult{Images: n, Layers: make([]VarianceLayer, len(infos))}
	for i, e := range p.layers {
		r.Layers[i] = e.v.result(infos[i])
	}
	return r, nil
}

// Features returns the analyses that the probe does not skip.
func (p *FeatureProbe) Features() (*Features, error) {
	var f Features
	var err error
	if !p.opt.SkipFourier {
		if f.Fourier, err = p.Fourier(); err != nil {
			return nil, err
		}
	}
	if !p.opt.SkipVariance {
		if f.Variance, err = p.Variance(); err != nil {
			return nil, err
		}
	}
	return &f, nil
}

// checkProbeInputs validates what MeasureFeatures and NoiseRobustness
// share.
func checkProbeInputs(m models.Model, d *data.Dataset, indices []int, batch int) error {
	switch {
	case m == nil:
		return errors.New("analysis: no model")
	case d == nil:
		return errors.New("analysis: no dataset")
	case batch < 1:
		return fmt.Errorf("analysis: batch size %d: want at least 1 image per batch", batch)
	case len(indices) == 0:
		return errors.New("analysis: no images to analyse")
	}
	for _, i := range indices {
		if i < 0 || i >= d.Len() {
			return fmt.Errorf("analysis: image index %d is outside the %d images of %s %v", i, d.Len(), d.Info.Name, d.Split)
		}
	}
	return nil
}

// MeasureFeatures runs m in eval mode without gradients over the images of
// d at indices (no augmentation), opt.Batch at a time, with a
// FeatureProbe, and returns the relative log amplitude and feature-map
// variance of every spatial layer averaged over all those images. It stops
// between batches when ctx is cancelled, returning ctx's error.
func MeasureFeatures(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt FeatureOptions) (*Features, error) {
	if err := checkProbeInputs(m, d, indices, opt.Batch); err != nil {
		return nil, err
	}
	if opt.SkipFourier && opt.SkipVariance {
		return nil, errors.New("analysis: both the Fourier and the variance analyses are skipped: nothing to measure")
	}
	spatial := false
	for _, l := range m.Layers() {
		spatial = spatial || l.Kind != models.KindHead
	}
	if !spatial {
		return nil, fmt.Errorf("analysis: model %s lists no layer but its head: %w", m.Spec().Name, ErrNoSpatialLayers)
	}
	smp, err := data.Sequential(indices, opt.Batch)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	probe := NewFeatureProbe(opt)
	total := smp.Batches()
	err = torchx.NoGrad(func() error {
		done := 0
		for _, idx := range smp.Epoch(0).All() {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := torchdata.NewBatch(d, idx, data.Augment{}, nil)
			if err != nil {
				return fmt.Errorf("analysis: %w", err)
			}
			logits, err := m.Forward(b.Images, models.Eval, probe)
			b.Close()
			if err != nil {
				return err
			}
			_ = logits.Drop()
			done++
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := probe.Features()
	if err != nil && errors.Is(err, ErrNoSpatialLayers) {
		return nil, fmt.Errorf("analysis: model %s: none of its layer outputs was a feature map or a square token grid: %w", m.Spec().Name, ErrNoSpatialLayers)
	}
	return f, err
}

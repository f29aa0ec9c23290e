package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/cka"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// CKAModel is one model of a CKA analysis and the name its results carry.
type CKAModel struct {
	Name  string
	Model models.Model
}

// CKAOptions configures CKA.
type CKAOptions struct {
	// Batch is the number of examples per minibatch, at least
	// cka.MinBatch (4). A last minibatch of fewer than 4 examples joins the
	// one before it.
	Batch int
	// Estimator is the HSIC estimator (the zero value: unbiased).
	Estimator cka.Estimator
	// NoHead leaves the logits out (by default they are a representation
	// like the others).
	NoHead bool
	// Journal, if not empty, is the path of a journal to which each
	// minibatch's HSIC values are appended as it completes; a rerun with
	// the same models, images, settings and Inputs skips those minibatches.
	Journal string
	// Inputs identifies what the numbers depend on besides the images and
	// the settings (the weights' hashes, the dataset): it is written into
	// the journal's header, and a journal of other inputs is refused.
	Inputs map[string]string
	// Progress, if not nil, is called after every minibatch with the
	// number done and their total.
	Progress func(done, total int)
}

// CKALayer is one representation of the analysis: a layer's output per
// example, flattened.
type CKALayer struct {
	LayerRef
	// Features is its length: C·H·W for feature maps, (N−1)·C for ViT
	// tokens without the class token, the number of classes for the head.
	Features int `json:"features"`
}

// CKAModelInfo describes one model of a CKA result.
type CKAModelInfo struct {
	Name string `json:"name"`
	// Preset is the model's Spec().Name.
	Preset string     `json:"preset"`
	Layers []CKALayer `json:"layers"`
}

// CKAPair is the CKA between every layer of model A (rows) and every layer
// of model B (columns); A = B gives a model's self-similarity.
type CKAPair struct {
	A string `json:"a"`
	B string `json:"b"`
	// CKA holds the values; NaN (null in JSON) where a layer was constant
	// over every minibatch.
	CKA cka.Grid `json:"cka"`
	// StdErr holds the jackknife standard errors over minibatches.
	StdErr cka.Grid `json:"stderr"`
}

// CKAResult is the minibatch CKA between the layers of one or more models
// on the same images (paper Fig. 10a).
type CKAResult struct {
	// Images, Batch and Batches describe the minibatches: Images examples
	// in Batches minibatches of Batch (the last one may be larger, up to
	// Batch+3, or smaller).
	Images  int `json:"images"`
	Batch   int `json:"batch"`
	Batches int `json:"batches"`
	// Estimator is the HSIC estimator.
	Estimator cka.Estimator  `json:"estimator"`
	Models    []CKAModelInfo `json:"models"`
	// Pairs holds every pair (A, B) with A at or before B in Models, in
	// order: (0,0), (0,1), …, (1,1), (1,2), ….
	Pairs []CKAPair `json:"pairs"`
}

// Pair returns the pair of models named a and b, in either order (the
// grid transposed when they come in the other order).
func (r *CKAResult) Pair(a, b string) (CKAPair, bool) {
	for _, p := range r.Pairs {
		switch {
		case p.A == a && p.B == b:
			return p, true
		case p.A == b && p.B == a:
			return CKAPair{A: a, B: b, CKA: transpose(p.CKA), StdErr: transpose(p.StdErr)}, true
		}
	}
	return CKAPair{}, false
}

func transpose(g cka.Grid) cka.Grid {
	if len(g) == 0 {
		return g
	}
	t := cka.NewGrid(len(g[0]), len(g))
	for i, row := range g {
		for j, v := range row {
			t[j][i] = v
		}
	}
	return t
}

// ckaBatches cuts indices into minibatches of size b, the last one
// joining the one before when it would hold fewer than cka.MinBatch.
func ckaBatches(indices []int, b int) ([][]int, error) {
	if b < cka.MinBatch {
		return nil, fmt.Errorf("analysis: CKA minibatch of %d examples: want at least %d (the unbiased HSIC needs 4)", b, cka.MinBatch)
	}
	if len(indices) < cka.MinBatch {
		return nil, fmt.Errorf("analysis: CKA on %d images: want at least %d", len(indices), cka.MinBatch)
	}
	var out [][]int
	for lo := 0; lo < len(indices); lo += b {
		out = append(out, indices[lo:min(lo+b, len(indices))])
	}
	if last := out[len(out)-1]; len(last) < cka.MinBatch {
		out = out[:len(out)-1]
		out[len(out)-1] = indices[(len(out)-1)*b:]
	}
	return out, nil
}

type ckaRecord struct {
	Batch    int       `json:"batch"`
	Features []int     `json:"features"`
	HSIC     cka.Batch `json:"hsic"`
}

type ckaHeader struct {
	Kind      string            `json:"kind"`
	Version   int               `json:"version"`
	Models    []string          `json:"models"`
	Images    string            `json:"images"`
	Batch     int               `json:"batch"`
	Estimator cka.Estimator     `json:"estimator"`
	NoHead    bool              `json:"no_head"`
	Inputs    map[string]string `json:"inputs,omitempty"`
}

// CKA runs every model over the images of d at indices, minibatch by
// minibatch (eval mode, no gradients, no augmentation), and accumulates the
// minibatch CKA (package cka) between every pair of layers of every pair of
// models, each layer's output flattened per example: feature maps as
// C·H·W values, ViT tokens without the class token (as the Fourier
// analysis drops it), the logits unless opt.NoHead. Each layer's Gram
// matrix is formed by libtorch in float64 after the columns are centred,
// then handed to cka.Accumulator.AddGrams. It stops between minibatches
// when ctx is cancelled, keeping what the journal holds.
func CKA(ctx context.Context, ms []CKAModel, d *data.Dataset, indices []int, opt CKAOptions) (*CKAResult, error) {
	if len(ms) == 0 {
		return nil, errors.New("analysis: CKA of no model")
	}
	names := map[string]bool{}
	var hdrModels []string
	for _, m := range ms {
		if err := checkProbeInputs(m.Model, d, indices, max(opt.Batch, 1)); err != nil {
			return nil, err
		}
		if m.Name == "" || names[m.Name] {
			return nil, fmt.Errorf("analysis: CKA: model names must be distinct and not empty (%q)", m.Name)
		}
		names[m.Name] = true
		hdrModels = append(hdrModels, m.Name+" ("+m.Model.Spec().Name+")")
	}
	batches, err := ckaBatches(indices, opt.Batch)
	if err != nil {
		return nil, err
	}
	// The representations, in order: every model's layers.
	type rep struct {
		model int
		layer models.Layer
	}
	var reps []rep
	res := &CKAResult{Images: len(indices), Batch: opt.Batch, Batches: len(batches), Estimator: opt.Estimator}
	for mi, m := range ms {
		info := CKAModelInfo{Name: m.Name, Preset: m.Model.Spec().Name}
		refs := map[int]LayerRef{}
		for _, r := range layerRefs(m.Model) {
			refs[r.Index] = r
		}
		for _, l := range m.Model.Layers() {
			if l.Kind == models.KindHead && opt.NoHead {
				continue
			}
			ref, ok := refs[l.Index]
			if !ok {
				ref = LayerRef{Index: l.Index, Name: l.Name, Kind: l.Kind, Depth: 1}
			}
			info.Layers = append(info.Layers, CKALayer{LayerRef: ref})
			reps = append(reps, rep{mi, l})
		}
		if len(info.Layers) == 0 {
			return nil, fmt.Errorf("analysis: CKA: model %s lists no layer", m.Name)
		}
		res.Models = append(res.Models, info)
	}
	done := map[int]ckaRecord{}
	var w *journal.Writer
	if opt.Journal != "" {
		hdr := ckaHeader{Kind: "vitprobe cka journal", Version: 1, Models: hdrModels, Images: indicesKey(indices), Batch: opt.Batch,
			Estimator: opt.Estimator, NoHead: opt.NoHead, Inputs: opt.Inputs}
		var recs []ckaRecord
		w, recs, err = journal.Open[ckaRecord](opt.Journal, hdr)
		if err != nil {
			return nil, fmt.Errorf("analysis: cka: %w", err)
		}
		defer func() { _ = w.Close() }()
		for _, r := range recs {
			if r.Batch < 0 || r.Batch >= len(batches) || len(r.Features) != len(reps) {
				return nil, fmt.Errorf("analysis: cka: %s: record of minibatch %d does not fit this run", opt.Journal, r.Batch)
			}
			done[r.Batch] = r
		}
	}
	pos := map[[2]int]int{} // (model, layer index) → representation
	for i, r := range reps {
		pos[[2]int{r.model, r.layer.Index}] = i
	}
	count := len(done)
	var bufs gramBuffers
	err = torchx.NoGrad(func() error {
		var hb data.HostBatch
		for k, idx := range batches {
			if _, ok := done[k]; ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := d.Fill(&hb, idx, data.Augment{}, nil); err != nil {
				return fmt.Errorf("analysis: %w", err)
			}
			grams := make([][]float64, len(reps))
			feats := make([]int, len(reps))
			for mi, m := range ms {
				probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
					i, ok := pos[[2]int{mi, l.Index}]
					if !ok {
						return nil // the head, left out
					}
					if grams[i] != nil {
						return fmt.Errorf("layer %d (%s) observed twice in one forward pass", l.Index, l.Name)
					}
					g, f, err := torchGram(l, out, &bufs)
					grams[i], feats[i] = g, f
					return err
				})
				if err := forwardImages(m.Model, hb.Images, len(idx), hb.Channels, probe); err != nil {
					return fmt.Errorf("analysis: cka: %s: %w", m.Name, err)
				}
			}
			for i, g := range grams {
				if g == nil {
					return fmt.Errorf("analysis: cka: %s: layer %d (%s) was not observed", ms[reps[i].model].Name, reps[i].layer.Index, reps[i].layer.Name)
				}
			}
			b, err := cka.BatchOf(grams, len(idx), opt.Estimator)
			if err != nil {
				return fmt.Errorf("analysis: cka: minibatch %d: %w", k, err)
			}
			rec := ckaRecord{Batch: k, Features: feats, HSIC: b}
			if w != nil {
				if err := w.Append(rec); err != nil {
					return fmt.Errorf("analysis: cka: %w", err)
				}
			}
			done[k] = rec
			count++
			if opt.Progress != nil {
				opt.Progress(count, len(batches))
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("analysis: cka stopped with %d of %d minibatches done: %w", len(done), len(batches), err)
		}
		return nil, err
	}
	// Add the minibatches in their order, so that a resumed run sums in
	// the same order as an uninterrupted one.
	acc := cka.NewAccumulator(len(reps), opt.Estimator)
	keys := make([]int, 0, len(done))
	for k := range done {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		if err := acc.AddBatch(done[k].HSIC); err != nil {
			return nil, fmt.Errorf("analysis: cka: minibatch %d: %w", k, err)
		}
	}
	all, err := acc.Result()
	if err != nil {
		return nil, err
	}
	first := done[keys[0]].Features
	offsets := make([]int, len(ms)+1)
	for i, r := range reps {
		offsets[r.model+1] = i + 1
		res.Models[r.model].Layers[i-offsets[r.model]].Features = first[i]
	}
	span := func(m int) []int {
		var out []int
		for i := offsets[m]; i < offsets[m+1]; i++ {
			out = append(out, i)
		}
		return out
	}
	for a := range ms {
		for b := a; b < len(ms); b++ {
			g, se := all.Sub(span(a), span(b))
			res.Pairs = append(res.Pairs, CKAPair{A: ms[a].Name, B: ms[b].Name, CKA: g, StdErr: se})
		}
	}
	return res, nil
}

// forwardImages runs m in eval mode on b normalised images with probe.
func forwardImages(m models.Model, images []float32, b, channels int, probe models.Probe) error {
	x, err := torchx.FromSlice(images, []int64{int64(b), int64(channels), data.Size, data.Size}, gotch.Float)
	if err != nil {
		return err
	}
	logits, err := m.Forward(x, models.Eval, probe)
	_ = x.Drop()
	if err != nil {
		return err
	}
	return logits.Drop()
}

// torchGram returns the n×n Gram matrix of a layer's output, flattened per
// example (the class token dropped from tokens), with its columns centred
// (cka.Center, in Go) and the product X Xᵀ formed by libtorch in float64.
// (libtorch 1.13's broadcast subtraction in float64 runs at ~0.2 µs per
// element here, slower than the product itself: the centring is done in
// Go.) buf is reused between calls.
func torchGram(l models.Layer, out *ts.Tensor, buf *gramBuffers) ([]float64, int, error) {
	fail := func(err error) ([]float64, int, error) {
		return nil, 0, fmt.Errorf("layer %d (%s): %w", l.Index, l.Name, err)
	}
	shape, err := out.Size()
	if err != nil {
		return fail(err)
	}
	if len(shape) < 2 || shape[0] < 1 {
		return fail(fmt.Errorf("output of shape %v", shape))
	}
	n := int(shape[0])
	per := 1
	for _, s := range shape[1:] {
		per *= int(s)
	}
	skip := 0 // values of token 0 to drop per example
	if l.Tokens && l.CLS {
		if len(shape) != 3 || shape[1] < 2 {
			return fail(fmt.Errorf("token output of shape %v, want (B, N, C) with a class token", shape))
		}
		skip = int(shape[2])
	}
	d := per - skip
	buf.f32 = grow(buf.f32, n*per)
	if err := torchx.CopyOut(buf.f32, out); err != nil {
		return fail(err)
	}
	buf.x = grow(buf.x, n*d)
	for i := range n {
		src := buf.f32[i*per+skip : (i+1)*per]
		dst := buf.x[i*d : (i+1)*d]
		for j, v := range src {
			dst[j] = float64(v)
		}
	}
	xc, err := cka.Center(buf.x, cka.Features{N: n, D: d, Data: buf.x})
	if err != nil {
		return fail(err)
	}
	var s torchx.Scope
	defer s.Close()
	x, err := torchx.FromSlice(xc, []int64{int64(n), int64(d)}, gotch.Double)
	if err != nil {
		return fail(err)
	}
	s.Add(x)
	xt, err := x.Transpose(0, 1, false)
	if err != nil {
		return fail(err)
	}
	s.Add(xt)
	g, err := x.Mm(xt, false)
	if err != nil {
		return fail(err)
	}
	s.Add(g)
	k := make([]float64, n*n)
	if err := torchx.CopyOut(k, g); err != nil {
		return fail(err)
	}
	// The product of a matrix and its transpose may differ from symmetric
	// in the last bit; make it exactly symmetric.
	for i := range n {
		for j := i + 1; j < n; j++ {
			v := (k[i*n+j] + k[j*n+i]) / 2
			k[i*n+j], k[j*n+i] = v, v
		}
	}
	for _, v := range k {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fail(errors.New("non-finite values in the output"))
		}
	}
	return k, d, nil
}

// gramBuffers are torchGram's scratch slices, reused across layers and
// minibatches.
type gramBuffers struct {
	f32 []float32
	x   []float64
}

func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

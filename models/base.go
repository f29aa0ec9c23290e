package models

import (
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// base holds what every preset shares: spec, layer list, parameters and
// constant tensors (index tables) the model owns.
type base struct {
	spec   Spec
	layers []Layer
	params []Param
	consts []*ts.Tensor
	les    lesion // residual branches and the switched-off ones (lesion.go)
}

// Spec implements Model.
func (b *base) Spec() Spec { return b.spec }

// Layers implements Model.
func (b *base) Layers() []Layer { return append([]Layer(nil), b.layers...) }

// Params implements Model.
func (b *base) Params() []Param { return append([]Param(nil), b.params...) }

// Close implements Model.
func (b *base) Close() {
	for _, p := range b.params {
		if p.Tensor != nil {
			_ = p.Tensor.Drop()
		}
	}
	torchx.DropAll(b.consts)
	b.params, b.consts = nil, nil
}

// addLayer appends a layer in depth order and returns it.
func (b *base) addLayer(name string, kind LayerKind, tokens, cls bool) Layer {
	l := Layer{Index: len(b.layers), Name: name, Kind: kind, Tokens: tokens, CLS: cls}
	b.layers = append(b.layers, l)
	return l
}

// NumParams returns the number of trainable parameters of m (buffers such as
// batch-norm running statistics excluded, as PyTorch's
// sum(p.numel() for p in model.parameters()) counts them).
func NumParams(m Model) int64 {
	var n int64
	for _, p := range m.Params() {
		if !p.Trainable() {
			continue
		}
		c := int64(1)
		for _, s := range p.Shape {
			c *= s
		}
		n += c
	}
	return n
}

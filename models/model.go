package models

import (
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models/meta"
)

// Mode selects training or evaluation behaviour of a forward pass: batch
// statistics and running-average updates of batch norm, dropout and
// stochastic depth are active in Train only.
type Mode int

const (
	// Eval uses running statistics and disables stochastic layers.
	Eval Mode = iota
	// Train uses batch statistics, updates running averages and samples
	// stochastic depth masks from libtorch's generator.
	Train
)

// LayerKind classifies a probe-able layer as the paper's plots do (see
// meta.LayerKind).
type LayerKind = meta.LayerKind

// The layer kinds.
const (
	KindStem = meta.KindStem
	KindConv = meta.KindConv
	KindDown = meta.KindDown
	KindMSA  = meta.KindMSA
	KindMLP  = meta.KindMLP
	KindHead = meta.KindHead
)

// ParseLayerKind is LayerKind.String's inverse.
func ParseLayerKind(s string) (LayerKind, error) { return meta.ParseLayerKind(s) }

// Layer describes one layer's output as probes see it (see meta.Layer).
type Layer = meta.Layer

// Probe receives every layer's output during a forward pass, in depth
// order. The tensor is borrowed: it is valid only during the call, and the
// probe must copy what it keeps. Returning an error aborts the forward pass.
// A nil Probe costs nothing.
type Probe interface {
	Observe(l Layer, out *ts.Tensor) error
}

// ProbeFunc adapts a function to the Probe interface.
type ProbeFunc func(l Layer, out *ts.Tensor) error

// Observe calls f.
func (f ProbeFunc) Observe(l Layer, out *ts.Tensor) error { return f(l, out) }

// ParamKind classifies parameters (see meta.ParamKind).
type ParamKind = meta.ParamKind

// The parameter kinds.
const (
	ParamWeight    = meta.ParamWeight
	ParamBias      = meta.ParamBias
	ParamNormScale = meta.ParamNormScale
	ParamNormShift = meta.ParamNormShift
	ParamPosEmbed  = meta.ParamPosEmbed
	ParamToken     = meta.ParamToken
	ParamRelPos    = meta.ParamRelPos
	ParamBuffer    = meta.ParamBuffer
)

// Param is one named tensor of a model.
type Param struct {
	Name   string
	Kind   ParamKind
	Shape  []int64
	Tensor *ts.Tensor // owned by the model
}

// Trainable reports whether the optimiser updates p (buffers are not).
func (p Param) Trainable() bool { return p.Kind != ParamBuffer }

// Model is what every analysis of vitprobe works on. The presets of this
// package implement it, and so can a user's own gotch model.
type Model interface {
	// Spec describes the model: preset name and configuration.
	Spec() Spec
	// Layers lists the probe-able layers in depth order.
	Layers() []Layer
	// Params lists every parameter and buffer, sorted by name.
	Params() []Param
	// Forward maps images (B, C, H, W) to logits (B, classes). The caller
	// owns the result. A non-nil probe sees every layer's output.
	Forward(x *ts.Tensor, mode Mode, probe Probe) (*ts.Tensor, error)
	// Close drops every tensor the model owns.
	Close()
}

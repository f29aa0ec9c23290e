package models

import (
	"fmt"
)

// PassFLOPs counts the floating-point operations of one pass over a batch.
type PassFLOPs struct {
	// Products is exact: the multiply-adds (two operations each) of the
	// convolutions, linear layers and attention products (Q·Kᵀ and P·V),
	// the part of the work that runs in OpenBLAS, oneDNN or the fused
	// attention's loops, and that the machine's peak rates refer to.
	Products float64 `json:"products"`
	// Other estimates the elementwise work and reductions (normalisation,
	// activations, softmax, additions) with per-element costs: 1 for an
	// addition, ReLU or scaling; 2 for an affine map (batch norm in
	// evaluation, biases); 4 for a softmax; 8 for layer norm and for batch
	// norm with batch statistics; 10 for GELU. Their backward passes count
	// twice and their share of a Hessian-vector product four times the
	// forward cost.
	Other float64 `json:"other"`
}

// Total returns Products + Other.
func (p PassFLOPs) Total() float64 { return p.Products + p.Other }

// FLOPs is the FLOP account of a model at a batch size: a forward pass, the
// backward pass of a scalar loss with respect to every trainable
// parameter, and one Hessian-vector product on a kept first-order graph
// (what every product after the first costs in PyHessian's scheme and in
// analysis.BatchHessian).
//
// Counting rules for a product of forward cost F: its backward pass costs
// 2F (gradients of its input and its weight), F for the first layer, whose
// input (the images) needs no gradient; a Hessian-vector product by double
// backward costs 6F (the two products of its backward node differentiated
// with respect to both their inputs, 4F, and its forward node again, 2F),
// 2F for the first layer. The fused attention (torchx.Attention) of
// per-head products A = 2·N²·d per sequence and head computes 2A forward,
// 4A backward and 15A per Hessian-vector product (11A in its double
// backward, 4A for its forward node's backward).
type FLOPs struct {
	Batch    int       `json:"batch"`
	Forward  PassFLOPs `json:"forward"`
	Backward PassFLOPs `json:"backward"`
	HVP      PassFLOPs `json:"hvp"`
}

// flopCounter accumulates a FLOP account.
type flopCounter struct {
	f    FLOPs
	mode Mode
}

// product adds a matrix product (convolution, linear layer) of forward
// cost f; first marks the first layer (its input needs no gradient).
func (c *flopCounter) product(f float64, first bool) {
	c.f.Forward.Products += f
	if first {
		c.f.Backward.Products += f
		c.f.HVP.Products += 2 * f
		return
	}
	c.f.Backward.Products += 2 * f
	c.f.HVP.Products += 6 * f
}

// attention adds the attention products of g sequences of n tokens, h
// heads of d dimensions.
func (c *flopCounter) attention(g, n, h, d int64) {
	a := 2 * float64(g*h*n*n*d)
	c.f.Forward.Products += 2 * a
	c.f.Backward.Products += 4 * a
	c.f.HVP.Products += 15 * a
	c.other(float64(g*h*n*n), 4) // softmax (and the bias, where there is one)
}

// other adds n elements of elementwise work of per-element cost k.
func (c *flopCounter) other(n, k float64) {
	c.f.Forward.Other += n * k
	c.f.Backward.Other += 2 * n * k
	c.f.HVP.Other += 4 * n * k
}

// conv adds a convolution on a (B, in, hw, hw) input and returns the side
// of its output.
func (c *flopCounter) conv(cv *conv, batch, hw int64, first bool) int64 {
	out := (hw+2*cv.pad-cv.kernel)/cv.stride + 1
	c.product(2*float64(batch*out*out*cv.out*(cv.in/cv.groups)*cv.kernel*cv.kernel), first)
	if cv.b != nil {
		c.other(float64(batch*out*out*cv.out), 1)
	}
	return out
}

// blur adds spatial smoothing (fwd.blur) of a (B, ch, hw, hw) map: a
// depthwise 3x3 convolution whose kernel needs no gradient, counted as a
// first layer's.
func (c *flopCounter) blur(batch, ch, hw int64) {
	c.conv(&conv{stride: 1, pad: 1, groups: ch, in: ch, out: ch, kernel: 3}, batch, hw, true)
}

// linear adds a linear layer applied to rows vectors.
func (c *flopCounter) linear(l *linear, rows int64) {
	c.product(2*float64(rows*l.in*l.out), false)
	if l.b != nil {
		c.other(float64(rows*l.out), 1)
	}
}

// bn adds a batch norm of n elements.
func (c *flopCounter) bn(n int64) {
	if c.mode == Train {
		c.other(float64(n), 8)
		return
	}
	c.other(float64(n), 2)
}

// flopCountable is implemented by the presets of this package.
type flopCountable interface {
	countFLOPs(c *flopCounter, batch int64)
}

// CountFLOPs returns the FLOP account of m at the given batch size, counted
// from its architecture (layer shapes and the image size of its
// configuration) in the given mode (batch statistics in Train). Models
// other than this package's presets are an error.
func CountFLOPs(m Model, batch int, mode Mode) (FLOPs, error) {
	cm, ok := m.(flopCountable)
	if !ok {
		return FLOPs{}, fmt.Errorf("models: FLOP count: %T is not one of this package's presets", m)
	}
	if batch < 1 {
		return FLOPs{}, fmt.Errorf("models: FLOP count: batch %d, want at least 1", batch)
	}
	c := &flopCounter{mode: mode}
	cm.countFLOPs(c, int64(batch))
	c.f.Batch = batch
	return c.f, nil
}

func (m *resnet) countFLOPs(c *flopCounter, b int64) {
	hw := int64(m.spec.Config.ImageSize)
	hw = c.conv(m.stem, b, hw, true)
	c.bn(b * m.stem.out * hw * hw)
	c.other(float64(b*m.stem.out*hw*hw), 1) // ReLU
	for _, bl := range m.blocks {
		if m.blur != nil && bl.layer.Kind == KindDown {
			c.blur(b, bl.conv1.in, hw)
		}
		in := hw
		hw = c.conv(bl.conv1, b, in, false)
		c.bn(b * bl.conv1.out * hw * hw)
		c.other(float64(b*bl.conv1.out*hw*hw), 1)
		c.conv(bl.conv2, b, hw, false)
		last := bl.conv2.out
		c.bn(b * last * hw * hw)
		if bl.conv3 != nil {
			c.other(float64(b*last*hw*hw), 1)
			c.conv(bl.conv3, b, hw, false)
			last = bl.conv3.out
			c.bn(b * last * hw * hw)
		}
		if bl.down != nil {
			c.conv(bl.down, b, in, false)
			c.bn(b * last * hw * hw)
		}
		c.other(float64(b*last*hw*hw), 2) // residual addition, ReLU
	}
	c.other(float64(b*m.fc.in*hw*hw), 1) // global average pooling
	c.linear(m.fc, b)
}

func (m *vit) countFLOPs(c *flopCounter, b int64) {
	a := m.a
	g := int64(m.spec.Config.ImageSize) / a.patch
	c.conv(m.patch, b, int64(m.spec.Config.ImageSize), true)
	n := g * g
	if !m.gap {
		n++
	}
	rows := b * n
	c.other(float64(rows*a.dim), 1) // position embedding
	for _, bl := range m.blocks {
		c.other(float64(rows*a.dim), 8) // norm1
		c.linear(bl.qkv, rows)
		c.attention(b, n, a.heads, a.dim/a.heads)
		c.linear(bl.proj, rows)
		c.other(float64(rows*a.dim), 1) // residual
		c.other(float64(rows*a.dim), 8) // norm2
		c.linear(bl.fc1, rows)
		c.other(float64(rows*a.mlp), 10) // GELU
		c.linear(bl.fc2, rows)
		c.other(float64(rows*a.dim), 1) // residual
	}
	c.other(float64(rows*a.dim), 8) // final norm
	if m.gap {
		c.other(float64(rows*a.dim), 1)
	}
	c.linear(m.head, b)
}

func (m *alternet) countFLOPs(c *flopCounter, b int64) {
	hw := c.conv(m.stem, b, int64(m.spec.Config.ImageSize), true)
	ch := m.stem.out
	for _, bl := range m.blocks {
		if m.blur != nil && bl.layer.Kind == KindDown {
			c.blur(b, ch, hw)
		}
		switch {
		case bl.conv != nil:
			pb := bl.conv
			in := hw
			c.bn(b * ch * in * in)
			c.other(float64(b*ch*in*in), 1) // ReLU
			if pb.down != nil {
				c.conv(pb.down, b, in, false)
			}
			c.conv(pb.conv1, b, in, false)
			c.bn(b * pb.conv1.out * in * in)
			c.other(float64(b*pb.conv1.out*in*in), 1)
			hw = c.conv(pb.conv2, b, in, false)
			c.bn(b * pb.conv2.out * hw * hw)
			c.other(float64(b*pb.conv2.out*hw*hw), 1)
			c.conv(pb.conv3, b, hw, false)
			ch = pb.conv3.out
			c.other(float64(b*ch*hw*hw), 1) // residual
		default:
			mb := bl.msa
			c.bn(b * ch * hw * hw)
			c.other(float64(b*ch*hw*hw), 10) // GELU
			c.conv(mb.conv1, b, hw, false)
			c.bn(b * mb.conv1.out * hw * hw)
			c.conv(mb.qkv, b, hw, false)
			windows := (hw / mb.window) * (hw / mb.window)
			c.attention(b*windows, mb.window*mb.window, mb.heads, mb.dimHead)
			c.other(float64(b*windows*mb.heads*mb.window*mb.window*mb.window*mb.window), 1) // bias
			c.conv(mb.proj, b, hw, false)
			ch = mb.proj.out
			c.other(float64(b*ch*hw*hw), 1) // residual
		}
	}
	c.bn(b * ch * hw * hw)
	c.other(float64(b*ch*hw*hw), 2) // ReLU, pooling
	c.linear(m.fc, b)
}

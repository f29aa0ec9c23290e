package models

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// vitArch describes a ViT in timm's layout: pre-norm blocks
// x + MSA(LN(x)), x + MLP(LN(x)), learned position embedding, a class token
// (or global average pooling), final LayerNorm and a linear head.
type vitArch struct {
	patch   int64
	dim     int64
	depth   int
	heads   int64
	mlp     int64
	qkvBias bool
}

type vitBlock struct {
	norm1, norm2 *layerNorm
	qkv, proj    *linear
	fc1, fc2     *linear
	msaL, mlpL   Layer
}

type vit struct {
	base
	a        vitArch
	patch    *conv
	cls      *ts.Tensor
	pos      *ts.Tensor
	embedL   Layer
	blocks   []*vitBlock
	norm     *layerNorm
	head     *linear
	headL    Layer
	gap      bool
	mask     *ts.Tensor // additive attention mask of local attention; nil: global
	dropRate []float64
}

func newViT(a vitArch, cfg Config, dev gotch.Device, name string) (Model, error) {
	if cfg.ImageSize%int(a.patch) != 0 {
		return nil, fmt.Errorf("models: %s: image size %d is not a multiple of the patch size %d", name, cfg.ImageSize, a.patch)
	}
	if a.dim%a.heads != 0 {
		return nil, fmt.Errorf("models: %s: dimension %d is not a multiple of %d heads", name, a.dim, a.heads)
	}
	g := int64(cfg.ImageSize) / a.patch
	tokens := g * g
	s := newStore(dev)
	m := &vit{a: a, gap: cfg.GAPHead}
	m.spec = presetSpec(name, cfg)
	m.patch = s.convDefault("patch_embed.proj", int64(cfg.InChannels), a.dim, a.patch, a.patch, 0, true)
	if !m.gap {
		m.cls = s.tensor("cls_token", ParamToken, []int64{1, 1, a.dim}, normal(1e-6, false))
		tokens++
	}
	m.pos = s.tensor("pos_embed", ParamPosEmbed, []int64{1, tokens, a.dim}, normal(0.02, true))
	m.embedL = m.addLayer("patch_embed", KindStem, true, !m.gap)
	m.dropRate = dropRates(cfg.DropPath, a.depth)
	for i := 0; i < a.depth; i++ {
		bs := s.sub("blocks").sub(fmt.Sprint(i))
		b := &vitBlock{
			norm1: bs.ln("norm1", a.dim),
			qkv:   bs.linearTrunc("attn.qkv", a.dim, 3*a.dim, a.qkvBias),
			proj:  bs.linearTrunc("attn.proj", a.dim, a.dim, true),
			norm2: bs.ln("norm2", a.dim),
			fc1:   bs.linearTrunc("mlp.fc1", a.dim, a.mlp, true),
			fc2:   bs.linearTrunc("mlp.fc2", a.mlp, a.dim, true),
		}
		b.msaL = m.addLayer(fmt.Sprintf("blocks.%d.attn", i), KindMSA, true, !m.gap)
		b.mlpL = m.addLayer(fmt.Sprintf("blocks.%d.mlp", i), KindMLP, true, !m.gap)
		m.addResidual(b.msaL, true)
		m.addResidual(b.mlpL, true)
		m.blocks = append(m.blocks, b)
	}
	m.norm = s.ln("norm", a.dim)
	m.head = s.linearTrunc("head", a.dim, int64(cfg.Classes), true)
	m.headL = m.addLayer("head", KindHead, false, false)
	ps, err := s.params()
	if err != nil {
		return nil, err
	}
	m.params = ps
	if cfg.Window > 0 {
		if m.mask, err = windowMask(g, cfg.Window, !m.gap, dev); err != nil {
			m.Close()
			return nil, err
		}
		m.consts = append(m.consts, m.mask)
	}
	return m, nil
}

// Forward implements Model.
func (m *vit) Forward(x *ts.Tensor, mode Mode, probe Probe) (*ts.Tensor, error) {
	return m.forward(x, mode, probe, nil)
}

// dropPathRates implements rowSplitter: two calls per block (attention and
// MLP branches), in block order, on (B, N, D) tensors.
func (m *vit) dropPathRates() ([]float64, int) {
	var rates []float64
	for i, b := range m.blocks {
		if !m.lesioned(b.msaL.Index) {
			rates = append(rates, m.dropRate[i])
		}
		if !m.lesioned(b.mlpL.Index) {
			rates = append(rates, m.dropRate[i])
		}
	}
	return rates, 3
}

// batchStats implements rowSplitter: layer norm works per token.
func (m *vit) batchStats() bool { return false }

// forward is Forward with, when drop is not nil, the drop-path masks drawn
// ahead (ForwardTrainRows).
func (m *vit) forward(x *ts.Tensor, mode Mode, probe Probe, drop *dropRows) (*ts.Tensor, error) {
	if err := checkInput(x, m.spec.Config); err != nil {
		return nil, err
	}
	f := &fwd{mode: mode, probe: probe, drop: drop}
	bs := int64(0)
	if shape, err := x.Size(); err == nil {
		bs = shape[0]
	}
	h := f.conv(x, m.patch) // (B, D, g, g)
	if f.ok(h) {
		h = f.t(h.Flatten(2, 3, false))
	}
	h = f.transpose(h, 1, 2) // (B, N, D)
	if !m.gap {
		h = f.cat(1, f.expand(m.cls, bs, 1, m.a.dim), h)
	}
	h = f.add(h, m.pos)
	f.observe(m.embedL, h)
	for i, b := range m.blocks {
		mark, in := f.s.Mark(), h
		if !m.lesioned(b.msaL.Index) { // a lesioned branch adds zeros
			y := b.attention(f, f.layerNorm(h, b.norm1), m.a.heads, m.mask)
			h = f.add(h, f.dropPath(y, m.dropRate[i]))
		}
		f.observe(b.msaL, h)
		f.endBlock(mark, in, h)
		mark, in = f.s.Mark(), h
		if !m.lesioned(b.mlpL.Index) {
			y := f.linear(f.gelu(f.linear(f.layerNorm(h, b.norm2), b.fc1)), b.fc2)
			h = f.add(h, f.dropPath(y, m.dropRate[i]))
		}
		f.observe(b.mlpL, h)
		f.endBlock(mark, in, h)
	}
	h = f.layerNorm(h, m.norm)
	var pooled *ts.Tensor
	if m.gap {
		pooled = f.mean(h, 1)
	} else {
		pooled = f.sel(h, 1, 0)
	}
	out := f.linear(pooled, m.head)
	f.observe(m.headL, out)
	f.usedAllDropMasks()
	return f.finish(out)
}

// attention is timm's Attention: one qkv projection, scaled dot-product
// attention per head, output projection. A non-nil mask (N, N) is added
// to the attention logits (local attention).
func (b *vitBlock) attention(f *fwd, x *ts.Tensor, heads int64, mask *ts.Tensor) *ts.Tensor {
	shape, ok := f.size(x)
	if !ok {
		return nil
	}
	bs, n, dim := shape[0], shape[1], shape[2]
	d := dim / heads
	if useFused(x) {
		// One fused operator over the packed projection (torchx.Attention):
		// no permuted copies, no per-head matrix-product calls.
		qkv := f.linear(x, b.qkv) // (B, N, 3·D): q, k, v heads packed per token
		if !f.ok(qkv) {
			return nil
		}
		// The mask is the operator's additive bias (-inf entries give
		// exact zeros of the softmax; every row keeps its own token).
		return f.linear(f.t(torchx.Attention(qkv, mask, heads, 1/math.Sqrt(float64(d)))), b.proj)
	}
	// q, k, v as (B, N, h, d) views of one projection; einsum lets
	// libtorch pick the batched products without materialising permuted
	// copies (measured faster than permute + matmul here: by ~20% of a
	// training step with OpenBLAS's SSE3 kernels, ~3% with its AVX-512
	// ones).
	qkv := f.reshape(f.linear(x, b.qkv), bs, n, 3, heads, d)
	q, k, v := f.sel(qkv, 2, 0), f.sel(qkv, 2, 1), f.sel(qkv, 2, 2)
	logits := f.mulScalar(f.einsum("bihd,bjhd->bhij", q, k), 1/math.Sqrt(float64(d)))
	if mask != nil {
		logits = f.add(logits, mask)
	}
	o := f.einsum("bhij,bjhd->bihd", f.softmax(logits, -1), v) // (B, N, h, d)
	return f.linear(f.reshape(o, bs, n, dim), b.proj)
}

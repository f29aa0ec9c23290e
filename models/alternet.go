package models

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// alterArch describes a pre-activation bottleneck ResNet whose stages may end
// in MSA blocks (AlterNet, docs/methods.md §1). With no 'M' in the pattern it is a
// plain pre-activation ResNet.
type alterArch struct {
	stem    int64    // stem channels
	widths  []int64  // bottleneck width per stage; block output is 4x
	pattern []string // per stage, one letter per block: C conv, M MSA
	heads   []int    // MSA heads per stage (0 where the stage has none)
	dimHead int64
	window  int64
}

// preactBlock is a pre-activation bottleneck:
// BN-ReLU -> 1x1 -> BN-ReLU -> 3x3 (stride) -> BN-ReLU -> 1x1, plus the
// shortcut (a strided 1x1 convolution of the pre-activated input when the
// shape changes).
type preactBlock struct {
	conv1, conv2, conv3 *conv
	bn1, bn2, bn3       *batchNorm
	down                *conv
}

// msaBlock is AlterNet's pre-activation MSA block:
// BN-GELU -> 1x1 to width -> BN -> window attention with a shared relative
// position bias -> 1x1 back to the block width, plus the identity.
type msaBlock struct {
	bn1, bn2 *batchNorm
	conv1    *conv
	qkv      *conv
	proj     *conv
	relPos   *ts.Tensor // (2p-1, 2p-1)
	relIndex *ts.Tensor // (p², p²) indices into the flattened table
	heads    int64
	dimHead  int64
	window   int64
}

type alterBlock struct {
	layer Layer
	conv  *preactBlock
	msa   *msaBlock
}

type alternet struct {
	base
	stem     *conv
	stemL    Layer
	blocks   []*alterBlock
	headBN   *batchNorm
	fc       *linear
	headL    Layer
	dropRate []float64
	blur     *ts.Tensor // spatial smoothing before down-sampling; nil: none
}

func newAlterNet(a alterArch, cfg Config, dev gotch.Device, name string) (Model, error) {
	stages := len(a.pattern)
	div := 1 << (stages - 1)
	if cfg.ImageSize%div != 0 {
		return nil, fmt.Errorf("models: %s: image size %d must be a multiple of %d (%d stride-2 stages)", name, cfg.ImageSize, div, stages-1)
	}
	for si, p := range a.pattern {
		res := int64(cfg.ImageSize >> si)
		for _, c := range p {
			if c == 'M' && res%a.window != 0 {
				return nil, fmt.Errorf("models: %s: stage %d's %dx%d feature map is not a multiple of the %dx%d attention window (image size %d)",
					name, si+1, res, res, a.window, a.window, cfg.ImageSize)
			}
		}
	}
	s := newStore(dev)
	m := &alternet{}
	m.spec = presetSpec(name, cfg)
	m.stem = s.conv("conv1", int64(cfg.InChannels), a.stem, 3, 1, 1, false)
	m.stemL = m.addLayer("conv1", KindStem, false, false)
	total := 0
	for _, p := range a.pattern {
		total += len(p)
	}
	m.dropRate = dropRates(cfg.DropPath, total)
	in := a.stem
	for si, p := range a.pattern {
		w := a.widths[si]
		out := 4 * w
		for bi, c := range p {
			name := fmt.Sprintf("layer%d.%d", si+1, bi)
			bs := s.sub(fmt.Sprintf("layer%d", si+1)).sub(fmt.Sprint(bi))
			stride := int64(1)
			if si > 0 && bi == 0 {
				stride = 2
			}
			b := &alterBlock{}
			switch c {
			case 'C':
				pb := &preactBlock{
					bn1:   bs.bn("bn1", in),
					conv1: bs.conv("conv1", in, w, 1, 1, 0, false),
					bn2:   bs.bn("bn2", w),
					conv2: bs.conv("conv2", w, w, 3, stride, 1, false),
					bn3:   bs.bn("bn3", w),
					conv3: bs.conv("conv3", w, out, 1, 1, 0, false),
				}
				if stride != 1 || in != out {
					pb.down = bs.conv("downsample.0", in, out, 1, stride, 0, false)
				}
				b.conv = pb
				kind := KindConv
				if stride != 1 {
					kind = KindDown
				}
				b.layer = m.addLayer(name, kind, false, false)
				m.addResidual(b.layer, pb.down == nil)
			case 'M':
				if stride != 1 || in != out {
					return nil, fmt.Errorf("models: %s: an MSA block cannot start stage %d (it keeps the shape)", name, si+1)
				}
				heads := int64(a.heads[si])
				inner := heads * a.dimHead
				pw := a.window
				mb := &msaBlock{
					bn1:     bs.bn("bn1", in),
					conv1:   bs.conv("conv1", in, w, 1, 1, 0, false),
					bn2:     bs.bn("bn2", w),
					qkv:     bs.convDefault("attn.qkv", w, 3*inner, 1, 1, 0, false),
					proj:    bs.convDefault("attn.proj", inner, out, 1, 1, 0, true),
					relPos:  bs.tensor("attn.rel_pos", ParamRelPos, []int64{2*pw - 1, 2*pw - 1}, normal(0.02, false)),
					heads:   heads,
					dimHead: a.dimHead,
					window:  pw,
				}
				idx, err := relIndex(pw, dev)
				if err != nil {
					return nil, err
				}
				mb.relIndex = idx
				m.consts = append(m.consts, idx)
				b.msa = mb
				b.layer = m.addLayer(name, KindMSA, false, false)
				m.addResidual(b.layer, true)
			default:
				return nil, fmt.Errorf("models: %s: unknown block letter %q", name, c)
			}
			m.blocks = append(m.blocks, b)
			in = out
		}
	}
	m.headBN = s.bn("bn", in)
	m.fc = s.linearDefault("fc", in, int64(cfg.Classes))
	m.headL = m.addLayer("fc", KindHead, false, false)
	ps, err := s.params()
	if err != nil {
		m.Close()
		return nil, err
	}
	m.params = ps
	if cfg.Blur {
		if m.blur, err = blurKernel(dev); err != nil {
			m.Close()
			return nil, err
		}
		m.consts = append(m.consts, m.blur)
	}
	return m, nil
}

// relIndex returns, for every (query, key) pair of positions in a p×p
// window, the index of their offset (key - query) in the flattened
// (2p-1)×(2p-1) relative-position table.
func relIndex(p int64, dev gotch.Device) (*ts.Tensor, error) {
	n := p * p
	idx := make([]int64, 0, n*n)
	for q := int64(0); q < n; q++ {
		qr, qc := q/p, q%p
		for k := int64(0); k < n; k++ {
			kr, kc := k/p, k%p
			idx = append(idx, (kr-qr+p-1)*(2*p-1)+(kc-qc+p-1))
		}
	}
	t, err := ts.OfSlice(idx)
	if err != nil {
		return nil, fmt.Errorf("models: relative index: %w", err)
	}
	if dev != gotch.CPU {
		d, err := t.To(dev, true)
		if err != nil {
			return nil, err
		}
		t = d
	}
	return t, nil
}

// Forward implements Model.
func (m *alternet) Forward(x *ts.Tensor, mode Mode, probe Probe) (*ts.Tensor, error) {
	return m.forward(x, mode, probe, nil)
}

// dropPathRates implements rowSplitter: one call per block that is not
// lesioned (the residual branch, convolutional or attention), in block
// order, on (B, C, H, W) maps.
func (m *alternet) dropPathRates() ([]float64, int) {
	var rates []float64
	for i, b := range m.blocks {
		if !m.lesioned(b.layer.Index) {
			rates = append(rates, m.dropRate[i])
		}
	}
	return rates, 4
}

// batchStats implements rowSplitter: batch norm.
func (m *alternet) batchStats() bool { return true }

// forward is Forward with, when drop is not nil, the drop-path masks drawn
// ahead and the batch-norm statistics shared (ForwardTrainRows).
func (m *alternet) forward(x *ts.Tensor, mode Mode, probe Probe, drop *dropRows) (*ts.Tensor, error) {
	if err := checkInput(x, m.spec.Config); err != nil {
		return nil, err
	}
	f := &fwd{mode: mode, probe: probe, drop: drop}
	h := f.layout(f.conv(f.layout(x), m.stem))
	f.observe(m.stemL, h)
	for i, b := range m.blocks {
		mark, in := f.s.Mark(), h
		if m.blur != nil && b.layer.Kind == KindDown {
			h = f.blur(h, m.blur)
		}
		off := m.lesioned(b.layer.Index)
		switch {
		case b.conv != nil && off:
			h = b.conv.shortcut(f, h)
		case b.conv != nil:
			h = b.conv.forward(f, h, m.dropRate[i])
		case !off:
			h = b.msa.forward(f, h, m.dropRate[i])
		} // a lesioned MSA block passes h on
		f.observe(b.layer, h)
		f.endBlock(mark, in, h)
	}
	h = f.bnReLU(h, m.headBN)
	out := f.linear(f.mean(h, 2, 3), m.fc)
	f.observe(m.headL, out)
	f.usedAllDropMasks()
	return f.finish(out)
}

// shortcut is the block's output with its residual branch removed: the
// input, or its projection when the block changes the shape.
func (b *preactBlock) shortcut(f *fwd, x *ts.Tensor) *ts.Tensor {
	if b.down == nil {
		return x
	}
	return f.conv(f.bnReLU(x, b.bn1), b.down)
}

func (b *preactBlock) forward(f *fwd, x *ts.Tensor, drop float64) *ts.Tensor {
	a := f.bnReLU(x, b.bn1)
	skip := x
	if b.down != nil {
		skip = f.conv(a, b.down)
	}
	y := f.conv(a, b.conv1)
	y = f.conv(f.bnReLU(y, b.bn2), b.conv2)
	y = f.conv(f.bnReLU(y, b.bn3), b.conv3)
	return f.add(f.dropPath(y, drop), skip)
}

func (b *msaBlock) forward(f *fwd, x *ts.Tensor, drop float64) *ts.Tensor {
	y := f.bn(f.conv(f.gelu(f.bn(x, b.bn1)), b.conv1), b.bn2)
	y = f.conv(b.attention(f, y), b.proj)
	return f.add(f.dropPath(y, drop), x)
}

// attention computes multi-head self-attention inside non-overlapping p×p
// windows of a (B, C, H, W) map, returning (B, heads·dimHead, H, W).
func (b *msaBlock) attention(f *fwd, x *ts.Tensor) *ts.Tensor {
	shape, ok := f.size(x)
	if !ok {
		return nil
	}
	bs, hgt, wid := shape[0], shape[2], shape[3]
	p, h, d := b.window, b.heads, b.dimHead
	n1, n2 := hgt/p, wid/p
	qkv := f.conv(x, b.qkv) // (B, 3·h·d, H, W)
	if useFused(x) {
		return b.fusedAttention(f, qkv, bs, hgt, wid)
	}
	qkv = f.reshape(qkv, bs, 3, h, d, n1, p, n2, p)
	qkv = f.permute(qkv, 1, 0, 4, 6, 2, 5, 7, 3) // (3, B, n1, n2, h, p, p, d)
	qkv = f.reshape(qkv, 3, bs*n1*n2, h, p*p, d)
	q, k, v := f.sel(qkv, 0, 0), f.sel(qkv, 0, 1), f.sel(qkv, 0, 2)
	dots := f.mulScalar(f.matmul(q, f.transpose(k, -2, -1)), 1/math.Sqrt(float64(d)))
	var bias *ts.Tensor
	if f.ok(b.relPos) {
		flat := f.reshape(b.relPos, -1)
		if f.ok(flat) {
			bias = f.reshape(f.t(flat.IndexSelect(0, b.relIndex, false)), p*p, p*p)
		}
	}
	attn := f.softmax(f.add(dots, bias), -1)
	o := f.matmul(attn, v) // (B·n1·n2, h, p², d)
	o = f.reshape(o, bs, n1, n2, h, p, p, d)
	o = f.permute(o, 0, 3, 6, 1, 4, 2, 5) // (B, h, d, n1, p, n2, p)
	return f.reshape(o, bs, h*d, hgt, wid)
}

// fusedAttention is attention on torchx.Attention: the windows' tokens are
// gathered once into the packed (B·n1·n2, p², 3·h·d) layout the operator
// reads, and its (B·n1·n2, p², h·d) result scattered back to a map.
func (b *msaBlock) fusedAttention(f *fwd, qkv *ts.Tensor, bs, hgt, wid int64) *ts.Tensor {
	p, h, d := b.window, b.heads, b.dimHead
	n1, n2 := hgt/p, wid/p
	c := 3 * h * d
	// (B, C, H, W) -> (B, H, W, C) is a view in the channels-last layout;
	// the window split is a view in either layout, the final reshape the
	// one copy.
	w := f.permute(qkv, 0, 2, 3, 1)
	w = f.reshape(w, bs, n1, p, n2, p, c)
	w = f.permute(w, 0, 1, 3, 2, 4, 5) // (B, n1, n2, p, p, 3·h·d)
	w = f.reshape(w, bs*n1*n2, p*p, c)
	var bias *ts.Tensor
	if f.ok(b.relPos) {
		flat := f.reshape(b.relPos, -1)
		if f.ok(flat) {
			bias = f.reshape(f.t(flat.IndexSelect(0, b.relIndex, false)), p*p, p*p)
		}
	}
	if !f.ok(w, bias) {
		return nil
	}
	o := f.t(torchx.Attention(w, bias, h, 1/math.Sqrt(float64(d)))) // (B·n1·n2, p², h·d)
	o = f.reshape(o, bs, n1, n2, p, p, h*d)
	o = f.permute(o, 0, 1, 3, 2, 4, 5) // (B, n1, p, n2, p, h·d)
	o = f.reshape(o, bs, hgt, wid, h*d)
	o = f.permute(o, 0, 3, 1, 2) // (B, h·d, H, W), laid out channels-last
	if !channelsLast && f.ok(o) {
		o = f.t(o.Contiguous(false))
	}
	return o
}

package models

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// resnetArch describes a post-activation ResNet in torchvision's layout with
// the CIFAR stem (3x3 stride-1 convolution, no max-pool).
type resnetArch struct {
	bottleneck bool
	blocks     []int   // blocks per stage
	widths     []int64 // base width per stage; bottleneck output is 4x
	stem       int64   // stem channels
}

type resnetBlock struct {
	layer               Layer
	conv1, conv2, conv3 *conv
	bn1, bn2, bn3       *batchNorm
	down                *conv
	downBN              *batchNorm
}

type resnet struct {
	base
	stem     *conv
	stemBN   *batchNorm
	stemL    Layer
	blocks   []*resnetBlock
	fc       *linear
	headL    Layer
	dropRate []float64
	blur     *ts.Tensor // spatial smoothing before down-sampling; nil: none
	folds    folds      // the inference passes' batch-norm folds
}

func newResNet(a resnetArch, cfg Config, dev gotch.Device, name string) (Model, error) {
	if cfg.ImageSize%8 != 0 {
		return nil, fmt.Errorf("models: %s: image size %d must be a multiple of 8 (three stride-2 stages)", name, cfg.ImageSize)
	}
	s := newStore(dev)
	m := &resnet{}
	m.spec = presetSpec(name, cfg)
	m.stem = s.conv("conv1", int64(cfg.InChannels), a.stem, 3, 1, 1, false)
	m.stemBN = s.bn("bn1", a.stem)
	m.stemL = m.addLayer("conv1", KindStem, false, false)
	exp := int64(1)
	if a.bottleneck {
		exp = 4
	}
	total := 0
	for _, n := range a.blocks {
		total += n
	}
	m.dropRate = dropRates(cfg.DropPath, total)
	in := a.stem
	for si, n := range a.blocks {
		w := a.widths[si]
		for bi := 0; bi < n; bi++ {
			stride := int64(1)
			if si > 0 && bi == 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", si+1, bi)
			bs := s.sub(fmt.Sprintf("layer%d", si+1)).sub(fmt.Sprint(bi))
			b := &resnetBlock{}
			if a.bottleneck {
				b.conv1 = bs.conv("conv1", in, w, 1, 1, 0, false)
				b.bn1 = bs.bn("bn1", w)
				b.conv2 = bs.conv("conv2", w, w, 3, stride, 1, false)
				b.bn2 = bs.bn("bn2", w)
				b.conv3 = bs.conv("conv3", w, w*exp, 1, 1, 0, false)
				b.bn3 = bs.bn("bn3", w*exp)
			} else {
				b.conv1 = bs.conv("conv1", in, w, 3, stride, 1, false)
				b.bn1 = bs.bn("bn1", w)
				b.conv2 = bs.conv("conv2", w, w, 3, 1, 1, false)
				b.bn2 = bs.bn("bn2", w)
			}
			if stride != 1 || in != w*exp {
				b.down = bs.conv("downsample.0", in, w*exp, 1, stride, 0, false)
				b.downBN = bs.bn("downsample.1", w*exp)
			}
			kind := KindConv
			if stride != 1 {
				kind = KindDown
			}
			b.layer = m.addLayer(name, kind, false, false)
			m.addResidual(b.layer, b.down == nil)
			m.blocks = append(m.blocks, b)
			in = w * exp
		}
	}
	m.fc = s.linearDefault("fc", in, int64(cfg.Classes))
	m.headL = m.addLayer("fc", KindHead, false, false)
	ps, err := s.params()
	if err != nil {
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

// Forward implements Model.
func (m *resnet) Forward(x *ts.Tensor, mode Mode, probe Probe) (*ts.Tensor, error) {
	return m.forward(x, mode, probe, nil)
}

// dropPathRates implements rowSplitter: one call per block that is not
// lesioned (the residual branch), in block order, on (B, C, H, W) maps.
func (m *resnet) dropPathRates() ([]float64, int) {
	var rates []float64
	for i, b := range m.blocks {
		if !m.lesioned(b.layer.Index) {
			rates = append(rates, m.dropRate[i])
		}
	}
	return rates, 4
}

// batchStats implements rowSplitter: batch norm.
func (m *resnet) batchStats() bool { return true }

// forward is Forward with, when drop is not nil, the drop-path masks drawn
// ahead and the batch-norm statistics shared (ForwardTrainRows).
func (m *resnet) forward(x *ts.Tensor, mode Mode, probe Probe, drop *dropRows) (*ts.Tensor, error) {
	if err := checkInput(x, m.spec.Config); err != nil {
		return nil, err
	}
	f := &fwd{mode: mode, probe: probe, folds: &m.folds, drop: drop}
	if mode == Train {
		m.folds.drop() // the running statistics move
	}
	var h *ts.Tensor
	switch {
	case fuseConv && f.inference(x):
		h = f.convBNAct(x, m.stem, m.stemBN, nil, false, true) // one fused pass, written channels-last
	case f.inference(x):
		h = f.reluOwned(f.layout(f.convBN(x, m.stem, m.stemBN))) // one fused pass, then the layout
	default:
		h = f.bnReLU(f.layout(f.conv(f.layout(x), m.stem)), m.stemBN)
	}
	f.observe(m.stemL, h)
	for i, b := range m.blocks {
		mark, in := f.s.Mark(), h
		if m.blur != nil && b.layer.Kind == KindDown {
			h = f.blur(h, m.blur)
		}
		skip := h
		if b.down != nil {
			skip = f.convBNAct(h, b.down, b.downBN, nil, false, false)
		}
		if m.lesioned(b.layer.Index) {
			h = f.relu(skip) // the branch contributes zeros
		} else {
			y := f.convBNAct(h, b.conv1, b.bn1, nil, false, true)
			last, lastBN := b.conv2, b.bn2
			if b.conv3 != nil {
				y = f.convBNAct(y, b.conv2, b.bn2, nil, false, true)
				last, lastBN = b.conv3, b.bn3
			}
			if f.mode == Train && m.dropRate[i] > 0 {
				y = f.dropPath(f.convBN(y, last, lastBN), m.dropRate[i])
				h = f.reluOwned(f.addOwned(y, skip))
			} else { // drop path is the identity: the addition and ReLU fuse in inference
				// The shortcut's map is this pass's own and read by nothing
				// after this addition (so written over) when it is the
				// downsampling's output, or the block's input with no probe
				// holding it.
				owned := b.down != nil || f.probe == nil
				h = f.convBNAct(y, last, lastBN, skip, owned, true)
			}
		}
		f.observe(b.layer, h)
		f.endBlock(mark, in, h)
	}
	out := f.linear(f.mean(h, 2, 3), m.fc)
	f.observe(m.headL, out)
	f.usedAllDropMasks()
	return f.finish(out)
}

// Close implements Model: it releases the kept folds, then the tensors.
func (m *resnet) Close() {
	m.folds.drop()
	m.base.Close()
}

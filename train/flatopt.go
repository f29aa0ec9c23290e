package train

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// flatState keeps the trainable parameters, their gradients and AdamW's
// two moments each in one flat buffer (torchx.Pack rebinds the model's
// parameters to slices of the first), so that a step's clipping and update
// are a handful of operations on four buffers instead of a handful per
// parameter tensor (vit-mini has 64 of them, resnet-mini 62), and the
// gradients land in a buffer allocated once instead of one new tensor per
// parameter per step. The numbers are those of the per-tensor update,
// element for element: the same libtorch operations on the same values.
type flatState struct {
	params []*ts.Tensor // the model's trainable tensors, in name order
	pflat  *ts.Tensor   // their storage
	gflat  *ts.Tensor   // gradients, same layout
	gviews []*ts.Tensor // per-parameter views of gflat (for the clip norms)
	mflat  *ts.Tensor   // first moments (views in optimizer.m)
	vflat  *ts.Tensor   // second moments (views in optimizer.v)
}

// attach packs the trainable parameters into one buffer and allocates the
// gradient and moment buffers with their per-parameter views.
func (o *optimizer) attach(params []models.Param) error {
	if len(params) == 0 {
		return fmt.Errorf("train: no trainable parameters")
	}
	shapes := make([][]int64, len(params))
	var total int64
	for i, p := range params {
		o.params = append(o.params, p.Tensor)
		shapes[i] = p.Shape
		n := int64(1)
		for _, s := range p.Shape {
			n *= s
		}
		total += n
	}
	var err error
	if o.pflat, err = torchx.Pack(o.params); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, b := range []**ts.Tensor{&o.gflat, &o.mflat, &o.vflat} {
		if *b, err = ts.Zeros([]int64{total}, gotch.Float, gotch.CPU); err != nil {
			return fmt.Errorf("train: optimiser state: %w", err)
		}
	}
	if o.gviews, err = torchx.Views(o.gflat, shapes); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if o.m, err = torchx.Views(o.mflat, shapes); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if o.v, err = torchx.Views(o.vflat, shapes); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// step differentiates loss into the gradient buffer and updates (update).
func (o *optimizer) step(loss *ts.Tensor, c Config, lr float64, step int64) error {
	if err := torchx.GradInto(o.gflat, loss, o.params); err != nil {
		return err
	}
	return o.update(c, lr, step)
}

// update clips the gradient buffer (c.Clip > 0) and applies one AdamW
// update (torchx.AdamWStep) to the parameter buffer.
func (o *optimizer) update(c Config, lr float64, step int64) error {
	if c.Clip > 0 {
		if _, err := torchx.ClipFlat(o.gviews, o.gflat, c.Clip); err != nil {
			return err
		}
	}
	return torchx.AdamWStep([]*ts.Tensor{o.pflat}, []*ts.Tensor{o.gflat}, []*ts.Tensor{o.mflat}, []*ts.Tensor{o.vflat},
		lr, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, step)
}

func (f *flatState) close() {
	torchx.DropAll(f.gviews)
	for _, t := range []*ts.Tensor{f.pflat, f.gflat, f.mflat, f.vflat} {
		if t != nil {
			_ = t.Drop()
		}
	}
	*f = flatState{}
}

package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// HostBatch is a batch in Go memory, before it becomes tensors: what Fill
// makes and Tensors copies. Its slices are reused by the next Fill.
type HostBatch struct {
	// Size is the number of examples B; Channels and Classes are the
	// dataset's.
	Size, Channels, Classes int
	// Images holds B x Channels x Size x Size normalised values.
	Images []float32
	// Labels holds the B dataset labels (the image's own, before mixing).
	Labels []int64
	// Targets holds B x Classes soft targets, each row summing to 1, when
	// the augmentation asks for them (Augment.Soft); nil otherwise.
	Targets []float32
	// Mixing records how the batch was mixed.
	Mixing Mixing

	scratch []uint8         // one image, for crop and flip
	lut     [3][256]float32 // per channel: the normalised value of each byte
}

// Fill makes dst the batch of the examples at indices, augmented as aug
// says with the random numbers of r (which may be nil when aug draws none).
// Each image is cropped, then flipped, then RandAugmented, then
// normalised; the batch is then mixed; then the targets are built. The
// same r state gives the same batch.
func (d *Dataset) Fill(dst *HostBatch, indices []int, aug Augment, r *rand.Rand) error {
	if err := aug.Validate(); err != nil {
		return err
	}
	if len(indices) == 0 {
		return errors.New("data: batch of no examples")
	}
	if r == nil && aug.random() {
		return errors.New("data: random augmentations need a random generator")
	}
	for _, i := range indices {
		if i < 0 || i >= d.Len() {
			return fmt.Errorf("data: index %d is outside the %d examples of %s %v", i, d.Len(), d.Info.Name, d.Split)
		}
		if int(d.Labels[i]) >= d.Info.Classes {
			return fmt.Errorf("data: label %d of example %d is outside 0..%d", d.Labels[i], i, d.Info.Classes-1)
		}
	}
	b, c, k := len(indices), d.Info.Channels, d.Info.Classes
	n := c * Size * Size
	dst.Size, dst.Channels, dst.Classes = b, c, k
	dst.Images = resize(dst.Images, b*n)
	dst.Labels = resize(dst.Labels, b)
	dst.scratch = resize(dst.scratch, n)
	dst.setLUT(d.Info)
	for j, i := range indices {
		img := d.Image(i)
		if aug.CropPad > 0 || aug.Flip || aug.RandAugment.Enabled() {
			dy, dx := 0, 0
			if aug.CropPad > 0 {
				dy = r.IntN(2*aug.CropPad+1) - aug.CropPad
				dx = r.IntN(2*aug.CropPad+1) - aug.CropPad
			}
			crop(dst.scratch, img, c, dy, dx)
			if aug.Flip && r.IntN(2) == 1 {
				flip(dst.scratch, c)
			}
			aug.RandAugment.applyTo(r, dst.scratch, c, d.Info)
			img = dst.scratch
		}
		out := dst.Images[j*n : (j+1)*n]
		for ch := 0; ch < c; ch++ {
			o := ch * Size * Size
			normalise(out[o:o+Size*Size], img[o:o+Size*Size], &dst.lut[ch])
		}
		dst.Labels[j] = int64(d.Labels[i])
	}
	dst.Mixing = mix(r, aug, dst.Images, b, c)
	if !aug.Soft() {
		dst.Targets = nil
		return nil
	}
	dst.Targets = resize(dst.Targets, b*k)
	off := float32(aug.Smoothing / float64(k))
	on := float32(1 - aug.Smoothing)
	lam := float32(dst.Mixing.Lambda)
	for j := 0; j < b; j++ {
		row := dst.Targets[j*k : (j+1)*k]
		for q := range row {
			row[q] = off
		}
		row[dst.Labels[j]] += lam * on
		row[dst.Labels[b-1-j]] += (1 - lam) * on
	}
	return nil
}

// normalise sets dst[i] = lut[src[i]] (dst and src of equal length).
func normalise(dst []float32, src []uint8, lut *[256]float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = lut[v]
	}
}

// resize returns s with length n, reusing its storage when large enough.
func resize[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// setLUT fills h.lut for info's normalisation: (v/255 - mean) / std.
func (h *HostBatch) setLUT(info Info) {
	for c := 0; c < info.Channels; c++ {
		for v := range 256 {
			h.lut[c][v] = float32((float64(v)/255 - info.Mean[c]) / info.Std[c])
		}
	}
}

// Batch is a batch as tensors, owned by the caller: Close drops them.
type Batch struct {
	// Images is float32 (B, C, Size, Size), normalised.
	Images *ts.Tensor
	// Labels is int64 (B): each image's own label.
	Labels *ts.Tensor
	// Targets is float32 (B, Classes) soft targets, or nil when the
	// augmentation uses none (then train against Labels).
	Targets *ts.Tensor
	// Mixing records how the batch was mixed.
	Mixing Mixing
}

// Tensors copies h into new tensors, one copy per tensor.
func (h *HostBatch) Tensors() (*Batch, error) {
	b := int64(h.Size)
	out := &Batch{Mixing: h.Mixing}
	var err error
	if out.Images, err = torchx.FromSlice(h.Images, []int64{b, int64(h.Channels), Size, Size}, gotch.Float); err != nil {
		return nil, fmt.Errorf("data: batch images: %w", err)
	}
	if out.Labels, err = torchx.FromSlice(h.Labels, []int64{b}, gotch.Int64); err != nil {
		out.Close()
		return nil, fmt.Errorf("data: batch labels: %w", err)
	}
	if h.Targets != nil {
		if out.Targets, err = torchx.FromSlice(h.Targets, []int64{b, int64(h.Classes)}, gotch.Float); err != nil {
			out.Close()
			return nil, fmt.Errorf("data: batch targets: %w", err)
		}
	}
	return out, nil
}

// Close drops the batch's tensors. It is safe to call more than once.
func (b *Batch) Close() {
	for _, t := range []**ts.Tensor{&b.Images, &b.Labels, &b.Targets} {
		if *t != nil {
			_ = (*t).Drop()
			*t = nil
		}
	}
}

// hostPool recycles the Go-side buffers of Dataset.Batch.
var hostPool = sync.Pool{New: func() any { return new(HostBatch) }}

// Batch returns the tensors of the batch of the examples at indices,
// augmented as aug says with r: Fill, then Tensors, through a reused
// buffer. The caller owns the result and must Close it.
func (d *Dataset) Batch(indices []int, aug Augment, r *rand.Rand) (*Batch, error) {
	h := hostPool.Get().(*HostBatch)
	defer hostPool.Put(h)
	if err := d.Fill(h, indices, aug, r); err != nil {
		return nil, err
	}
	return h.Tensors()
}

package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// HostBatch is a batch in Go memory, before it becomes tensors: what Fill
// makes and torchdata.FromHost copies. Its slices are reused by the next Fill.
type HostBatch struct {
	// Size is the number of examples B; Channels and Classes are the
	// dataset's, Side its images' height and width.
	Size, Channels, Classes, Side int
	// Images holds B x Channels x Side x Side normalised values.
	Images []float32
	// Labels holds the B dataset labels (the image's own, before mixing).
	Labels []int64
	// Targets holds B x Classes soft targets, each row summing to 1, when
	// the augmentation asks for them (Augment.Soft); nil otherwise.
	Targets []float32
	// Mixing records how the batch was mixed.
	Mixing Mixing

	scratch  []uint8         // one image, for crop, flip and RandAugment
	fscratch []float32       // the same for datasets of float values
	lut      [3][256]float32 // per channel: the normalised value of each byte
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
	side := d.Info.ImageSide()
	plane := side * side
	n := c * plane
	if d.Values == nil && len(d.Images) < d.Len()*n || d.Values != nil && len(d.Values) < d.Len()*n {
		return fmt.Errorf("data: %s holds fewer values than %d images of %dx%dx%d", d.Info.Name, d.Len(), c, side, side)
	}
	if aug.RandAugment.Enabled() && (d.Values != nil || side != Size) {
		kind := "8-bit"
		if d.Values != nil {
			kind = "float"
		}
		return fmt.Errorf("data: RandAugment works on 8-bit %dx%d images; %s has %s %dx%d images", Size, Size, d.Info.Name, kind, side, side)
	}
	dst.Size, dst.Channels, dst.Classes, dst.Side = b, c, k, side
	dst.Images = resize(dst.Images, b*n)
	dst.Labels = resize(dst.Labels, b)
	if d.Values == nil {
		dst.scratch = resize(dst.scratch, n)
		dst.setLUT(d.Info)
	} else {
		dst.fscratch = resize(dst.fscratch, n)
	}
	for j, i := range indices {
		var dy, dx int
		doFlip := false
		if aug.CropPad > 0 {
			dy = r.IntN(2*aug.CropPad+1) - aug.CropPad
			dx = r.IntN(2*aug.CropPad+1) - aug.CropPad
		}
		if aug.Flip && r.IntN(2) == 1 {
			doFlip = true
		}
		out := dst.Images[j*n : (j+1)*n]
		if d.Values != nil {
			img := d.ImageValues(i)
			if aug.CropPad > 0 || doFlip {
				crop(dst.fscratch, img, c, side, dy, dx)
				if doFlip {
					flip(dst.fscratch, c, side)
				}
				img = dst.fscratch
			}
			copy(out, img)
		} else {
			img := d.Image(i)
			if aug.CropPad > 0 || doFlip || aug.RandAugment.Enabled() {
				crop(dst.scratch, img, c, side, dy, dx)
				if doFlip {
					flip(dst.scratch, c, side)
				}
				aug.RandAugment.applyTo(r, dst.scratch, c, d.Info)
				img = dst.scratch
			}
			for ch := 0; ch < c; ch++ {
				o := ch * plane
				normalise(out[o:o+plane], img[o:o+plane], &dst.lut[ch])
			}
		}
		dst.Labels[j] = int64(d.Labels[i])
	}
	dst.Mixing = mix(r, aug, dst.Images, b, c, side)
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

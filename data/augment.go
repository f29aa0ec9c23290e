package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augment selects the training augmentations of docs/methods.md §1 that a batch
// gets. The zero value is no augmentation (evaluation). It is plain data,
// with JSON names, for run configurations.
type Augment struct {
	// CropPad is the zero padding of the random crop in pixels (the paper
	// uses 4): the image is padded with black pixels on every side and a
	// Size x Size window is cut at a uniform offset. 0 turns it off.
	CropPad int `json:"crop_pad"`
	// Flip mirrors each image horizontally with probability 1/2, after the
	// crop. Leave it off for digits.
	Flip bool `json:"flip"`
	// MixupAlpha is the alpha of mixup (paper: 1.0); 0 turns it off. Each
	// batch is blended with itself in reverse order, x·λ + x_rev·(1-λ), λ
	// drawn from Beta(alpha, alpha).
	MixupAlpha float64 `json:"mixup_alpha"`
	// CutMixAlpha is the alpha of CutMix (paper: 0.8); 0 turns it off. A
	// box of area share about 1-λ (λ from Beta(alpha, alpha)) is pasted
	// from the reversed batch; λ is then corrected to the box's exact area.
	// With mixup on too, each batch gets one of the two with probability
	// 1/2 (as timm does).
	CutMixAlpha float64 `json:"cutmix_alpha"`
	// Smoothing is the label smoothing ε in [0, 1) (paper: 0.1): targets
	// become (1-ε)·onehot + ε/K.
	Smoothing float64 `json:"smoothing"`
	// RandAugment is applied to each image after the crop and flip (the
	// paper: PaperRandAugment); the zero value is off and is left out of
	// the JSON, so that configurations written before it existed read
	// back unchanged.
	RandAugment RandAugment `json:"rand_augment,omitzero"`
}

// PaperAugment returns the paper's CIFAR training augmentations (random crop
// with padding 4, flips, RandAugment m9 n2, mixup 1.0 or CutMix 0.8, label
// smoothing 0.1) adapted to a dataset: no flips where info.Flip is false.
// The official configuration's random erasing (probability 0.25) is not
// implemented.
func PaperAugment(info Info) Augment {
	return Augment{CropPad: 4, Flip: info.Flip, MixupAlpha: 1, CutMixAlpha: 0.8, Smoothing: 0.1,
		RandAugment: PaperRandAugment()}
}

// Validate reports the first out-of-range setting as a one-line error
// naming it.
func (a Augment) Validate() error {
	if a.CropPad < 0 || a.CropPad > Size {
		return fmt.Errorf("data: crop padding %d is outside 0..%d", a.CropPad, Size)
	}
	if !(a.MixupAlpha >= 0) || math.IsInf(a.MixupAlpha, 0) {
		return fmt.Errorf("data: mixup alpha %v is not a finite number >= 0", a.MixupAlpha)
	}
	if !(a.CutMixAlpha >= 0) || math.IsInf(a.CutMixAlpha, 0) {
		return fmt.Errorf("data: cutmix alpha %v is not a finite number >= 0", a.CutMixAlpha)
	}
	if !(a.Smoothing >= 0 && a.Smoothing < 1) {
		return fmt.Errorf("data: label smoothing %v is outside [0, 1)", a.Smoothing)
	}
	return a.RandAugment.Validate()
}

// Soft reports whether batches carry soft targets: with mixup, CutMix or
// label smoothing on.
func (a Augment) Soft() bool { return a.MixupAlpha > 0 || a.CutMixAlpha > 0 || a.Smoothing > 0 }

// random reports whether the augmentations draw random numbers.
func (a Augment) random() bool {
	return a.CropPad > 0 || a.Flip || a.MixupAlpha > 0 || a.CutMixAlpha > 0 || a.RandAugment.Enabled()
}

// MixKind says how a batch was mixed.
type MixKind int

const (
	// NoMix leaves the images unmixed (maybe cropped and flipped).
	NoMix MixKind = iota
	// Mixup blends every image with another.
	Mixup
	// CutMix pastes a box of another image into every image.
	CutMix
)

// String returns "none", "mixup" or "cutmix".
func (k MixKind) String() string {
	switch k {
	case NoMix:
		return "none"
	case Mixup:
		return "mixup"
	case CutMix:
		return "cutmix"
	}
	return fmt.Sprintf("MixKind(%d)", int(k))
}

// Mixing records how a batch of B images was mixed. Image i was mixed with
// image B-1-i (the batch reversed; the middle image of an odd batch with
// itself), and its target is λ·t(y_i) + (1-λ)·t(y_{B-1-i}), where t is the
// (smoothed) one-hot target.
type Mixing struct {
	Kind MixKind
	// Lambda is the weight of each image's own label: 1 without mixing; for
	// CutMix the exact share of the image outside the box.
	Lambda float64
	// Y0, Y1, X0, X1 bound CutMix's box: rows Y0..Y1-1, columns X0..X1-1.
	Y0, Y1, X0, X1 int
}

// gamma draws from the Gamma(shape, 1) distribution, shape > 0, by Marsaglia
// and Tsang's squeeze method (ACM TOMS 26(3), 2000), with their boost
// Gamma(a) = Gamma(a+1)·U^(1/a) for a < 1. The result is > 0.
func gamma(r *rand.Rand, shape float64) float64 {
	boost := 1.0
	if shape < 1 {
		boost = math.Pow(1-r.Float64(), 1/shape) // U in (0, 1]
		shape++
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < x*x/2+d*(1-v+math.Log(v)) {
			if g := d * v * boost; g > 0 {
				return g
			}
		}
	}
}

// beta draws from the Beta(a, b) distribution as X/(X+Y) with X ~ Gamma(a),
// Y ~ Gamma(b).
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a)
	y := gamma(r, b)
	return x / (x + y)
}

// cutBox returns a box of about (1-lam)·n² pixels with a uniform centre,
// clipped to an n x n image: side n·sqrt(1-lam) before clipping.
func cutBox(r *rand.Rand, lam float64, n int) (y0, y1, x0, x1 int) {
	side := int(float64(n) * math.Sqrt(1-lam))
	cy, cx := r.IntN(n), r.IntN(n)
	y0, x0 = cy-side/2, cx-side/2
	y1, x1 = y0+side, x0+side
	clip := func(v int) int { return min(max(v, 0), n) }
	return clip(y0), clip(y1), clip(x0), clip(x1)
}

// mix applies mixup or CutMix, as a allows, to the b normalised images in
// x (c channels of side x side floats each), pairing image i with b-1-i.
func mix(r *rand.Rand, a Augment, x []float32, b, c, side int) Mixing {
	kind := Mixup
	switch {
	case a.MixupAlpha > 0 && a.CutMixAlpha > 0:
		if r.Float64() < 0.5 {
			kind = CutMix
		}
	case a.CutMixAlpha > 0:
		kind = CutMix
	case a.MixupAlpha <= 0:
		return Mixing{Kind: NoMix, Lambda: 1}
	}
	n := c * side * side
	if kind == Mixup {
		lam := beta(r, a.MixupAlpha, a.MixupAlpha)
		l, m := float32(lam), float32(1-lam)
		for i := 0; i < b/2; i++ {
			p, q := x[i*n:(i+1)*n], x[(b-1-i)*n:(b-i)*n]
			for k := range p {
				p[k], q[k] = l*p[k]+m*q[k], l*q[k]+m*p[k]
			}
		}
		return Mixing{Kind: Mixup, Lambda: lam}
	}
	lam := beta(r, a.CutMixAlpha, a.CutMixAlpha)
	y0, y1, x0, x1 := cutBox(r, lam, side)
	for i := 0; i < b/2; i++ {
		p, q := x[i*n:(i+1)*n], x[(b-1-i)*n:(b-i)*n]
		for ch := 0; ch < c; ch++ {
			for y := y0; y < y1; y++ {
				o := ch*side*side + y*side
				for k := o + x0; k < o+x1; k++ {
					p[k], q[k] = q[k], p[k]
				}
			}
		}
	}
	exact := 1 - float64((y1-y0)*(x1-x0))/float64(side*side)
	return Mixing{Kind: CutMix, Lambda: exact, Y0: y0, Y1: y1, X0: x0, X1: x1}
}

// pixel is the element type of stored images: bytes, or pre-normalised
// floats (Dataset.Values).
type pixel interface{ ~uint8 | ~float32 }

// flip mirrors a c-channel n x n image horizontally in place.
func flip[P pixel](img []P, c, n int) {
	for row := 0; row < c*n; row++ {
		line := img[row*n : (row+1)*n]
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			line[i], line[j] = line[j], line[i]
		}
	}
}

// crop writes into dst the c-channel n x n window of src shifted by
// (dy, dx): dst(y, x) = src(y+dy, x+dx), zero where that falls outside src.
// It is the random crop of a zero-padded image at offset (pad+dy, pad+dx).
// For pre-normalised floats, zero is the mean colour rather than black.
func crop[P pixel](dst, src []P, c, n, dy, dx int) {
	clear(dst[:c*n*n])
	// Columns x with 0 <= x+dx < n.
	xlo, xhi := max(0, -dx), min(n, n-dx)
	if xlo >= xhi {
		return
	}
	for ch := 0; ch < c; ch++ {
		for y := max(0, -dy); y < min(n, n-dy); y++ {
			d := ch*n*n + y*n
			s := ch*n*n + (y+dy)*n + dx
			copy(dst[d+xlo:d+xhi], src[s+xlo:s+xhi])
		}
	}
}

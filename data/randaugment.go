package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandAugment is RandAugment (Cubuk et al., 2020) in the variant the
// paper's recipe uses ("rand-m9-n2-mstd0.5" of timm, which the official
// code calls): every image gets N operations drawn uniformly, with
// replacement, from the 15 of RandAugOps; each one is applied with
// probability Prob, at a magnitude drawn from a normal distribution of
// mean M and standard deviation MStd and clipped to [0, 10]. The zero value
// (N = 0) is off. It works on the 8-bit pixels, after the random crop and
// flip and before normalisation, as the official pipeline does.
//
// Adapted to this package's images (32 × 32, one or three channels): the
// operations act on each channel alone except Color and Contrast, which
// read the grey level of RGB images (on one-channel images Color is the
// identity and stays in the list, so that every other operation keeps its
// probability); geometric operations sample bilinearly (timm picks
// bilinear or bicubic at random) and fill what comes from outside the
// image with the dataset's mean pixel value, round(255·mean), as timm
// does; translations are relative to the 32-pixel side (0.45·m/10 of it,
// 13 pixels at m = 9, as the official code on 32 × 32 CIFAR images).
type RandAugment struct {
	// N is the number of operations per image (the paper: 2); 0 turns
	// RandAugment off.
	N int `json:"n"`
	// M is the magnitude on timm's 0..10 scale (the paper: 9).
	M float64 `json:"m"`
	// MStd is the standard deviation of the magnitude's noise (the
	// paper: 0.5); 0 uses M as it is.
	MStd float64 `json:"mstd"`
	// Prob is the probability that a drawn operation is applied (timm:
	// 0.5).
	Prob float64 `json:"p"`
}

// PaperRandAugment returns the paper's RandAugment: m9, n2, magnitude
// noise 0.5, each operation applied with probability 0.5.
func PaperRandAugment() RandAugment { return RandAugment{N: 2, M: 9, MStd: 0.5, Prob: 0.5} }

// Enabled reports whether RandAugment is on.
func (ra RandAugment) Enabled() bool { return ra.N > 0 }

// String returns timm's name of the setting, e.g. "rand-m9-n2-mstd0.5-p0.5",
// or "off".
func (ra RandAugment) String() string {
	if !ra.Enabled() {
		return "off"
	}
	return fmt.Sprintf("rand-m%g-n%d-mstd%g-p%g", ra.M, ra.N, ra.MStd, ra.Prob)
}

// Validate reports the first out-of-range setting as a one-line error.
func (ra RandAugment) Validate() error {
	if ra.N == 0 && ra.M == 0 && ra.MStd == 0 && ra.Prob == 0 {
		return nil
	}
	switch {
	case ra.N < 1 || ra.N > 16:
		return fmt.Errorf("data: RandAugment with %d operations per image, want 1..16 (0 with every other field 0: off)", ra.N)
	case !(ra.M >= 0 && ra.M <= randAugMaxLevel):
		return fmt.Errorf("data: RandAugment magnitude %v is outside 0..%g", ra.M, float64(randAugMaxLevel))
	case !(ra.MStd >= 0) || math.IsInf(ra.MStd, 0):
		return fmt.Errorf("data: RandAugment magnitude noise %v is not a finite number >= 0", ra.MStd)
	case !(ra.Prob > 0 && ra.Prob <= 1):
		return fmt.Errorf("data: RandAugment probability %v is outside (0, 1]", ra.Prob)
	}
	return nil
}

// randAugMaxLevel is the top of the magnitude scale (timm's _LEVEL_DENOM).
const randAugMaxLevel = 10

// RandAugOp names one operation of RandAugment.
type RandAugOp int

// The operations, in timm's order (its _RAND_TRANSFORMS). Below, m is the
// magnitude drawn for the operation, f = 0.1 + 1.8·m/10 the enhancement
// factor, and ± a sign drawn with probability 1/2 each.
const (
	// AutoContrast stretches each channel's range to 0..255.
	AutoContrast RandAugOp = iota
	// Equalize equalises each channel's histogram.
	Equalize
	// Invert maps v to 255 − v.
	Invert
	// Rotate turns the image by ±30·m/10 degrees (counter-clockwise for
	// +) about its centre.
	Rotate
	// Posterize keeps the int(4·m/10) most significant bits.
	Posterize
	// Solarize inverts the values at or above int(256·m/10).
	Solarize
	// SolarizeAdd adds int(110·m/10) to the values below 128 (at most 255).
	SolarizeAdd
	// Color blends each pixel with its grey level by f (identity on one
	// channel).
	Color
	// Contrast blends with the image's mean grey level by f.
	Contrast
	// Brightness blends with black by f (scales the values by f).
	Brightness
	// Sharpness blends with the image smoothed by the 3 × 3 kernel
	// [1 1 1; 1 5 1; 1 1 1]/13 (border pixels kept) by f.
	Sharpness
	// ShearX shears along x: the pixel at (x, y) comes from
	// (x ± 0.3·m/10·y, y).
	ShearX
	// ShearY shears along y.
	ShearY
	// TranslateX shifts by ±0.45·m/10 of the width: the pixel at x comes
	// from x + shift.
	TranslateX
	// TranslateY shifts by ±0.45·m/10 of the height.
	TranslateY
	numRandAugOps
)

// RandAugOps lists every operation.
func RandAugOps() []RandAugOp {
	out := make([]RandAugOp, numRandAugOps)
	for i := range out {
		out[i] = RandAugOp(i)
	}
	return out
}

var randAugNames = [...]string{"AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
	"Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY"}

// String returns the operation's name, e.g. "ShearX".
func (op RandAugOp) String() string {
	if op >= 0 && op < numRandAugOps {
		return randAugNames[op]
	}
	return fmt.Sprintf("RandAugOp(%d)", int(op))
}

// signed reports whether the operation's argument takes a random sign.
func (op RandAugOp) signed() bool {
	switch op {
	case Rotate, ShearX, ShearY, TranslateX, TranslateY:
		return true
	}
	return false
}

// RandAugArg returns the argument of op at magnitude m (0..10), before any
// sign: degrees, shear factor, shift in pixels, bits kept, threshold,
// amount added or enhancement factor (0 for the operations without one).
// The scales are timm's.
func RandAugArg(op RandAugOp, m float64) float64 {
	l := m / randAugMaxLevel
	switch op {
	case Rotate:
		return 30 * l
	case Posterize:
		return float64(int(4 * l))
	case Solarize:
		return float64(int(256 * l))
	case SolarizeAdd:
		return float64(int(110 * l))
	case Color, Contrast, Brightness, Sharpness:
		return 0.1 + 1.8*l
	case ShearX, ShearY:
		return 0.3 * l
	case TranslateX, TranslateY:
		return 0.45 * l * Size
	}
	return 0
}

// randAugImage is one c-channel Size × Size image and what the operations
// need besides its pixels.
type randAugImage struct {
	px   []uint8 // c·Size·Size, planar
	tmp  []uint8 // as long as px: scratch
	c    int
	fill [3]uint8 // per channel: the value of pixels from outside the image
}

// apply draws the operations for one image from r and applies them in place.
func (ra RandAugment) apply(r *rand.Rand, im *randAugImage) {
	for range ra.N {
		op := RandAugOp(r.IntN(int(numRandAugOps)))
		if ra.Prob < 1 && r.Float64() >= ra.Prob {
			continue
		}
		m := ra.M
		if ra.MStd > 0 {
			m += ra.MStd * r.NormFloat64()
		}
		m = min(max(m, 0), randAugMaxLevel)
		arg := RandAugArg(op, m)
		if op.signed() && r.IntN(2) == 1 {
			arg = -arg
		}
		im.do(op, arg)
	}
}

// ApplyRandAugOp applies op with argument arg (as RandAugArg returns it,
// with its sign) to img, c planar channels of Size × Size pixels, in place;
// fill gives each channel's value for pixels from outside the image. It
// is RandAugment's operation without the random draws, for tests and
// illustrations.
func ApplyRandAugOp(img []uint8, c int, op RandAugOp, arg float64, fill [3]uint8) error {
	if c < 1 || c > 3 || len(img) != c*Size*Size {
		return fmt.Errorf("data: RandAugment on %d bytes of %d channels, want %d", len(img), c, c*Size*Size)
	}
	if op < 0 || op >= numRandAugOps {
		return fmt.Errorf("data: unknown RandAugment operation %d", int(op))
	}
	im := &randAugImage{px: img, tmp: make([]uint8, len(img)), c: c, fill: fill}
	im.do(op, arg)
	return nil
}

// do applies one operation with its argument.
func (im *randAugImage) do(op RandAugOp, arg float64) {
	switch op {
	case AutoContrast:
		im.eachChannel(autoContrastLUT)
	case Equalize:
		im.eachChannel(equalizeLUT)
	case Invert:
		for i, v := range im.px {
			im.px[i] = 255 - v
		}
	case Posterize:
		bits := int(arg)
		mask := uint8(0xff << (8 - min(max(bits, 0), 8)))
		if bits <= 0 {
			mask = 0
		}
		for i, v := range im.px {
			im.px[i] = v & mask
		}
	case Solarize:
		t := int(arg)
		for i, v := range im.px {
			if int(v) >= t {
				im.px[i] = 255 - v
			}
		}
	case SolarizeAdd:
		add := int(arg)
		for i, v := range im.px {
			if v < 128 {
				im.px[i] = uint8(min(255, int(v)+add))
			}
		}
	case Color:
		if im.c == 3 {
			im.blend(im.grey(), arg)
		}
	case Contrast:
		g := im.grey()
		var s int
		for _, v := range g[:Size*Size] {
			s += int(v)
		}
		mean := uint8((s + Size*Size/2) / (Size * Size))
		for i := range im.tmp {
			im.tmp[i] = mean
		}
		im.blend(im.tmp, arg)
	case Brightness:
		clear(im.tmp)
		im.blend(im.tmp, arg)
	case Sharpness:
		im.blend(im.smooth(), arg)
	case Rotate:
		t := -arg * math.Pi / 180
		cs, sn := math.Cos(t), math.Sin(t)
		im.affine(cs, sn, -sn, cs)
	case ShearX:
		im.affine(1, arg, 0, 1)
	case ShearY:
		im.affine(1, 0, arg, 1)
	case TranslateX:
		im.shift(arg, 0)
	case TranslateY:
		im.shift(0, arg)
	}
}

// eachChannel maps every channel through the table lut builds from that
// channel's histogram.
func (im *randAugImage) eachChannel(lut func(h *[256]int) [256]uint8) {
	const n = Size * Size
	for ch := 0; ch < im.c; ch++ {
		p := im.px[ch*n : (ch+1)*n]
		var h [256]int
		for _, v := range p {
			h[v]++
		}
		t := lut(&h)
		for i, v := range p {
			p[i] = t[v]
		}
	}
}

// autoContrastLUT maps the channel's lowest value lo to 0 and its highest
// hi to 255: v -> (v − lo)·255 / (hi − lo) in integers; a constant channel
// is left alone.
func autoContrastLUT(h *[256]int) [256]uint8 {
	var t [256]uint8
	lo, hi := 0, 255
	for lo < 256 && h[lo] == 0 {
		lo++
	}
	for hi >= 0 && h[hi] == 0 {
		hi--
	}
	for i := range t {
		t[i] = uint8(i)
	}
	if hi <= lo {
		return t
	}
	for i := range t {
		v := (i - lo) * 255 / (hi - lo) // truncated toward zero
		t[i] = uint8(min(max(v, 0), 255))
	}
	return t
}

// equalizeLUT is histogram equalisation as PIL defines it: with N pixels
// and the count c of the highest value present, step = (N − c) / 255
// (integer division); the table maps value i to (step/2 + Σ_{j<i} h[j]) /
// step, at most 255. With step 0 (nearly constant channels) it is the
// identity.
func equalizeLUT(h *[256]int) [256]uint8 {
	var t [256]uint8
	total, last := 0, -1
	for i, c := range h {
		total += c
		if c > 0 {
			last = i
		}
	}
	for i := range t {
		t[i] = uint8(i)
	}
	if last < 0 {
		return t
	}
	step := (total - h[last]) / 255
	if step == 0 {
		return t
	}
	n := step / 2
	for i := range t {
		t[i] = uint8(min(n/step, 255))
		n += h[i]
	}
	return t
}

// grey returns the image's grey level, ITU-R 601 weights on RGB as PIL's
// "L" conversion ((299 R + 587 G + 114 B) / 1000, truncated), repeated
// for each channel in im.tmp; for one channel, the channel itself.
func (im *randAugImage) grey() []uint8 {
	const n = Size * Size
	if im.c != 3 {
		copy(im.tmp, im.px)
		return im.tmp
	}
	for i := 0; i < n; i++ {
		g := (299*int(im.px[i]) + 587*int(im.px[n+i]) + 114*int(im.px[2*n+i])) / 1000
		im.tmp[i], im.tmp[n+i], im.tmp[2*n+i] = uint8(g), uint8(g), uint8(g)
	}
	return im.tmp
}

// blend sets px = deg + f·(px − deg), rounded and clipped to 0..255.
func (im *randAugImage) blend(deg []uint8, f float64) {
	for i, v := range im.px {
		d := float64(deg[i])
		im.px[i] = clip8(d + f*(float64(v)-d))
	}
}

// clip8 rounds v half up and clips it to 0..255.
func clip8(v float64) uint8 {
	return uint8(min(max(math.Floor(v+0.5), 0), 255))
}

// smooth returns in im.tmp the image filtered with [1 1 1; 1 5 1; 1 1 1]/13
// (rounded), the border pixels copied unchanged.
func (im *randAugImage) smooth() []uint8 {
	const n = Size * Size
	copy(im.tmp, im.px)
	for ch := 0; ch < im.c; ch++ {
		p, q := im.px[ch*n:(ch+1)*n], im.tmp[ch*n:(ch+1)*n]
		for y := 1; y < Size-1; y++ {
			for x := 1; x < Size-1; x++ {
				s := 4 * int(p[y*Size+x])
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						s += int(p[(y+dy)*Size+x+dx])
					}
				}
				q[y*Size+x] = uint8((s + 6) / 13)
			}
		}
	}
	return im.tmp
}

// affine resamples the image so that the output point p (pixel centres at
// half-integers, origin at the image centre) takes the input at
// [a b; c d]·p, bilinearly, with im.fill outside the image.
func (im *randAugImage) affine(a, b, c, d float64) {
	const half = Size / 2.0
	im.resample(func(x, y float64) (float64, float64) {
		px, py := x+0.5-half, y+0.5-half
		return a*px + b*py + half - 0.5, c*px + d*py + half - 0.5
	})
}

// shift resamples the image so that output pixel (x, y) takes the input at
// (x + dx, y + dy).
func (im *randAugImage) shift(dx, dy float64) {
	im.resample(func(x, y float64) (float64, float64) { return x + dx, y + dy })
}

// resample sets every output pixel (column x, row y) to the bilinear
// interpolation of the input at src(x, y) (in pixel-index coordinates);
// neighbours outside the image take the channel's fill value.
func (im *randAugImage) resample(src func(x, y float64) (float64, float64)) {
	const n = Size * Size
	copy(im.tmp, im.px)
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			sx, sy := src(float64(x), float64(y))
			x0, y0 := math.Floor(sx), math.Floor(sy)
			fx, fy := sx-x0, sy-y0
			ix, iy := int(x0), int(y0)
			for ch := 0; ch < im.c; ch++ {
				in := im.tmp[ch*n : (ch+1)*n]
				fill := float64(im.fill[ch])
				at := func(xx, yy int) float64 {
					if xx < 0 || yy < 0 || xx >= Size || yy >= Size {
						return fill
					}
					return float64(in[yy*Size+xx])
				}
				v := (1-fy)*((1-fx)*at(ix, iy)+fx*at(ix+1, iy)) + fy*((1-fx)*at(ix, iy+1)+fx*at(ix+1, iy+1))
				im.px[ch*n+y*Size+x] = clip8(v)
			}
		}
	}
}

// randAugFill returns each channel's mean pixel value as a byte,
// round(255·mean), the fill of geometric operations (timm's img_mean).
func randAugFill(info Info) [3]uint8 {
	var f [3]uint8
	for c := 0; c < info.Channels && c < 3; c++ {
		f[c] = clip8(255 * info.Mean[c])
	}
	return f
}

// applyTo applies RandAugment to one image of c channels in place (nothing
// when it is off), drawing from r; fill values come from info.
func (ra RandAugment) applyTo(r *rand.Rand, img []uint8, c int, info Info) {
	if !ra.Enabled() {
		return
	}
	ra.apply(r, &randAugImage{px: img, tmp: make([]uint8, len(img)), c: c, fill: randAugFill(info)})
}

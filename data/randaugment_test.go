package data

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const px = Size * Size

// filled returns a c-channel image with every pixel set to v.
func filled(c int, v uint8) []uint8 {
	img := make([]uint8, c*px)
	for i := range img {
		img[i] = v
	}
	return img
}

// applyOp applies op to a copy of img and returns it.
func applyOp(t *testing.T, img []uint8, c int, op RandAugOp, arg float64, fill [3]uint8) []uint8 {
	t.Helper()
	out := append([]uint8(nil), img...)
	if err := ApplyRandAugOp(out, c, op, arg, fill); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRandAugPointOps checks the operations that map each value on its
// own against values worked out by hand.
func TestRandAugPointOps(t *testing.T) {
	in := []uint8{0, 30, 100, 120, 127, 128, 200, 229, 230, 255}
	cases := []struct {
		op   RandAugOp
		arg  float64
		want []uint8
	}{
		{Invert, 0, []uint8{255, 225, 155, 135, 128, 127, 55, 26, 25, 0}},
		// Keep 3 bits: v & 0b11100000.
		{Posterize, 3, []uint8{0, 0, 96, 96, 96, 128, 192, 224, 224, 224}},
		// Keep no bit: black.
		{Posterize, 0, []uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		// Invert at or above 230.
		{Solarize, 230, []uint8{0, 30, 100, 120, 127, 128, 200, 229, 25, 0}},
		// Add 99 below 128, at most 255.
		{SolarizeAdd, 99, []uint8{99, 129, 199, 219, 226, 128, 200, 229, 230, 255}},
		// Brightness scales: 1.5·v rounded, clipped.
		{Brightness, 1.5, []uint8{0, 45, 150, 180, 191, 192, 255, 255, 255, 255}},
		{Brightness, 0.1, []uint8{0, 3, 10, 12, 13, 13, 20, 23, 23, 26}},
	}
	for _, c := range cases {
		img := make([]uint8, px)
		copy(img, in)
		got := applyOp(t, img, 1, c.op, c.arg, [3]uint8{})
		for i, w := range c.want {
			if got[i] != w {
				t.Errorf("%v(%g): %d -> %d, want %d", c.op, c.arg, in[i], got[i], w)
			}
		}
	}
}

// TestRandAugArgs checks timm's magnitude scales at m = 9 and m = 10.
func TestRandAugArgs(t *testing.T) {
	cases := []struct {
		op    RandAugOp
		m     float64
		want  float64
		exact bool
	}{
		{Rotate, 9, 27, false},
		{Rotate, 10, 30, false},
		{Posterize, 9, 3, true},
		{Posterize, 10, 4, true},
		{Solarize, 9, 230, true},
		{SolarizeAdd, 9, 99, true},
		{Color, 9, 1.72, false},
		{Contrast, 0, 0.1, false},
		{Sharpness, 10, 1.9, false},
		{ShearX, 9, 0.27, false},
		{TranslateY, 9, 0.405 * 32, false},
		{AutoContrast, 9, 0, true},
	}
	for _, c := range cases {
		got := RandAugArg(c.op, c.m)
		if math.Abs(got-c.want) > 1e-12 || (c.exact && got != c.want) {
			t.Errorf("%v at m=%g: %g, want %g", c.op, c.m, got, c.want)
		}
	}
}

// TestRandAugAutoContrast: values 50..150 stretch to 0..255; a constant
// image is left alone; channels are stretched separately.
func TestRandAugAutoContrast(t *testing.T) {
	img := make([]uint8, 2*px)
	for i := 0; i < px; i++ {
		img[i] = uint8(50 + i%101) // 50..150
		img[px+i] = 7
	}
	got := applyOp(t, img, 2, AutoContrast, 0, [3]uint8{})
	for i := 0; i < px; i++ {
		want := uint8((int(img[i]) - 50) * 255 / 100)
		if got[i] != want {
			t.Fatalf("pixel %d: %d -> %d, want %d", i, img[i], got[i], want)
		}
		if got[px+i] != 7 {
			t.Fatalf("constant channel changed at %d: %d", i, got[px+i])
		}
	}
	if got[0] != 0 || got[100] != 255 {
		t.Errorf("ends: %d, %d, want 0 and 255", got[0], got[100])
	}
}

// TestRandAugEqualize: a two-level image becomes black and white; a ramp
// holding every value equally often is already equalised.
func TestRandAugEqualize(t *testing.T) {
	two := make([]uint8, px)
	for i := range two {
		two[i] = 10
		if i%2 == 1 {
			two[i] = 200
		}
	}
	got := applyOp(t, two, 1, Equalize, 0, [3]uint8{})
	for i, v := range got {
		want := uint8(0)
		if two[i] == 200 {
			want = 255
		}
		if v != want {
			t.Fatalf("two levels: pixel %d: %d -> %d, want %d", i, two[i], v, want)
		}
	}
	ramp := make([]uint8, px)
	for i := range ramp {
		ramp[i] = uint8(i / 4) // each of 0..255 four times
	}
	if got := applyOp(t, ramp, 1, Equalize, 0, [3]uint8{}); string(got) != string(ramp) {
		t.Error("a uniform histogram changed")
	}
	if got := applyOp(t, filled(1, 77), 1, Equalize, 0, [3]uint8{}); got[5] != 77 {
		t.Errorf("a constant image changed to %d", got[5])
	}
}

// TestRandAugBlends checks Contrast, Color and Sharpness against their
// definitions on small synthetic images.
func TestRandAugBlends(t *testing.T) {
	// Contrast: half 50, half 150: mean grey 100; factor 2 maps 50 -> 0
	// and 150 -> 200; factor 0 gives the constant mean.
	img := make([]uint8, px)
	for i := range img {
		img[i] = 50
		if i >= px/2 {
			img[i] = 150
		}
	}
	got := applyOp(t, img, 1, Contrast, 2, [3]uint8{})
	if got[0] != 0 || got[px-1] != 200 {
		t.Errorf("contrast 2: %d, %d, want 0 and 200", got[0], got[px-1])
	}
	got = applyOp(t, img, 1, Contrast, 0, [3]uint8{})
	if got[0] != 100 || got[px-1] != 100 {
		t.Errorf("contrast 0: %d, %d, want 100", got[0], got[px-1])
	}
	// Color on RGB with factor 0: every pixel becomes its grey level,
	// (299 R + 587 G + 114 B) / 1000 truncated; pure red (255, 0, 0): 76.
	rgb := make([]uint8, 3*px)
	for i := 0; i < px; i++ {
		rgb[i] = 255
	}
	got = applyOp(t, rgb, 3, Color, 0, [3]uint8{})
	for ch := 0; ch < 3; ch++ {
		if got[ch*px+17] != 76 {
			t.Errorf("colour 0, channel %d: %d, want 76", ch, got[ch*px+17])
		}
	}
	// Color on one channel is the identity.
	one := make([]uint8, px)
	for i := range one {
		one[i] = uint8(i * 7)
	}
	if got := applyOp(t, one, 1, Color, 0, [3]uint8{}); string(got) != string(one) {
		t.Error("colour changed a one-channel image")
	}
	// Sharpness 0 is the smoothed image: one pixel of 130 in black gives
	// 130·5/13 = 50 at its place and 130/13 = 10 around it; factor 1 is the
	// identity; factor 2 sharpens: 2·130 − 50 = 210 and 0 − 10 -> 0.
	dot := make([]uint8, px)
	dot[10*Size+10] = 130
	got = applyOp(t, dot, 1, Sharpness, 0, [3]uint8{})
	if got[10*Size+10] != 50 || got[9*Size+9] != 10 || got[11*Size+10] != 10 || got[12*Size+10] != 0 {
		t.Errorf("sharpness 0: centre %d, diagonal %d, below %d, two below %d; want 50, 10, 10, 0",
			got[10*Size+10], got[9*Size+9], got[11*Size+10], got[12*Size+10])
	}
	if got := applyOp(t, dot, 1, Sharpness, 1, [3]uint8{}); string(got) != string(dot) {
		t.Error("sharpness 1 changed the image")
	}
	got = applyOp(t, dot, 1, Sharpness, 2, [3]uint8{})
	if got[10*Size+10] != 210 || got[9*Size+10] != 0 {
		t.Errorf("sharpness 2: %d, %d, want 210 and 0", got[10*Size+10], got[9*Size+10])
	}
	// Border pixels are kept: a dot on the border is not smoothed.
	edge := make([]uint8, px)
	edge[5] = 200
	if got := applyOp(t, edge, 1, Sharpness, 0, [3]uint8{}); got[5] != 200 {
		t.Errorf("border pixel smoothed to %d", got[5])
	}
}

// TestRandAugGeometry checks the geometric operations: whole-pixel shifts,
// a quarter turn (exact on pixel centres), half-pixel shears, and fills.
func TestRandAugGeometry(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	img := randomBytes(r, px, 256)
	fill := [3]uint8{33}
	// TranslateX by 3: out(x) = in(x+3), the last 3 columns filled.
	got := applyOp(t, img, 1, TranslateX, 3, fill)
	gotY := applyOp(t, img, 1, TranslateY, -2, fill)
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			want := fill[0]
			if x+3 < Size {
				want = img[y*Size+x+3]
			}
			if got[y*Size+x] != want {
				t.Fatalf("translate x: (%d, %d) = %d, want %d", x, y, got[y*Size+x], want)
			}
			wantY := fill[0]
			if y-2 >= 0 {
				wantY = img[(y-2)*Size+x]
			}
			if gotY[y*Size+x] != wantY {
				t.Fatalf("translate y: (%d, %d) = %d, want %d", x, y, gotY[y*Size+x], wantY)
			}
		}
	}
	// Rotate by +90 degrees (counter-clockwise): out[y][x] = in[x][31-y].
	got = applyOp(t, img, 1, Rotate, 90, fill)
	for y := 0; y < Size; y++ {
		for x := 0; x < Size; x++ {
			if want := img[x*Size+(Size-1-y)]; got[y*Size+x] != want {
				t.Fatalf("rotate 90: (%d, %d) = %d, want %d", x, y, got[y*Size+x], want)
			}
		}
	}
	// Four quarter turns give the image back.
	back := img
	for range 4 {
		back = applyOp(t, back, 1, Rotate, 90, fill)
	}
	if string(back) != string(img) {
		t.Error("four quarter turns changed the image")
	}
	// A constant image rotated by 27 degrees stays constant inside and
	// takes the fill in the corners.
	got = applyOp(t, filled(1, 200), 1, Rotate, 27, fill)
	if got[16*Size+16] != 200 || got[0] != fill[0] || got[px-1] != fill[0] {
		t.Errorf("rotate 27: centre %d, corners %d %d; want 200, %d", got[16*Size+16], got[0], got[px-1], fill[0])
	}
	// ShearX 0.2: row y takes the input at x + 0.2·(y + 0.5 − 16). Row 2
	// is offset by 0.2·(−13.5) = −2.7: a vertical line of 200 at x0 shows
	// at x0+3 (weight 0.7: 140) and x0+2 (weight 0.3: 60).
	line := make([]uint8, px)
	for y := 0; y < Size; y++ {
		line[y*Size+12] = 200
	}
	got = applyOp(t, line, 1, ShearX, 0.2, [3]uint8{})
	row := got[2*Size : 3*Size]
	if row[15] != 140 || row[14] != 60 || row[12] != 0 || row[16] != 0 {
		t.Errorf("shear x row 2: %v", row[10:18])
	}
	// Row 15 has offset 0.2·(−0.5) = −0.1: 180 at 12, 20 at 13.
	row = got[15*Size : 16*Size]
	if row[12] != 180 || row[13] != 20 {
		t.Errorf("shear x row 15: %v", row[10:16])
	}
	// ShearY is ShearX transposed.
	col := make([]uint8, px)
	for x := 0; x < Size; x++ {
		col[12*Size+x] = 200
	}
	got = applyOp(t, col, 1, ShearY, 0.2, [3]uint8{})
	if got[15*Size+2] != 140 || got[14*Size+2] != 60 {
		t.Errorf("shear y column 2: %d %d, want 140 60", got[15*Size+2], got[14*Size+2])
	}
}

// TestRandAugmentDraws: the same generator state gives the same images;
// an image is left alone only when no drawn operation was applied (or
// when the applied ones happened to change nothing); the operations are
// drawn uniformly.
func TestRandAugmentDraws(t *testing.T) {
	ra := PaperRandAugment()
	// Values 20..199: Solarize (threshold 200 or more at m >= 7.8) and
	// Color (one channel) leave this image alone, every other operation
	// changes it.
	src := randomBytes(rand.New(rand.NewPCG(3, 4)), px, 180)
	for i := range src {
		src[i] += 20
	}
	run := func(seed uint64) []uint8 {
		img := append([]uint8(nil), src...)
		ra.applyTo(rand.New(rand.NewPCG(seed, 9)), img, 1, mnistInfo)
		return img
	}
	if a, b := run(5), run(5); string(a) != string(b) {
		t.Fatal("same seed, different images")
	}
	// Each of the two draws leaves the image alone with probability
	// 0.5 (not applied) + 0.5·2/15 (applied, but Color or Solarize): an
	// image is unchanged with probability 0.5667² = 0.321.
	const n = 2000
	same := 0
	for s := range uint64(n) {
		if string(run(100+s)) == string(src) {
			same++
		}
	}
	p := 0.5 + 0.5*2.0/15
	want := p * p
	if f := float64(same) / n; math.Abs(f-want) > 0.04 { // 4 standard errors
		t.Errorf("%.3f of the images unchanged, want %.3f", f, want)
	}
	// Operation counts: draw as apply does, 15 ops uniform.
	r := rand.New(rand.NewPCG(7, 7))
	counts := make([]int, numRandAugOps)
	for range 15000 {
		counts[r.IntN(int(numRandAugOps))]++
	}
	for op, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("%v drawn %d times of 15000, want about 1000", RandAugOp(op), c)
		}
	}
	if off := (RandAugment{}); off.Enabled() || off.String() != "off" {
		t.Error("the zero value is not off")
	}
	if s := ra.String(); s != "rand-m9-n2-mstd0.5-p0.5" {
		t.Errorf("name %q", s)
	}
}

// TestRandAugmentInAugment: the paper's augmentation includes it, old
// configurations without the field read back unchanged, and bad settings
// are one-line errors.
func TestRandAugmentInAugment(t *testing.T) {
	if a := PaperAugment(mnistInfo); a.RandAugment != PaperRandAugment() {
		t.Errorf("paper augmentation's RandAugment %+v", a.RandAugment)
	}
	var a Augment
	if err := json.Unmarshal([]byte(`{"crop_pad":4,"flip":false,"mixup_alpha":0,"cutmix_alpha":0,"smoothing":0}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.RandAugment.Enabled() {
		t.Error("an old configuration has RandAugment on")
	}
	b, _ := json.Marshal(Augment{CropPad: 4})
	if strings.Contains(string(b), "rand_augment") {
		t.Errorf("RandAugment off is written: %s", b)
	}
	for _, bad := range []RandAugment{{N: -1, M: 9, Prob: 0.5}, {N: 2, M: 11, Prob: 0.5}, {N: 2, M: 9, Prob: 0}, {N: 2, M: 9, MStd: -1, Prob: 1}} {
		checkErr(t, Augment{RandAugment: bad}.Validate(), "RandAugment")
	}
	if err := ApplyRandAugOp(make([]uint8, 10), 1, Invert, 0, [3]uint8{}); err == nil {
		t.Error("a short image was accepted")
	}
	if f := randAugFill(mnistInfo); f[0] != 33 {
		t.Errorf("MNIST fill %d, want round(255·0.1307) = 33", f[0])
	}
	if f := randAugFill(cifar100Info); f != [3]uint8{129, 124, 112} {
		t.Errorf("CIFAR-100 fill %v, want 129 124 112", f)
	}
}

// TestFillRandAugment: Fill applies RandAugment between the crop and the
// normalisation, drawing from the batch's generator.
func TestFillRandAugment(t *testing.T) {
	d := &Dataset{Info: mnistInfo, Images: randomBytes(rand.New(rand.NewPCG(1, 1)), 4*px, 256), Labels: []uint8{1, 2, 3, 4}}
	var plain, ra HostBatch
	if err := d.Fill(&plain, []int{0, 1, 2, 3}, Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	aug := Augment{RandAugment: RandAugment{N: 3, M: 9, Prob: 1}}
	if err := d.Fill(&ra, []int{0, 1, 2, 3}, aug, nil); err == nil {
		t.Error("RandAugment without a generator was accepted")
	}
	if err := d.Fill(&ra, []int{0, 1, 2, 3}, aug, rand.New(rand.NewPCG(2, 2))); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i := range plain.Images {
		if plain.Images[i] != ra.Images[i] {
			changed++
		}
	}
	if changed == 0 {
		t.Error("RandAugment with probability 1 changed nothing")
	}
	// The same with the images augmented by hand.
	r := rand.New(rand.NewPCG(2, 2))
	for j := 0; j < 4; j++ {
		img := append([]uint8(nil), d.Image(j)...)
		aug.RandAugment.applyTo(r, img, 1, d.Info)
		for k := 0; k < px; k++ {
			want := float32((float64(img[k])/255 - mnistInfo.Mean[0]) / mnistInfo.Std[0])
			if ra.Images[j*px+k] != want {
				t.Fatalf("image %d pixel %d: %v, want %v", j, k, ra.Images[j*px+k], want)
			}
		}
	}
}

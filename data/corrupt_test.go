package data

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const npx = Size * Size

// blobImage is a constant background with a bright disk of radius 2
// centred at row 16, column 8: far enough from the borders that a blur
// (the longest motion streak reaches 18 pixels to the right and 13 up or
// down) keeps all of it inside, and so keeps the mean.
func blobImage(channels int, bg, fg float64) []float64 {
	img := make([]float64, channels*npx)
	for ch := range channels {
		for y := range Size {
			for x := range Size {
				v := bg
				if (y-16)*(y-16)+(x-8)*(x-8) <= 4 {
					v = fg - 0.05*float64(ch)
				}
				img[ch*npx+y*Size+x] = v
			}
		}
	}
	return img
}

// randomImage has values uniform in [lo, hi].
func randomImage(r *rand.Rand, channels int, lo, hi float64) []float64 {
	img := make([]float64, channels*npx)
	for i := range img {
		img[i] = lo + (hi-lo)*r.Float64()
	}
	return img
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func apply(t *testing.T, name string, sev int, img []float64, channels int, seed uint64) []float64 {
	t.Helper()
	out := make([]float64, len(img))
	if err := (Corruption{name, sev}).Apply(out, img, channels, CorruptionRand(seed, name, 0)); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBrightnessShiftsTheMean(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	grey := randomImage(r, 1, 0.1, 0.6) // no value reaches 1 after +0.3
	for s := 1; s <= Severities; s++ {
		out := apply(t, "brightness", s, grey, 1, 0)
		if d := mean(out) - mean(grey); math.Abs(d-brightnessShift[s-1]) > 1e-12 {
			t.Errorf("severity %d: grey mean shifted by %v, want %v", s, d, brightnessShift[s-1])
		}
	}
	// Colour: the value V = max(R, G, B) of every pixel rises by the
	// shift, hue and saturation stay.
	rgb := randomImage(r, 3, 0.05, 0.65)
	out := apply(t, "brightness", 4, rgb, 3, 0)
	for p := range npx {
		h0, s0, v0 := rgbToHSV(rgb[p], rgb[npx+p], rgb[2*npx+p])
		h1, s1, v1 := rgbToHSV(out[p], out[npx+p], out[2*npx+p])
		if math.Abs(v1-v0-0.2) > 1e-12 || math.Abs(h1-h0) > 1e-12 || math.Abs(s1-s0) > 1e-12 {
			t.Fatalf("pixel %d: HSV (%v %v %v) -> (%v %v %v), want V + 0.2", p, h0, s0, v0, h1, s1, v1)
		}
	}
	// Clipping: a white image stays white.
	white := make([]float64, npx)
	for i := range white {
		white[i] = 1
	}
	if m := mean(apply(t, "brightness", 5, white, 1, 0)); m != 1 {
		t.Errorf("white image: mean %v after brightness, want 1 (clipped)", m)
	}
}

func TestHSVRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for range 1000 {
		a, b, c := r.Float64(), r.Float64(), r.Float64()
		x, y, z := hsvToRGB(rgbToHSV(a, b, c))
		if math.Abs(x-a)+math.Abs(y-b)+math.Abs(z-c) > 1e-12 {
			t.Fatalf("(%v %v %v) -> (%v %v %v)", a, b, c, x, y, z)
		}
	}
}

func TestContrastScalesDeviations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	img := randomImage(r, 3, 0.3, 0.7)
	for s := 1; s <= Severities; s++ {
		out := apply(t, "contrast", s, img, 3, 0)
		c := contrastFactor[s-1]
		for ch := range 3 {
			in, o := img[ch*npx:(ch+1)*npx], out[ch*npx:(ch+1)*npx]
			m := mean(in)
			if math.Abs(mean(o)-m) > 1e-12 {
				t.Errorf("severity %d channel %d: mean %v -> %v", s, ch, m, mean(o))
			}
			for i := range in {
				if math.Abs((o[i]-m)-c*(in[i]-m)) > 1e-12 {
					t.Fatalf("severity %d channel %d pixel %d: deviation %v -> %v, want ×%v", s, ch, i, in[i]-m, o[i]-m, c)
				}
			}
		}
	}
}

func TestBlursKeepTheMean(t *testing.T) {
	for _, name := range []string{"defocus_blur", "motion_blur"} {
		for _, ch := range []int{1, 3} {
			img := blobImage(ch, 0.2, 0.9)
			for s := 1; s <= Severities; s++ {
				for seed := range uint64(4) { // several motion angles
					out := apply(t, name, s, img, ch, seed)
					if d := math.Abs(mean(out) - mean(img)); d > 1e-12 {
						t.Errorf("%s severity %d, %d channels: mean %v -> %v", name, s, ch, mean(img), mean(out))
					}
					if tv(out) >= tv(img) {
						t.Errorf("%s severity %d: total variation %v -> %v, want smaller (a blur)", name, s, tv(img), tv(out))
					}
				}
			}
		}
	}
}

// tv is the total variation of the first plane: Σ |horizontal and
// vertical differences|.
func tv(img []float64) float64 {
	var s float64
	for y := range Size {
		for x := range Size {
			if x+1 < Size {
				s += math.Abs(img[y*Size+x+1] - img[y*Size+x])
			}
			if y+1 < Size {
				s += math.Abs(img[(y+1)*Size+x] - img[y*Size+x])
			}
		}
	}
	return s
}

// TestDefocusKernel: severity 1's disk of radius 0.3 holds only the centre
// pixel, so the kernel is the 3×3 Gaussian of σ = 0.4 itself; severity 4's
// radius-1 disk holds the centre and its four neighbours.
func TestDefocusKernel(t *testing.T) {
	k, r := defocusKernel(0.3, 0.4)
	g := gaussKernel(0.4, 1)
	if r != 1 || len(k) != 9 {
		t.Fatalf("kernel of %d values, half-width %d", len(k), r)
	}
	for y := range 3 {
		for x := range 3 {
			if math.Abs(k[y*3+x]-g[y]*g[x]) > 1e-15 {
				t.Errorf("(%d,%d): %v, want %v", y, x, k[y*3+x], g[y]*g[x])
			}
		}
	}
	k, r = defocusKernel(1, 1e-9) // no anti-aliasing: the bare disk
	var sum float64
	for y := -r; y <= r; y++ {
		for x := -r; x <= r; x++ {
			v := k[(y+r)*(2*r+1)+x+r]
			sum += v
			want := 0.0
			if x*x+y*y <= 1 {
				want = 0.2
			}
			if math.Abs(v-want) > 1e-12 {
				t.Errorf("radius-1 disk at (%d,%d): %v, want %v", y, x, v, want)
			}
		}
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("kernel sums to %v", sum)
	}
}

func TestPixelateIsPiecewiseConstant(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	img := randomImage(r, 1, 0, 1)
	for s := 1; s <= Severities; s++ {
		out := apply(t, "pixelate", s, img, 1, 0)
		m := int(Size * pixelateScale[s-1])
		step := float64(Size) / float64(m)
		// Independent reference: the mean of the input over the cell, on a
		// grid of 1/m pixel, on which both the cell and the pixel
		// boundaries fall (a cell is 32 steps of it).
		for y := 0; y < Size; y += 3 {
			for x := 0; x < Size; x += 5 {
				cy, cx := int((float64(y)+0.5)/step), int((float64(x)+0.5)/step)
				var sum float64
				for yy := cy * Size; yy < (cy+1)*Size; yy++ {
					for xx := cx * Size; xx < (cx+1)*Size; xx++ {
						sum += img[(yy/m)*Size+xx/m]
					}
				}
				if want := sum / (Size * Size); math.Abs(out[y*Size+x]-want) > 1e-12 {
					t.Fatalf("severity %d (%d cells): pixel (%d,%d) = %v, cell mean %v", s, m, y, x, out[y*Size+x], want)
				}
			}
		}
		// Piecewise constant: every row holds at most m distinct runs.
		for y := range Size {
			runs := 1
			for x := 1; x < Size; x++ {
				if out[y*Size+x] != out[y*Size+x-1] {
					runs++
				}
			}
			if runs > m {
				t.Fatalf("severity %d: row %d has %d constant runs, want at most %d cells", s, y, runs, m)
			}
		}
	}
}

// TestNoiseStatistics: on a mid-grey image (no clipping) the noises have
// their stated mean and variance: Gaussian σ², shot noise x/λ, impulse
// noise hits the stated share of values, half of them white.
func TestNoiseStatistics(t *testing.T) {
	const x, images = 0.5, 20
	grey := make([]float64, 3*npx)
	for i := range grey {
		grey[i] = x
	}
	n := float64(images * len(grey))
	for s := 1; s <= Severities; s++ {
		var gs, gss, ss, sss float64
		var hit, white int
		for k := range images {
			g := apply(t, "gaussian_noise", s, grey, 3, uint64(k))
			sh := apply(t, "shot_noise", s, grey, 3, uint64(k))
			im := apply(t, "impulse_noise", s, grey, 3, uint64(k))
			for i := range grey {
				gs += g[i] - x
				gss += (g[i] - x) * (g[i] - x)
				ss += sh[i] - x
				sss += (sh[i] - x) * (sh[i] - x)
				if im[i] != x {
					hit++
					if im[i] == 1 {
						white++
					}
				}
			}
		}
		// Sample variances of ~60k values: relative standard error
		// √(2/n) ≈ 0.6%; allow 4%.
		sg := gaussianSigma[s-1]
		if v := gss / n; math.Abs(v/(sg*sg)-1) > 0.04 || math.Abs(gs/n) > 4*sg/math.Sqrt(n) {
			t.Errorf("gaussian severity %d: mean %v, variance %v, want 0 and %v", s, gs/n, v, sg*sg)
		}
		lam := shotLambda[s-1]
		if v := sss / n; math.Abs(v/(x/lam)-1) > 0.04 || math.Abs(ss/n) > 4*math.Sqrt(x/lam/n) {
			t.Errorf("shot severity %d: mean shift %v, variance %v, want 0 and x/λ = %v", s, ss/n, v, x/lam)
		}
		a := impulseAmount[s-1]
		if share := float64(hit) / n; math.Abs(share-a) > 4*math.Sqrt(a*(1-a)/n) {
			t.Errorf("impulse severity %d: %.4f of the values hit, want %v", s, share, a)
		}
		if f := float64(white) / float64(hit); math.Abs(f-0.5) > 4*math.Sqrt(0.25/float64(hit)) {
			t.Errorf("impulse severity %d: %.3f of the hits white, want 0.5", s, f)
		}
	}
}

func TestPoisson(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, mu := range []float64{0, 0.3, 4, 9.99, 10, 37, 250, 500} {
		const n = 40000
		var s, ss float64
		for range n {
			k := float64(poisson(r, mu))
			s += k
			ss += k * k
		}
		m := s / n
		v := ss/n - m*m
		// Mean within 4 standard errors; variance within 4 standard errors
		// (the variance of a Poisson sample variance is about 2μ²/n + μ/n).
		if math.Abs(m-mu) > 4*math.Sqrt(mu/n)+1e-12 {
			t.Errorf("μ = %v: sample mean %v", mu, m)
		}
		if math.Abs(v-mu) > 4*math.Sqrt((2*mu*mu+mu)/n)+1e-12 {
			t.Errorf("μ = %v: sample variance %v", mu, v)
		}
	}
}

// TestSpatialKeepConstantImages: a constant image stays constant under
// every spatial corruption (blurs, pixelate, elastic).
func TestSpatialKeepConstantImages(t *testing.T) {
	img := make([]float64, 3*npx)
	for i := range img {
		img[i] = 0.37
	}
	for _, name := range []string{"defocus_blur", "motion_blur", "pixelate", "elastic_transform"} {
		for s := 1; s <= Severities; s++ {
			for _, v := range apply(t, name, s, img, 3, 9) {
				if math.Abs(v-0.37) > 1e-12 {
					t.Fatalf("%s severity %d: constant image changed to %v", name, s, v)
				}
			}
		}
	}
}

// TestSeverityMonotone: on real digits, the mean distance between clean
// and corrupted images grows with the severity, for every corruption.
func TestSeverityMonotone(t *testing.T) {
	_, test := loadMNIST(t)
	idx := make([]int, 200)
	for i := range idx {
		idx[i] = i * 37
	}
	for _, name := range CorruptionNames() {
		prev := 0.0
		var ds []float64
		for s := 1; s <= Severities; s++ {
			c, err := test.Corrupted(idx, Corruption{name, s}, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			var d float64
			for j, i := range idx {
				a, b := test.Image(i), c.Image(j)
				var ss float64
				for k := range a {
					e := (float64(a[k]) - float64(b[k])) / 255
					ss += e * e
				}
				d += math.Sqrt(ss / float64(len(a)))
			}
			d /= float64(len(idx))
			ds = append(ds, d)
			if d <= prev {
				t.Errorf("%s: RMS distance to the clean images %.4f at severity %d, %.4f at %d: want growing", name, d, s, prev, s-1)
			}
			prev = d
		}
		t.Logf("%-18s RMS distance by severity: %.4f", name, ds)
	}
}

func TestCorruptedDataset(t *testing.T) {
	_, test := loadMNIST(t)
	c := Corruption{"elastic_transform", 3}
	all, err := test.Corrupted([]int{0, 1, 2, 3, 4, 5, 6, 7}, c, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := test.Corrupted([]int{0, 1, 2, 3, 4, 5, 6, 7}, c, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all.Images, again.Images) {
		t.Error("the corrupted images depend on the number of workers")
	}
	sub, err := test.Corrupted([]int{6, 2}, c, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sub.Image(0), all.Image(6)) || !bytes.Equal(sub.Image(1), all.Image(2)) || sub.Labels[0] != test.Labels[6] {
		t.Error("an image's corruption depends on the other images corrupted with it")
	}
	other, err := test.Corrupted([]int{6}, c, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Image(0), all.Image(6)) {
		t.Error("another seed gives the same corruption")
	}
	if bytes.Equal(all.Image(0), test.Image(0)) {
		t.Error("the image was not corrupted")
	}
	for _, bad := range []Corruption{{"fog", 1}, {"contrast", 0}, {"contrast", 6}} {
		if _, err := test.Corrupted([]int{0}, bad, 0, 1); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	if _, err := test.Corrupted([]int{test.Len()}, c, 0, 1); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("index out of range: %v", err)
	}
	img := make([]float64, npx)
	img[3] = 1.5
	if err := c.Apply(img, img, 1, CorruptionRand(0, c.Name, 0)); err == nil {
		t.Error("intensity 1.5: want an error")
	}
	if err := c.Apply(img[:10], img[:10], 1, CorruptionRand(0, c.Name, 0)); err == nil {
		t.Error("wrong length: want an error")
	}
	for _, name := range CorruptionNames() {
		for s := 1; s <= Severities; s++ {
			if (Corruption{name, s}).Params() == "" {
				t.Errorf("%s/%d: no parameter description", name, s)
			}
		}
	}
}

package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// noisy returns a CIFAR-10-shaped dataset of n random images with pixels in
// 1..255 (so that zero padding is recognisable) and labels i mod 10.
func noisy(n int) *Dataset {
	r := rand.New(rand.NewPCG(uint64(n), 77))
	d := &Dataset{Info: cifar10Info, Images: randomBytes(r, n*cifarPixels, 255), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i]++
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(i % 10)
	}
	return d
}

// fill returns a new host batch of d at indices, failing the test on error.
func fill(t testing.TB, d *Dataset, idx []int, aug Augment, r *rand.Rand) *HostBatch {
	t.Helper()
	h := new(HostBatch)
	if err := d.Fill(h, idx, aug, r); err != nil {
		t.Fatal(err)
	}
	return h
}

func seq(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func TestNormalise(t *testing.T) {
	d := noisy(3)
	h := fill(t, d, []int{2, 0}, Augment{}, nil)
	if h.Size != 2 || h.Channels != 3 || h.Classes != 10 || len(h.Images) != 2*cifarPixels || h.Targets != nil {
		t.Fatalf("batch %d x %d channels, %d classes, %d values, targets %v", h.Size, h.Channels, h.Classes, len(h.Images), h.Targets != nil)
	}
	if !slices.Equal(h.Labels, []int64{2, 0}) || h.Mixing != (Mixing{Kind: NoMix, Lambda: 1}) {
		t.Errorf("labels %v, mixing %+v", h.Labels, h.Mixing)
	}
	for j, i := range []int{2, 0} {
		for p, v := range d.Image(i) {
			c := p / (Size * Size)
			want := (float64(v)/255 - cifar10Info.Mean[c]) / cifar10Info.Std[c]
			if got := h.Images[j*cifarPixels+p]; math.Abs(float64(got)-want) > 1e-6 {
				t.Fatalf("image %d value %d: %v, want %v", i, p, got, want)
			}
		}
	}
}

// shifted returns the normalised image src (c channels) shifted by (dy, dx)
// with zero fill, mirrored if asked: what crop then flip must give.
func shifted(h *HostBatch, src []uint8, c, dy, dx int, mirror bool) []float32 {
	out := make([]float32, c*Size*Size)
	for ch := 0; ch < c; ch++ {
		for y := 0; y < Size; y++ {
			for x := 0; x < Size; x++ {
				sx := x
				if mirror {
					sx = Size - 1 - x
				}
				sy, sx := y+dy, sx+dx
				var v uint8
				if sy >= 0 && sy < Size && sx >= 0 && sx < Size {
					v = src[ch*Size*Size+sy*Size+sx]
				}
				out[ch*Size*Size+y*Size+x] = h.lut[ch][v]
			}
		}
	}
	return out
}

func TestCropAndFlip(t *testing.T) {
	d := noisy(64)
	for _, aug := range []Augment{{CropPad: 4}, {Flip: true}, {CropPad: 4, Flip: true}} {
		h := fill(t, d, seq(64), aug, rand.New(rand.NewPCG(1, 2)))
		type move struct {
			dy, dx int
			mirror bool
		}
		seen := map[move]int{}
		for i := 0; i < 64; i++ {
			var found []move
			for dy := -aug.CropPad; dy <= aug.CropPad; dy++ {
				for dx := -aug.CropPad; dx <= aug.CropPad; dx++ {
					for _, m := range []bool{false, true} {
						if m && !aug.Flip {
							continue
						}
						if slices.Equal(h.Images[i*cifarPixels:(i+1)*cifarPixels], shifted(h, d.Image(i), 3, dy, dx, m)) {
							found = append(found, move{dy, dx, m})
						}
					}
				}
			}
			if len(found) != 1 {
				t.Fatalf("%+v: image %d matches %d shifted copies of its source, want 1", aug, i, len(found))
			}
			seen[found[0]]++
		}
		// 64 draws from 2, 81 or 162 equally likely moves: a handful of
		// distinct ones would mean the offsets are not random.
		want := 2
		if aug.CropPad > 0 {
			want = 30
		}
		if len(seen) < want {
			t.Errorf("%+v: only %d distinct moves in 64 images", aug, len(seen))
		}
	}
}

func TestFlipTwice(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	img := randomBytes(r, cifarPixels, 256)
	f := slices.Clone(img)
	flip(f, 3, Size)
	if f[Size*Size+5*Size] != img[Size*Size+5*Size+Size-1] || slices.Equal(f, img) {
		t.Error("flip does not mirror each row")
	}
	flip(f, 3, Size)
	if !slices.Equal(f, img) {
		t.Error("flip twice is not the identity")
	}
}

func TestCropEdges(t *testing.T) {
	// A shift by the full size leaves nothing; by 0 everything.
	src := make([]uint8, Size*Size)
	for i := range src {
		src[i] = 9
	}
	dst := make([]uint8, Size*Size)
	for _, s := range [][2]int{{Size, 0}, {0, -Size}, {-Size, Size}} {
		crop(dst, src, 1, Size, s[0], s[1])
		if slices.ContainsFunc(dst, func(v uint8) bool { return v != 0 }) {
			t.Errorf("shift %v kept pixels", s)
		}
	}
	crop(dst, src, 1, Size, 0, 0)
	if !slices.Equal(dst, src) {
		t.Error("shift 0 changed the image")
	}
}

func TestMixup(t *testing.T) {
	for _, b := range []int{8, 7} {
		d := noisy(b)
		plain := fill(t, d, seq(b), Augment{}, nil)
		var lams []float64
		for seed := range uint64(20) {
			aug := Augment{MixupAlpha: 1}
			h := fill(t, d, seq(b), aug, rand.New(rand.NewPCG(seed, 5)))
			lam := h.Mixing.Lambda
			if h.Mixing.Kind != Mixup || !(lam >= 0 && lam <= 1) {
				t.Fatalf("mixing %+v, want mixup with λ in [0, 1]", h.Mixing)
			}
			lams = append(lams, lam)
			for i := 0; i < b; i++ {
				j := b - 1 - i
				for p := 0; p < cifarPixels; p += 97 {
					want := lam*float64(plain.Images[i*cifarPixels+p]) + (1-lam)*float64(plain.Images[j*cifarPixels+p])
					if got := float64(h.Images[i*cifarPixels+p]); math.Abs(got-want) > 1e-5 {
						t.Fatalf("batch %d image %d value %d: %v, want λ·own + (1-λ)·image %d = %v", b, i, p, got, j, want)
					}
				}
				w := map[int]float64{}
				w[i%10] += lam
				w[j%10] += 1 - lam // the middle image of an odd batch: its own label again
				checkTarget(t, h, i, w)
			}
		}
		sort.Float64s(lams)
		if lams[0] > 0.3 || lams[len(lams)-1] < 0.7 {
			t.Errorf("20 draws of λ ~ Beta(1, 1) span only [%v, %v]", lams[0], lams[len(lams)-1])
		}
	}
}

// checkTarget checks row i of h's targets against the weights per class
// (others zero); weights of equal classes add up. Rows must sum to 1.
// Tolerance: float32 sums of a few terms.
func checkTarget(t *testing.T, h *HostBatch, i int, weights map[int]float64) {
	t.Helper()
	row := h.Targets[i*h.Classes : (i+1)*h.Classes]
	var sum float64
	for c, v := range row {
		sum += float64(v)
		if math.Abs(float64(v)-weights[c]) > 1e-6 {
			t.Fatalf("target row %d: %v, want weights %v", i, row, weights)
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Fatalf("target row %d sums to %v", i, sum)
	}
}

func TestCutMix(t *testing.T) {
	const b = 9
	// Image i is uniformly 20·(i+1), so every pixel tells where it came
	// from.
	d := noisy(b)
	for i := 0; i < b; i++ {
		img := d.Image(i)
		for p := range img {
			img[p] = uint8(20 * (i + 1))
		}
	}
	plain := fill(t, d, seq(b), Augment{}, nil)
	areas := map[int]bool{}
	for seed := range uint64(30) {
		h := fill(t, d, seq(b), Augment{CutMixAlpha: 0.8}, rand.New(rand.NewPCG(seed, 6)))
		m := h.Mixing
		if m.Kind != CutMix || m.Y0 < 0 || m.Y1 > Size || m.X0 < 0 || m.X1 > Size || m.Y0 > m.Y1 || m.X0 > m.X1 {
			t.Fatalf("mixing %+v", m)
		}
		areas[(m.Y1-m.Y0)*(m.X1-m.X0)] = true
		for i := 0; i < b; i++ {
			j := b - 1 - i
			// The share of image i's pixels that came from image j is the
			// pasted area; the target weight of image i's label is 1 minus it.
			pasted := 0
			for p := 0; p < cifarPixels; p++ {
				v := h.Images[i*cifarPixels+p]
				own, other := plain.Images[i*cifarPixels+p], plain.Images[j*cifarPixels+p]
				switch v {
				case own:
				case other:
					pasted++
				default:
					t.Fatalf("image %d value %d is neither its own nor image %d's", i, p, j)
				}
			}
			share := float64(pasted) / cifarPixels
			if i == j {
				share = 0 // the middle image is pasted onto itself
			}
			if i != j && math.Abs(share-(1-m.Lambda)) > 1e-12 {
				t.Fatalf("image %d: pasted share %v, 1-λ = %v", i, share, 1-m.Lambda)
			}
			w := map[int]float64{}
			w[i%10] += 1 - share
			w[j%10] += share
			checkTarget(t, h, i, w)
		}
	}
	if len(areas) < 10 {
		t.Errorf("30 CutMix batches used only %d box areas", len(areas))
	}
}

func TestMixupOrCutMix(t *testing.T) {
	d := noisy(4)
	var h HostBatch
	cut := 0
	const n = 200
	for seed := range uint64(n) {
		if err := d.Fill(&h, seq(4), Augment{MixupAlpha: 1, CutMixAlpha: 0.8}, rand.New(rand.NewPCG(seed, 8))); err != nil {
			t.Fatal(err)
		}
		if h.Mixing.Kind == CutMix {
			cut++
		}
	}
	// Binomial(200, 1/2): standard deviation 7; 4 of them is [72, 128].
	if cut < 72 || cut > 128 {
		t.Errorf("%d CutMix batches out of %d, want about half", cut, n)
	}
}

func TestLabelSmoothing(t *testing.T) {
	d := noisy(5)
	h := fill(t, d, seq(5), Augment{Smoothing: 0.1}, nil)
	if len(h.Targets) != 5*10 || h.Mixing.Kind != NoMix {
		t.Fatalf("%d targets, mixing %+v", len(h.Targets), h.Mixing)
	}
	for i := 0; i < 5; i++ {
		// (1-ε)·onehot + ε/K: 0.91 on the label, 0.01 elsewhere.
		w := map[int]float64{}
		for c := 0; c < 10; c++ {
			w[c] = 0.01
		}
		w[i] = 0.91
		checkTarget(t, h, i, w)
	}
	// With mixup: the blend of two smoothed targets.
	h = fill(t, d, seq(5), Augment{Smoothing: 0.2, MixupAlpha: 0.5}, rand.New(rand.NewPCG(1, 1)))
	lam := h.Mixing.Lambda
	w := map[int]float64{}
	for c := 0; c < 10; c++ {
		w[c] = 0.02
	}
	w[0] += 0.8 * lam
	w[4] += 0.8 * (1 - lam)
	checkTarget(t, h, 0, w)
}

func TestAugmentDeterminism(t *testing.T) {
	d := noisy(16)
	aug := PaperAugment(d.Info)
	a := fill(t, d, seq(16), aug, rand.New(rand.NewPCG(4, 4)))
	b := fill(t, d, seq(16), aug, rand.New(rand.NewPCG(4, 4)))
	c := fill(t, d, seq(16), aug, rand.New(rand.NewPCG(4, 5)))
	if !slices.Equal(a.Images, b.Images) || !slices.Equal(a.Targets, b.Targets) || a.Mixing != b.Mixing {
		t.Error("the same generator state gave different batches")
	}
	if slices.Equal(a.Images, c.Images) {
		t.Error("different seeds gave the same batch")
	}
	// A reused HostBatch gives the same result as a fresh one.
	if err := d.Fill(c, seq(16), aug, rand.New(rand.NewPCG(4, 4))); err != nil || !slices.Equal(a.Images, c.Images) || !slices.Equal(a.Targets, c.Targets) {
		t.Errorf("refilling a batch differs from a fresh one (%v)", err)
	}
	if err := d.Fill(c, seq(3), Augment{}, nil); err != nil || len(c.Images) != 3*cifarPixels || c.Targets != nil {
		t.Errorf("refilling smaller: %d values, targets %v, %v", len(c.Images), c.Targets != nil, err)
	}
}

func TestPaperAugment(t *testing.T) {
	want := Augment{CropPad: 4, Flip: true, MixupAlpha: 1, CutMixAlpha: 0.8, Smoothing: 0.1,
		RandAugment: RandAugment{N: 2, M: 9, MStd: 0.5, Prob: 0.5}}
	if got := PaperAugment(cifar100Info); got != want {
		t.Errorf("CIFAR-100: %+v", got)
	}
	want.Flip = false
	if got := PaperAugment(mnistInfo); got != want {
		t.Errorf("MNIST: %+v, want no flips", got)
	}
}

func TestAugmentErrors(t *testing.T) {
	for _, c := range []struct {
		aug  Augment
		want string
	}{
		{Augment{CropPad: -1}, "data: crop padding -1 is outside 0..32"},
		{Augment{MixupAlpha: -1}, "data: mixup alpha -1 is not a finite number >= 0"},
		{Augment{MixupAlpha: math.NaN()}, "data: mixup alpha NaN"},
		{Augment{CutMixAlpha: math.Inf(1)}, "data: cutmix alpha +Inf"},
		{Augment{Smoothing: 1}, "data: label smoothing 1 is outside [0, 1)"},
		{Augment{Smoothing: math.NaN()}, "data: label smoothing NaN"},
	} {
		checkErr(t, c.aug.Validate(), c.want)
	}
	d := noisy(2)
	var h HostBatch
	checkErr(t, d.Fill(&h, []int{0, 2}, Augment{}, nil), "data: index 2 is outside the 2 examples of cifar10 train")
	checkErr(t, d.Fill(&h, nil, Augment{}, nil), "data: batch of no examples")
	checkErr(t, d.Fill(&h, []int{0}, Augment{Flip: true}, nil), "need a random generator")
	checkErr(t, d.Fill(&h, []int{0}, Augment{Smoothing: -0.5}, nil), "label smoothing -0.5")
	bad := noisy(2)
	bad.Labels[1] = 10
	checkErr(t, bad.Fill(&h, []int{1}, Augment{}, nil), "data: label 10 of example 1 is outside 0..9")
}

// ks returns the Kolmogorov-Smirnov distance between a sample (sorted in
// place) and a distribution function.
func ks(x []float64, cdf func(float64) float64) float64 {
	sort.Float64s(x)
	n := float64(len(x))
	var d float64
	for i, v := range x {
		f := cdf(v)
		d = max(d, math.Abs(f-float64(i)/n), math.Abs(float64(i+1)/n-f))
	}
	return d
}

func TestBeta(t *testing.T) {
	const n = 20000
	// The KS critical value at significance 0.001 is 1.95/sqrt(n) = 0.0138;
	// the generators are seeded, so the test is deterministic.
	crit := 1.95 / math.Sqrt(n)
	r := rand.New(rand.NewPCG(11, 12))
	for _, a := range []float64{0.2, 0.8, 1, 2.5} {
		x := make([]float64, n)
		for i := range x {
			x[i] = beta(r, a, a)
			if !(x[i] >= 0 && x[i] <= 1) {
				t.Fatalf("Beta(%v, %v) draw %v", a, a, x[i])
			}
		}
		if d := ks(x, distuv.Beta{Alpha: a, Beta: a}.CDF); d > crit {
			t.Errorf("Beta(%v, %v): KS distance %.4f > %.4f", a, a, d, crit)
		}
	}
	for _, k := range []float64{0.3, 1, 4} {
		x := make([]float64, n)
		for i := range x {
			x[i] = gamma(r, k)
		}
		if d := ks(x, distuv.Gamma{Alpha: k, Beta: 1}.CDF); d > crit {
			t.Errorf("Gamma(%v): KS distance %.4f > %.4f", k, d, crit)
		}
	}
}

package torchdata

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/torchx"
)

const (
	size        = data.Size
	cifarPixels = 3 * data.Size * data.Size
)

// loadMNIST returns the MNIST training split from the default folder.
func loadMNIST(t testing.TB) *data.Dataset {
	t.Helper()
	d, err := data.LoadMNIST("", data.Train)
	if err != nil {
		t.Fatalf("%v (run `make setup` to copy MNIST into datasets/mnist)", err)
	}
	return d
}

// noisy returns n CIFAR-10-shaped examples of random bytes in 1..255,
// labelled i mod 10.
func noisy(t testing.TB, n int) *data.Dataset {
	t.Helper()
	info, err := data.Describe("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 77))
	d := &data.Dataset{Info: info, Images: make([]uint8, n*cifarPixels), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = uint8(1 + r.IntN(255))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(i % 10)
	}
	return d
}

func checkTensor(t *testing.T, name string, x *ts.Tensor, kind gotch.DType, shape ...int64) {
	t.Helper()
	if x == nil {
		t.Fatalf("%s: nil tensor", name)
	}
	got, err := x.Size()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, shape) || x.DType() != kind {
		t.Fatalf("%s: %v %v, want %v %v", name, x.DType(), got, kind, shape)
	}
}

func TestBatchMNIST(t *testing.T) {
	train := loadMNIST(t)
	idx := []int{0, 1, 2}
	b, err := NewBatch(train, idx, data.Augment{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkTensor(t, "images", b.Images, gotch.Float, 3, 1, size, size)
	checkTensor(t, "labels", b.Labels, gotch.Int64, 3)
	if b.Targets != nil || b.Mixing.Kind != data.NoMix {
		t.Errorf("plain batch: targets %v, mixing %+v", b.Targets != nil, b.Mixing)
	}
	img, err := torchx.Values[float32](b.Images)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := torchx.Values[int64](b.Labels)
	if err != nil {
		t.Fatal(err)
	}
	// The first training labels are 5, 0, 4.
	if !slices.Equal(labels, []int64{5, 0, 4}) {
		t.Errorf("labels %v, want [5 0 4]", labels)
	}
	// (v/255 - 0.1307)/0.3081 in float32: the padding ring is -0.424213;
	// image 0's pixel 255 at (7, 23) is 2.821487, its 3 at (7, 14) is
	// -0.386028 (computed by hand from the idx values).
	for _, c := range []struct {
		img, y, x int
		want      float64
	}{{0, 0, 0, -0.424213}, {2, 31, 31, -0.424213}, {0, 7, 23, 2.821487}, {0, 7, 14, -0.386028}} {
		if got := img[c.img*size*size+c.y*size+c.x]; math.Abs(float64(got)-c.want) > 1e-6 {
			t.Errorf("image %d (%d,%d) = %v, want %v", c.img, c.y, c.x, got, c.want)
		}
	}
	b.Close()
	b.Close() // a second Close is harmless
	if b.Images != nil || b.Labels != nil {
		t.Error("Close left tensors behind")
	}
}

func TestBatchCIFARSoft(t *testing.T) {
	d := noisy(t, 6)
	aug := data.PaperAugment(d.Info)
	b, err := NewBatch(d, []int{5, 1, 3, 0}, aug, rand.New(rand.NewPCG(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkTensor(t, "images", b.Images, gotch.Float, 4, 3, size, size)
	checkTensor(t, "labels", b.Labels, gotch.Int64, 4)
	checkTensor(t, "targets", b.Targets, gotch.Float, 4, 10)
	// The tensors hold exactly the host batch made with the same generator.
	h := new(data.HostBatch)
	if err := d.Fill(h, []int{5, 1, 3, 0}, aug, rand.New(rand.NewPCG(2, 2))); err != nil {
		t.Fatal(err)
	}
	img, _ := torchx.Values[float32](b.Images)
	tgt, _ := torchx.Values[float32](b.Targets)
	lbl, _ := torchx.Values[int64](b.Labels)
	if !slices.Equal(img, h.Images) || !slices.Equal(tgt, h.Targets) || !slices.Equal(lbl, []int64{5, 1, 3, 0}) || b.Mixing != h.Mixing {
		t.Error("tensors differ from the host batch")
	}
	// Unaugmented, a few pixels of each channel against the CIFAR-10
	// constants.
	plain, err := NewBatch(d, []int{4}, data.Augment{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	vals, _ := torchx.Values[float32](plain.Images)
	src := d.Image(4)
	for _, p := range []int{0, 777, size * size, 2*size*size + 1000, cifarPixels - 1} {
		c := p / (size * size)
		want := (float64(src[p])/255 - d.Info.Mean[c]) / d.Info.Std[c]
		if math.Abs(float64(vals[p])-want) > 1e-6 {
			t.Errorf("value %d (channel %d): %v, want %v", p, c, vals[p], want)
		}
	}
	if _, err := NewBatch(d, []int{9}, data.Augment{}, nil); err == nil {
		t.Error("index 9 of 6 examples: no error")
	}
}

// BenchmarkMNISTBatch measures batches of 128 MNIST images, plain and with
// the paper's augmentations (crop, mixup/CutMix, smoothing): "fill" builds
// the batch in Go memory only, "tensors" also copies it into libtorch.
func BenchmarkMNISTBatch(b *testing.B) {
	train := loadMNIST(b)
	s, err := data.Shuffled(train.Indices(), 128, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		aug  data.Augment
	}{{"plain", data.Augment{}}, {"augmented", data.PaperAugment(train.Info)}} {
		ep := s.Epoch(0)
		b.Run("fill/"+c.name, func(b *testing.B) {
			var h data.HostBatch
			k := 0
			for b.Loop() {
				if err := train.Fill(&h, ep.Batch(k), c.aug, ep.Rand(k)); err != nil {
					b.Fatal(err)
				}
				k = (k + 1) % ep.Len()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
		b.Run("tensors/"+c.name, func(b *testing.B) {
			k := 0
			for b.Loop() {
				batch, err := NewBatch(train, ep.Batch(k), c.aug, ep.Rand(k))
				if err != nil {
					b.Fatal(err)
				}
				batch.Close()
				k = (k + 1) % ep.Len()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}

func TestPartSizes(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want []int
	}{{16, 2, []int{8, 8}}, {7, 3, []int{3, 2, 2}}, {2, 5, []int{1, 1}}, {5, 1, []int{5}}} {
		if got := PartSizes(c.n, c.k); !slices.Equal(got, c.want) {
			t.Errorf("PartSizes(%d, %d) = %v, want %v", c.n, c.k, got, c.want)
		}
	}
}

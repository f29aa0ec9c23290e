package data

import "fmt"

// Size is the height and width of the images of the built-in datasets:
// MNIST is padded to it, CIFAR images have it already. Image folders and
// tensor files have the side their Info says (Info.Side).
const Size = 32

// Split selects the training or the test part of a dataset.
type Split int

const (
	// Train is the training split (MNIST 60000, CIFAR 50000 images).
	Train Split = iota
	// Test is the test split (10000 images for each dataset).
	Test
)

// String returns "train" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// ParseSplit is String's inverse.
func ParseSplit(s string) (Split, error) {
	switch s {
	case "train":
		return Train, nil
	case "test":
		return Test, nil
	}
	return 0, fmt.Errorf("data: split %q is not train or test", s)
}

// Info describes a dataset: what the batches need to know besides pixels.
type Info struct {
	// Name is "mnist", "cifar10", "cifar100" or "cifar100-coarse" (the
	// CIFAR-100 images with their 20 superclass labels).
	Name string
	// Classes is the number of labels, 0..Classes-1.
	Classes int
	// Channels is 1 for MNIST and 3 (RGB) for CIFAR.
	Channels int
	// Mean and Std are the per-channel normalisation constants, applied as
	// (v/255 - Mean[c]) / Std[c]; entries past Channels are zero.
	Mean, Std [3]float64
	// Flip reports whether a horizontal mirror image keeps the class, so
	// that random flips are a valid augmentation (not for digits).
	Flip bool
	// Side is the height and width of the images in pixels; 0 means Size
	// (the built-in datasets).
	Side int
	// Source is the file or folder the images came from, for provenance
	// (empty for the built-in datasets).
	Source string
}

// ImageSide returns the images' height and width: Side, or Size when Side
// is 0.
func (i Info) ImageSide() int {
	if i.Side > 0 {
		return i.Side
	}
	return Size
}

var (
	// MNIST's usual constants, measured on the unpadded 28x28 training
	// images (the padded images have mean 0.1003). They are kept for the
	// padded images too, so that inputs match common MNIST practice: the
	// padding ring normalises to -0.4242, the value of a black pixel.
	mnistInfo = Info{Name: "mnist", Classes: 10, Channels: 1,
		Mean: [3]float64{0.1307}, Std: [3]float64{0.3081}}
	cifar10Info = Info{Name: "cifar10", Classes: 10, Channels: 3,
		Mean: [3]float64{0.4914, 0.4822, 0.4465}, Std: [3]float64{0.2470, 0.2435, 0.2616}, Flip: true}
	// The paper's CIFAR-100 constants (docs/methods.md §1).
	cifar100Info = Info{Name: "cifar100", Classes: 100, Channels: 3,
		Mean: [3]float64{0.5071, 0.4867, 0.4408}, Std: [3]float64{0.2675, 0.2565, 0.2761}, Flip: true}
	// The same images with their 20 superclass labels.
	cifar100CoarseInfo = func() Info {
		i := cifar100Info
		i.Name, i.Classes = "cifar100-coarse", 20
		return i
	}()
)

// Dataset is one split of an image classification dataset held in memory as
// 8-bit pixels. The slices are shared, not copied, by everything built from
// the dataset (subsets, samplers, batches): treat them as read-only.
type Dataset struct {
	Info  Info
	Split Split
	// Images holds Len() images of Info.Channels x side x side bytes each
	// (side = Info.ImageSide()), row-major (N, C, H, W).
	Images []uint8
	// Values, when not nil, holds the images instead of Images as
	// already-normalised float32 values of the same layout (a tensor file
	// of floats); Info.Mean and Info.Std are then not applied.
	Values []float32
	// Labels holds one label in 0..Info.Classes-1 per image.
	Labels []uint8
}

// Len returns the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// imageLen returns the number of values of one image.
func (d *Dataset) imageLen() int {
	n := d.Info.ImageSide()
	return d.Info.Channels * n * n
}

// Image returns image i (C x side x side bytes), a view into Images; nil
// for a dataset of float values.
func (d *Dataset) Image(i int) []uint8 {
	if d.Values != nil {
		return nil
	}
	n := d.imageLen()
	return d.Images[i*n : (i+1)*n : (i+1)*n]
}

// ImageValues returns image i of a dataset of float values (Values), a view;
// nil for a dataset of bytes.
func (d *Dataset) ImageValues(i int) []float32 {
	if d.Values == nil {
		return nil
	}
	n := d.imageLen()
	return d.Values[i*n : (i+1)*n : (i+1)*n]
}

// ClassCounts returns the number of images of each class.
func (d *Dataset) ClassCounts() []int {
	c := make([]int, d.Info.Classes)
	for _, l := range d.Labels {
		c[l]++
	}
	return c
}

// Indices returns 0..Len()-1: every example, for a Sampler over the whole
// dataset.
func (d *Dataset) Indices() []int {
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// Names returns the dataset names Load accepts.
func Names() []string { return []string{"mnist", "cifar10", "cifar100", "cifar100-coarse"} }

// Load reads the named dataset (one of Names) from dir. For "mnist" an empty
// dir means MNISTDir's default; the CIFAR datasets need a folder. A name
// may carry a class filter, "mnist:5-9" (see KeepClasses).
func Load(name, dir string, split Split) (*Dataset, error) {
	if base, spec, ok := splitFilter(name); ok {
		return loadFiltered(name, base, spec, dir, split)
	}
	switch name {
	case "mnist":
		return LoadMNIST(dir, split)
	case "cifar10":
		return LoadCIFAR10(dir, split)
	case "cifar100":
		return LoadCIFAR100(dir, split, FineLabels)
	case "cifar100-coarse":
		return LoadCIFAR100(dir, split, CoarseLabels)
	}
	return nil, fmt.Errorf("data: unknown dataset %q (want one of %v)", name, Names())
}

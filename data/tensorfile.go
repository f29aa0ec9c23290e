package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/vitprobe/vitprobe/safetensors"
)

// TensorFileOptions says what LoadTensorFile expects: the model's input
// shape, its number of classes and, for byte images, its normalisation.
type TensorFileOptions struct {
	// Side and Channels are the model's input height/width and channels;
	// the file's images must have them.
	Side, Channels int
	// Classes is the model's number of classes: every label must be below
	// it. 0 takes the largest label + 1.
	Classes int
	// Mean and Std normalise byte images (U8) per channel as
	// (v/255 - Mean[c]) / Std[c]; float images (F32) are used as they are.
	Mean, Std []float64
}

// LoadTensorFile reads a dataset from a safetensors file holding "x", the
// images (N, C, H, W), either U8 pixels (normalised with opt.Mean and
// opt.Std like every vitprobe dataset) or F32 values already normalised as
// the model expects, and "y", the N labels (I64, I32 or U8). Both splits
// are the whole file. Errors are one line naming the file: a missing or
// ill-shaped tensor, images of another shape than the model takes, a label
// out of range, more than 256 classes.
func LoadTensorFile(path string, split Split, opt TensorFileOptions) (*Dataset, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	x, okx := f.Lookup("x")
	y, oky := f.Lookup("y")
	if !okx || !oky {
		return nil, fmt.Errorf("data: %s: want tensors x (images, N x C x H x W) and y (labels, N); it has %s", path, names(f))
	}
	if len(x.Shape) != 4 || len(y.Shape) != 1 || x.Shape[0] != y.Shape[0] || x.Shape[0] < 1 {
		return nil, fmt.Errorf("data: %s: x has shape %v and y %v, want (N, C, H, W) and (N) with N >= 1", path, x.Shape, y.Shape)
	}
	c, h, w := int(x.Shape[1]), int(x.Shape[2]), int(x.Shape[3])
	if c != opt.Channels || h != opt.Side || w != opt.Side {
		return nil, fmt.Errorf("data: %s: images of %d x %d x %d (channels x height x width), the model takes %d x %d x %d",
			path, c, h, w, opt.Channels, opt.Side, opt.Side)
	}
	labels, top, err := readLabels(y)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	classes := opt.Classes
	if classes == 0 {
		classes = top + 1
	}
	if top >= classes {
		return nil, fmt.Errorf("data: %s: label %d, the model has %d classes (0..%d)", path, top, classes, classes-1)
	}
	if classes > 256 {
		return nil, fmt.Errorf("data: %s: %d classes; vitprobe's datasets hold at most 256", path, classes)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	info := Info{Name: "tensors:" + filepath.Base(path), Classes: classes, Channels: c, Side: h, Source: abs}
	d := &Dataset{Info: info, Split: split, Labels: labels}
	switch x.DType {
	case safetensors.U8:
		if c > 3 {
			return nil, fmt.Errorf("data: %s: %d-channel byte images; byte images have 1 or 3 channels (store F32 values instead)", path, c)
		}
		if len(opt.Mean) != c || len(opt.Std) != c {
			return nil, fmt.Errorf("data: %s: byte images need %d mean and std values, have %d and %d", path, c, len(opt.Mean), len(opt.Std))
		}
		copy(d.Info.Mean[:], opt.Mean)
		copy(d.Info.Std[:], opt.Std)
		d.Images = x.Data
	case safetensors.F32:
		if d.Values, err = x.Float32s(); err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		for i, v := range d.Values {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("data: %s: x holds a non-finite value (image %d)", path, i/(c*h*w))
			}
		}
	default:
		return nil, fmt.Errorf("data: %s: x is %s; want U8 pixels or F32 normalised values", path, x.DType)
	}
	return d, nil
}

func names(f *safetensors.File) string {
	if len(f.Tensors) == 0 {
		return "none"
	}
	s := ""
	for i, t := range f.Tensors {
		if i > 0 {
			s += ", "
		}
		s += t.Name
	}
	return s
}

// readLabels decodes y and returns it as bytes with its largest value.
func readLabels(y safetensors.Tensor) ([]uint8, int, error) {
	n := int(y.Shape[0])
	out := make([]uint8, n)
	top := 0
	for i := range n {
		var v int64
		switch y.DType {
		case safetensors.I64:
			v = int64(binary.LittleEndian.Uint64(y.Data[8*i:]))
		case safetensors.I32:
			v = int64(int32(binary.LittleEndian.Uint32(y.Data[4*i:])))
		case safetensors.U8:
			v = int64(y.Data[i])
		default:
			return nil, 0, fmt.Errorf("y is %s; want integer labels (I64, I32 or U8)", y.DType)
		}
		if v < 0 || v > 255 {
			return nil, 0, fmt.Errorf("label %d of example %d is outside 0..255", v, i)
		}
		out[i] = uint8(v)
		top = max(top, int(v))
	}
	return out, top, nil
}

// Input describes what a model takes, for LoadUserData: image side and
// channels, number of classes, and the normalisation of its pixels.
type Input struct {
	Side, Channels, Classes int
	Mean, Std               []float64
}

// LoadUserData reads the user's data for a model that takes in: an image
// folder (LoadImageFolder) when path is a folder, a tensor file
// (LoadTensorFile) when it is a .safetensors file. The folder's classes
// must number the model's.
func LoadUserData(path string, split Split, in Input) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("data: %s does not exist", path)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	if st.IsDir() {
		d, err := LoadImageFolder(path, split, FolderOptions{Side: in.Side, Channels: in.Channels, Mean: in.Mean, Std: in.Std})
		if err != nil {
			return nil, err
		}
		if in.Classes > 0 && d.Info.Classes != in.Classes {
			return nil, fmt.Errorf("data: %s has %d class folders, the model %d classes", d.Info.Source, d.Info.Classes, in.Classes)
		}
		return d, nil
	}
	if strings.HasSuffix(path, ".safetensors") {
		return LoadTensorFile(path, split, TensorFileOptions(in))
	}
	return nil, fmt.Errorf("data: %s is neither an image folder (one sub-folder per class) nor a .safetensors file with x and y", path)
}

// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header mapping tensor names to dtype, shape and
// byte range, an optional "__metadata__" map of strings, then the raw
// little-endian data. PyTorch reads the files vitprobe writes with the
// safetensors package or a 20-line reader (reference/pytorch).
//
// The package is pure Go and validates everything it reads: a file is
// rejected, with an error naming the problem, rather than trusted.
package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// DType is a tensor element type as the format names it.
type DType string

// The element types vitprobe uses.
const (
	F32 DType = "F32"
	F64 DType = "F64"
	I64 DType = "I64"
	I32 DType = "I32"
	U8  DType = "U8"
)

// Size returns the byte size of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F64, I64:
		return 8
	case U8:
		return 1
	}
	return 0
}

// Tensor is one named tensor: its type, shape and raw little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Numel returns the number of elements the shape holds.
func (t Tensor) Numel() int64 {
	n := int64(1)
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Float32s decodes an F32 tensor's data.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != F32 {
		return nil, fmt.Errorf("safetensors: %s is %s, not F32", t.Name, t.DType)
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// FromFloat32s makes an F32 tensor.
func FromFloat32s(name string, shape []int64, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int64(nil), shape...), Data: b}
}

type entry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header (the reference implementation uses
// 100 MB).
const maxHeader = 100 << 20

// Encode writes tensors (sorted by name) and metadata to w. It returns the
// hex SHA-256 of the data section, a hash of the weights alone that does
// not change with metadata.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) (string, error) {
	ts := append([]Tensor(nil), tensors...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	hdr := map[string]any{}
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	var off int64
	for i, t := range ts {
		if i > 0 && ts[i-1].Name == t.Name {
			return "", fmt.Errorf("safetensors: duplicate tensor %s", t.Name)
		}
		if t.Name == "__metadata__" || t.Name == "" {
			return "", fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		}
		if t.DType.Size() == 0 {
			return "", fmt.Errorf("safetensors: %s: unsupported dtype %q", t.Name, t.DType)
		}
		if int64(len(t.Data)) != t.Numel()*int64(t.DType.Size()) {
			return "", fmt.Errorf("safetensors: %s: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		hdr[t.Name] = entry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return "", fmt.Errorf("safetensors: header: %w", err)
	}
	// Pad the header with spaces so the data starts 8-byte aligned.
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(n[:]); err != nil {
		return "", err
	}
	if _, err := w.Write(js); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, t := range ts {
		if _, err := w.Write(t.Data); err != nil {
			return "", err
		}
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// File is a decoded safetensors file.
type File struct {
	Tensors  []Tensor // sorted by name
	Metadata map[string]string
	// DataSHA256 is the hex SHA-256 of the data section, as Encode returns.
	DataSHA256 string
}

// Decode parses a whole safetensors file held in memory.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes is too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes)", n, len(b))
	}
	raw := map[string]json.RawMessage{}
	dec := json.NewDecoder(bytes.NewReader(b[8 : 8+n]))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	data := b[8+n:]
	f := &File{}
	type span struct {
		name   string
		lo, hi int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: metadata: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %s: %w", name, err)
		}
		size := e.DType.Size()
		if size == 0 {
			return nil, fmt.Errorf("safetensors: tensor %s: unsupported dtype %q", name, e.DType)
		}
		numel := int64(1)
		for _, s := range e.Shape {
			if s < 0 || (s > 0 && numel > math.MaxInt64/8/s) {
				return nil, fmt.Errorf("safetensors: tensor %s: bad shape %v", name, e.Shape)
			}
			numel *= s
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > int64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %s: byte range [%d, %d) outside the %d data bytes (truncated file?)", name, lo, hi, len(data))
		}
		if hi-lo != numel*int64(size) {
			return nil, fmt.Errorf("safetensors: tensor %s: %d bytes for shape %v of %s", name, hi-lo, e.Shape, e.DType)
		}
		f.Tensors = append(f.Tensors, Tensor{Name: name, DType: e.DType, Shape: e.Shape, Data: data[lo:hi]})
		spans = append(spans, span{name, lo, hi})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var end int64
	for _, s := range spans {
		if s.lo < end {
			return nil, fmt.Errorf("safetensors: tensor %s overlaps another", s.name)
		}
		end = s.hi
	}
	if end != int64(len(data)) {
		return nil, fmt.Errorf("safetensors: %d data bytes, tensors cover %d", len(data), end)
	}
	sort.Slice(f.Tensors, func(i, j int) bool { return f.Tensors[i].Name < f.Tensors[j].Name })
	h := sha256.New()
	for _, t := range f.Tensors {
		h.Write(t.Data)
	}
	f.DataSHA256 = hex.EncodeToString(h.Sum(nil))
	return f, nil
}

// ReadFile reads and decodes the safetensors file at path; errors name it.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s does not exist", path)
		}
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Lookup returns the tensor named name.
func (f *File) Lookup(name string) (Tensor, bool) {
	i := sort.Search(len(f.Tensors), func(i int) bool { return f.Tensors[i].Name >= name })
	if i < len(f.Tensors) && f.Tensors[i].Name == name {
		return f.Tensors[i], true
	}
	return Tensor{}, false
}

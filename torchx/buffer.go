package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Element is a Go element type that can cross into and out of tensors.
type Element interface {
	~float32 | ~float64 | ~int64 | ~uint8
}

func code[E Element]() C.int {
	var z E
	switch any(z).(type) {
	case float32:
		return C.VP_F32
	case float64:
		return C.VP_F64
	case int64:
		return C.VP_I64
	default:
		return C.VP_U8
	}
}

func kindCode(k gotch.DType) (C.int, error) {
	switch k {
	case gotch.Float:
		return C.VP_F32, nil
	case gotch.Double:
		return C.VP_F64, nil
	case gotch.Int64:
		return C.VP_I64, nil
	case gotch.Uint8:
		return C.VP_U8, nil
	}
	return 0, fmt.Errorf("torchx: unsupported tensor kind %v", k)
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	return n
}

// FromSlice returns a new CPU tensor of element kind k and the given shape
// holding data (converted). len(data) must equal the product of shape.
func FromSlice[E Element](data []E, shape []int64, k gotch.DType) (*ts.Tensor, error) {
	if int64(len(data)) != numel(shape) {
		return nil, fmt.Errorf("torchx: %d values for shape %v", len(data), shape)
	}
	to, err := kindCode(k)
	if err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	} else {
		var z [1]E
		p = unsafe.Pointer(&z[0])
	}
	dims := make([]C.longlong, len(shape))
	for i, s := range shape {
		dims[i] = C.longlong(s)
	}
	var dp *C.longlong
	if len(dims) > 0 {
		dp = &dims[0]
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_from_buffer(p, code[E](), dp, C.int(len(dims)), to, &out)); err != nil {
		return nil, fmt.Errorf("torchx: tensor from slice: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// CopyOut copies t's elements (converted to E) into dst, which must have
// exactly t's number of elements.
func CopyOut[E Element](dst []E, t *ts.Tensor) error {
	if len(dst) == 0 {
		return nil
	}
	err := errFrom(C.vp_copy_out(C.vp_tensor(t.Ctensor()), unsafe.Pointer(&dst[0]), code[E](), C.longlong(len(dst))))
	if err != nil {
		return fmt.Errorf("torchx: copy out: %w", err)
	}
	return nil
}

// CopyIn overwrites t's elements in place from src (converted), without
// recording autograd history. src must have exactly t's number of elements.
func CopyIn[E Element](t *ts.Tensor, src []E) error {
	if len(src) == 0 {
		return nil
	}
	err := errFrom(C.vp_copy_in(C.vp_tensor(t.Ctensor()), unsafe.Pointer(&src[0]), code[E](), C.longlong(len(src))))
	if err != nil {
		return fmt.Errorf("torchx: copy in: %w", err)
	}
	return nil
}

// Values returns t's elements as a new slice of E.
func Values[E Element](t *ts.Tensor) ([]E, error) {
	shape, err := t.Size()
	if err != nil {
		return nil, err
	}
	out := make([]E, numel(shape))
	return out, CopyOut(out, t)
}

// Numel returns the total number of elements of a list of tensors.
func Numel(list []*ts.Tensor) (int, error) {
	n := 0
	for _, t := range list {
		s, err := t.Size()
		if err != nil {
			return 0, err
		}
		n += int(numel(s))
	}
	return n, nil
}

// Flatten copies the elements of list, in order, into dst, which must hold
// exactly their total count. It is the bridge from parameter-shaped tensors
// to the float64 vectors of the hessian and landscape packages.
func Flatten(dst []float64, list []*ts.Tensor) error {
	off := 0
	for _, t := range list {
		s, err := t.Size()
		if err != nil {
			return err
		}
		n := int(numel(s))
		if off+n > len(dst) {
			return fmt.Errorf("torchx: flatten: destination of %d too short", len(dst))
		}
		if err := CopyOut(dst[off:off+n], t); err != nil {
			return err
		}
		off += n
	}
	if off != len(dst) {
		return fmt.Errorf("torchx: flatten: %d elements into a destination of %d", off, len(dst))
	}
	return nil
}

// Unflatten returns new tensors shaped, typed and placed like like, filled
// from src in order. It is Flatten's inverse.
func Unflatten(src []float64, like []*ts.Tensor) ([]*ts.Tensor, error) {
	out := make([]*ts.Tensor, 0, len(like))
	off := 0
	for _, l := range like {
		s, err := l.Size()
		if err != nil {
			DropAll(out)
			return nil, err
		}
		n := int(numel(s))
		if off+n > len(src) {
			DropAll(out)
			return nil, fmt.Errorf("torchx: unflatten: source of %d too short", len(src))
		}
		k, err := Kind(l)
		if err != nil {
			DropAll(out)
			return nil, err
		}
		t, err := FromSlice(src[off:off+n], s, k)
		if err != nil {
			DropAll(out)
			return nil, err
		}
		out = append(out, t)
		off += n
	}
	if off != len(src) {
		DropAll(out)
		return nil, fmt.Errorf("torchx: unflatten: %d elements from a source of %d", off, len(src))
	}
	return out, nil
}

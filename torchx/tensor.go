package torchx

import (
	"fmt"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// gotch's convenience methods Tensor.Copy_, Tensor.DType and every Must*
// call log.Fatal when libtorch reports an error: a library must not exit
// its caller's process. The functions here do the same work and return the
// error.

// Copy copies src into dst in place (src broadcast to dst's shape and
// converted to its type), as Tensor.Copy_ does, returning libtorch's error.
func Copy(dst, src *ts.Tensor) error {
	if dst == nil || src == nil {
		return fmt.Errorf("torchx: copy: nil tensor")
	}
	lib.AtCopy_(lib.Ctensor(dst.Ctensor()), lib.Ctensor(src.Ctensor()))
	if err := ts.TorchErr(); err != nil {
		return fmt.Errorf("torchx: copy: %w", err)
	}
	return nil
}

// Kind returns t's element type, as Tensor.DType does, or an error for an
// undefined tensor or an element type gotch has no name for (complex,
// bfloat16...).
func Kind(t *ts.Tensor) (gotch.DType, error) {
	if t == nil {
		return gotch.DType{}, fmt.Errorf("torchx: element type of a nil tensor")
	}
	defined, err := t.Defined()
	if err != nil {
		return gotch.DType{}, fmt.Errorf("torchx: element type: %w", err)
	}
	if !defined {
		return gotch.DType{}, fmt.Errorf("torchx: element type of an undefined tensor")
	}
	c := lib.AtScalarType(lib.Ctensor(t.Ctensor()))
	if err := ts.TorchErr(); err != nil {
		return gotch.DType{}, fmt.Errorf("torchx: element type: %w", err)
	}
	k, err := gotch.CInt2DType(c)
	if err != nil {
		return gotch.DType{}, fmt.Errorf("torchx: element type %d has no gotch name", c)
	}
	return k, nil
}

// Dropper is a libtorch object that frees itself: a tensor or a scalar.
type Dropper interface{ Drop() error }

// DropTo drops d and, when that fails and *err is still nil, sets *err.
// Deferred, it frees what a function made without losing a failure:
//
//	sc := ts.FloatScalar(v)
//	defer torchx.DropTo(&err, sc)
func DropTo(err *error, d Dropper) {
	if e := d.Drop(); e != nil && *err == nil {
		*err = fmt.Errorf("torchx: drop: %w", e)
	}
}

// InPlace runs op, one of gotch's in-place methods on t (Relu_, Add_,
// MulScalar_, Fill_, BernoulliFloat_, ...), and frees the C handle it
// replaces. Those methods point t at a new handle to the same tensor and
// drop the old one on the floor: the tensor's storage then outlives every
// Drop (a leak per call, of the whole tensor once it is dropped). t keeps
// the new handle; the caller still owns t.
func InPlace(t *ts.Tensor, op func() error) error {
	if t == nil {
		return fmt.Errorf("torchx: in-place operation on a nil tensor")
	}
	old := t.Ctensor()
	if err := op(); err != nil {
		return err
	}
	if now := t.Ctensor(); now != old {
		lib.AtFree(lib.Ctensor(old))
		if err := ts.TorchErr(); err != nil {
			return fmt.Errorf("torchx: free the replaced handle: %w", err)
		}
	}
	return nil
}

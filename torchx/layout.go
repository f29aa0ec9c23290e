package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// ChannelsLast returns the 4-D tensor t laid out channels-last (the
// strides of an (N, H, W, C) array; the same logical shape and values), a
// differentiable operation. Convolutions of such a tensor run in oneDNN
// without converting the layout at every call, and their outputs stay
// channels-last. The caller owns the result (which may share t's storage
// when t already is channels-last).
func ChannelsLast(t *ts.Tensor) (*ts.Tensor, error) {
	var out C.vp_tensor
	if err := errFrom(C.vp_channels_last(C.vp_tensor(t.Ctensor()), &out)); err != nil {
		return nil, fmt.Errorf("torchx: channels-last: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

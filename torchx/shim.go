package torchx

// #cgo CXXFLAGS: -std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=1 -fopenmp -w -Wno-psabi
// #cgo CXXFLAGS: -I/usr/include/torch/csrc/api/include
// #cgo LDFLAGS: -fopenmp -lstdc++ -ltorch -lc10 -ltorch_cpu -ldnnl
// /* -fopenmp: ATen's parallel_for spreads the shim's own loops only when
//    compiled with it; -Wno-psabi: GCC's note about passing 64-byte vectors
//    by value, which attention.cpp's inlined helpers do. */
// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// errFrom converts a malloc'd C error message (or nil) into a Go error.
func errFrom(msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return errors.New(s)
}

// cTensors returns the C pointers of ts as a Go slice that cgo may pass on
// (it holds C pointers only).
func cTensors(list []*ts.Tensor) []C.vp_tensor {
	out := make([]C.vp_tensor, len(list))
	for i, t := range list {
		out[i] = C.vp_tensor(t.Ctensor())
	}
	return out
}

// goTensors wraps C tensors returned by the shim as gotch tensors.
func goTensors(list []C.vp_tensor) []*ts.Tensor {
	out := make([]*ts.Tensor, len(list))
	for i, p := range list {
		out[i] = ts.FromCtensor(unsafe.Pointer(p))
	}
	return out
}

func firstOrNil(list []C.vp_tensor) *C.vp_tensor {
	if len(list) == 0 {
		return nil
	}
	return &list[0]
}

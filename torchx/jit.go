package torchx

// #include <stdlib.h>
// #include "jit.h"
import "C"

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Module is a loaded TorchScript module. Its methods are not safe for
// concurrent use; Close frees it.
type Module struct {
	m C.vp_module
}

// NamedTensor is one tensor of a module with its dotted name. The tensor is
// a new handle on the module's own storage: writing into it changes the
// module, and it is the autograd leaf the module's graph uses.
type NamedTensor struct {
	Name   string
	Tensor *ts.Tensor
	// DType is libtorch's name of the element type: "Float", "Double",
	// "Long", ...
	DType string
	// Identity is equal for two names of one tensor (tied weights).
	Identity uint64
	// RequiresGrad is the tensor's requires_grad flag.
	RequiresGrad bool
}

// LoadModule loads the TorchScript file at path (torch.jit.save's output)
// onto the CPU. The error is libtorch's message, on one line.
func LoadModule(path string) (*Module, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var m C.vp_module
	if err := jitErr(C.vp_module_load(cs, &m)); err != nil {
		return nil, err
	}
	return &Module{m: m}, nil
}

// Close frees the module. Tensor handles obtained from it stay valid (they
// hold their storage) until dropped. It is safe to call more than once.
func (m *Module) Close() {
	if m.m != nil {
		C.vp_module_free(m.m)
		m.m = nil
	}
}

// To moves the module's parameters and buffers to dev. Handles obtained
// before the move keep pointing at the old storage: list the tensors again.
func (m *Module) To(dev gotch.Device) error {
	d := C.int(-1)
	if dev.IsCuda() {
		d = C.int(dev.Value)
	}
	return jitErr(C.vp_module_to(m.m, d))
}

// Parameters lists the module's parameters recursively, in the module's
// order, with their dotted names.
func (m *Module) Parameters() ([]NamedTensor, error) { return m.tensors(0) }

// Buffers lists the module's buffers (batch-norm running statistics,
// counters, index tables) recursively, with their dotted names.
func (m *Module) Buffers() ([]NamedTensor, error) { return m.tensors(1) }

func (m *Module) tensors(buffers C.int) ([]NamedTensor, error) {
	var names *C.char
	var arr *C.vp_jtensor
	var n C.int
	if err := jitErr(C.vp_module_tensors(m.m, buffers, &names, &arr, &n)); err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(names))
	defer C.free(unsafe.Pointer(arr))
	lines := strings.Split(strings.TrimSuffix(C.GoString(names), "\n"), "\n")
	ptrs := unsafe.Slice(arr, int(n))
	out := make([]NamedTensor, int(n))
	var bad error
	for i := range out {
		out[i].Tensor = ts.FromCtensor(unsafe.Pointer(ptrs[i]))
		f := strings.Split(lines[i], "\t")
		if len(f) != 4 {
			bad = fmt.Errorf("torchx: module tensor list line %q", lines[i])
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			bad = fmt.Errorf("torchx: module tensor list line %q: %w", lines[i], err)
		}
		out[i].Name, out[i].DType, out[i].Identity, out[i].RequiresGrad = f[0], f[1], id, f[3] == "1"
	}
	if bad != nil {
		for _, t := range out {
			_ = t.Tensor.Drop()
		}
		return nil, bad
	}
	return out, nil
}

// RequireGrad turns requires_grad on for t in place (the module's own
// handle of the tensor sees it too).
func RequireGrad(t *ts.Tensor) error {
	return jitErr(C.vp_require_grad(C.vp_jtensor(t.Ctensor())))
}

// Submodules returns the qualified type name of every submodule by dotted
// name ("" is the module itself), e.g.
// "__torch__.torch.nn.modules.batchnorm.BatchNorm2d".
func (m *Module) Submodules() (map[string]string, error) {
	var s *C.char
	if err := jitErr(C.vp_module_types(m.m, &s)); err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(s))
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(C.GoString(s), "\n"), "\n") {
		name, typ, ok := strings.Cut(line, "\t")
		if ok {
			out[name] = typ
		}
	}
	return out, nil
}

// HasMethod reports whether the module has the named method.
func (m *Module) HasMethod(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.vp_module_has_method(m.m, cs) != 0
}

// SetTraining sets the training flag of the module and its submodules
// (what scripted code reads as self.training; a traced graph has the flag
// of its tracing time built in).
func (m *Module) SetTraining(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.vp_module_set_training(m.m, v)
}

// Run calls method on x, which must return (logits, tuple or list of
// tensors) with at most maxLayers tensors in the second element, and
// returns the logits followed by those tensors, owned by the caller.
func (m *Module) Run(method string, x *ts.Tensor, maxLayers int) ([]*ts.Tensor, error) {
	cs := C.CString(method)
	defer C.free(unsafe.Pointer(cs))
	out := make([]C.vp_jtensor, maxLayers+1)
	var n C.int
	if err := jitErr(C.vp_module_run(m.m, cs, C.vp_jtensor(x.Ctensor()), &out[0], C.int(len(out)), &n)); err != nil {
		return nil, err
	}
	res := make([]*ts.Tensor, int(n))
	for i := range res {
		res[i] = ts.FromCtensor(unsafe.Pointer(out[i]))
	}
	return res, nil
}

// SetJITOptimize turns the TorchScript graph executor's optimisations
// (profiling, specialisation, fusion, differentiable subgraphs) on or off
// for the whole process and returns the previous setting.
func SetJITOptimize(on bool) bool {
	v := C.int(0)
	if on {
		v = 1
	}
	return C.vp_set_jit_optimize(v) != 0
}

// jitErr converts a shim error into a Go error on one line.
func jitErr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return errors.New(OneLine(s))
}

var (
	noDerivative = regexp.MustCompile(`derivative for '?([A-Za-z0-9_.:]+)'? is not implemented`)
	errorLine    = regexp.MustCompile(`(?m)^\s*(?:RuntimeError|ValueError|TypeError|IndexError|Error): (.+)$`)
)

// OneLine condenses a libtorch error message (which may carry a TorchScript
// traceback, the C++ source location and several lines) into one line: the
// innermost "RuntimeError: ..." line of a TorchScript traceback, else the
// first non-empty line.
func OneLine(msg string) string {
	if m := errorLine.FindAllStringSubmatch(msg, -1); len(m) > 0 {
		return strings.TrimSpace(m[len(m)-1][1])
	}
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return "unknown libtorch error"
}

// MissingDerivative returns the name of the operation whose derivative
// libtorch says it does not implement ("the derivative for
// '_cdist_backward' is not implemented."), or "" when err is not that error.
// Hessian-vector products differentiate the backward pass, so an operation
// with a first but no second derivative fails there.
func MissingDerivative(err error) string {
	if err == nil {
		return ""
	}
	if m := noDerivative.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// ErrNoSecondDerivative is wrapped by the errors of Hessian-vector products
// that meet an operation without a double-backward formula.
var ErrNoSecondDerivative = errors.New("no second derivative")

// secondDerivativeError rewrites a product's error when it is a missing
// double-backward formula.
func secondDerivativeError(err error) error {
	op := MissingDerivative(err)
	if op == "" {
		return err
	}
	return fmt.Errorf("libtorch has no second derivative through %s (the derivative of its backward, %q, is not implemented): %w",
		strings.TrimSuffix(op, "_backward"), op, ErrNoSecondDerivative)
}

// Command gotchpatch prepares a copy of gotch v0.7.0 for Debian's CPU-only
// libtorch 1.13.1.
//
// It rewrites libtch/lib.go with CPU cgo flags for the system libtorch and
// replaces the bodies of the generated bindings that call ATen functions
// removed or changed between libtorch 1.11 and 1.13 by a body that raises a
// C++ exception, which gotch's PROTECT turns into a Go error. It also gives
// the generated Go wrappers a properly sized, freed buffer for their results.
//
// Usage:
//
//	go run . DIR
//
// DIR is a writable copy of the gotch module. The command is idempotent.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// removed lists the generated bindings that do not compile against
// libtorch 1.13.1 (measured by compiling each generated binding against
// Debian's libtorch 1.13.1; README, set-up step 2).
var removed = []string{
	"atg__cat", "atg__cat_out", "atg__det_lu_based_helper",
	"atg__det_lu_based_helper_backward_helper", "atg__linalg_inv_out_helper_",
	"atg__linalg_qr_helper", "atg__s_where", "atg__segment_reduce_backward",
	"atg__solve_helper", "atg__weight_norm_cuda_interface",
	"atg__weight_norm_cuda_interface_backward", "atg_arange_start_out",
	"atg_bernoulli_out", "atg_binary_cross_entropy_with_logits_backward",
	"atg_col2im_backward", "atg_col2im_backward_grad_input", "atg_eig", "atg_eig_e",
	"atg_grid_sampler_3d_backward", "atg_im2col_backward",
	"atg_im2col_backward_grad_input", "atg_kl_div_backward", "atg_l1_loss_backward",
	"atg_l1_loss_backward_grad_input", "atg_l1_loss_out", "atg_lstsq", "atg_lstsq_x",
	"atg_matrix_rank", "atg_matrix_rank_tol", "atg_max_unpool2d_backward",
	"atg_max_unpool2d_backward_grad_input", "atg_max_unpool3d_backward",
	"atg_max_unpool3d_backward_grad_input", "atg_nansum", "atg_normal",
	"atg_segment_reduce", "atg_solve", "atg_solve_solution",
}

const libGo = `package libtch

// Rewritten by vitprobe's scripts/gotchpatch for Debian's CPU libtorch 1.13.1.

// #cgo CFLAGS: -I${SRCDIR} -O2 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-sign-compare -Wno-unused-function
// #cgo CFLAGS: -D_GLIBCXX_USE_CXX11_ABI=1
// #cgo CXXFLAGS: -std=c++17 -I${SRCDIR} -O2 -D_GLIBCXX_USE_CXX11_ABI=1 -w
// #cgo CXXFLAGS: -I/usr/include/torch/csrc/api/include
// #cgo LDFLAGS: -lstdc++ -ltorch -lc10 -ltorch_cpu
import "C"
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gotchpatch DIR")
		os.Exit(2)
	}
	if err := patch(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gotchpatch:", err)
		os.Exit(1)
	}
}

func patch(dir string) error {
	lib := filepath.Join(dir, "libtch", "lib.go")
	if err := os.WriteFile(lib, []byte(libGo), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", lib, err)
	}
	gen := filepath.Join(dir, "libtch", "torch_api_generated.cpp.h")
	src, err := os.ReadFile(gen)
	if err != nil {
		return err
	}
	out := string(src)
	for _, name := range removed {
		out, err = stub(out, name)
		if err != nil {
			return fmt.Errorf("%s: %w", gen, err)
		}
	}
	if err := os.WriteFile(gen, []byte(out), 0o644); err != nil {
		return err
	}
	return fixOutputBuffers(filepath.Join(dir, "ts", "tensor-generated.go"))
}

// outputBuf matches the result-pointer allocations of the generated Go
// wrappers: malloc(0), into which the C side then writes up to five tensor
// pointers (an overflow for more than two on glibc), never freed (a leak per
// tensor operation).
var outputBuf = regexp.MustCompile(`(?m)^(\s*)(ptr|ctensorPtr0) := \(\*lib\.Ctensor\)\(unsafe\.Pointer\(C\.malloc\(0\)\)\)$`)

// fixOutputBuffers gives every generated wrapper a buffer with room for
// eight results, freed when the wrapper returns (after it has read them).
func fixOutputBuffers(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out := outputBuf.ReplaceAll(src, []byte("${1}${2} := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64)))\n${1}defer C.free(unsafe.Pointer(${2}))"))
	if n := len(outputBuf.FindAll(src, -1)); n == 0 && !strings.Contains(string(src), "C.malloc(64)") {
		return fmt.Errorf("%s: no output buffers found to fix", path)
	}
	return os.WriteFile(path, out, 0o644)
}

// stub replaces the body of the C function name in src by one that raises.
func stub(src, name string) (string, error) {
	re := regexp.MustCompile(`(?m)^(void|int|int64_t|double|bool|tensor) ` + regexp.QuoteMeta(name) + `\(`)
	loc := re.FindStringSubmatchIndex(src)
	if loc == nil {
		return "", fmt.Errorf("binding %s not found", name)
	}
	ret := src[loc[2]:loc[3]]
	open := strings.Index(src[loc[0]:], "{")
	if open < 0 {
		return "", errors.New("no body for " + name)
	}
	open += loc[0]
	end := strings.Index(src[open:], "\n}\n")
	if end < 0 {
		return "", errors.New("unterminated body for " + name)
	}
	end += open + len("\n}")
	body := "{\n  PROTECT(throw std::runtime_error(\"" + name +
		" is not available in libtorch 1.13 (vitprobe)\");)\n"
	if ret != "void" {
		body += "  return 0;\n"
	}
	body += "}"
	return src[:open] + body + src[end:], nil
}

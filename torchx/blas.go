package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/vitprobe/vitprobe/internal/prov"
)

// BLASCoreEnv is OpenBLAS's own variable naming the kernels to use. When it
// is set, vitprobe leaves OpenBLAS's choice alone.
const BLASCoreEnv = "OPENBLAS_CORETYPE"

// blasFallback is the kernel set OpenBLAS falls back to for a CPU model it
// does not know.
const blasFallback = "Prescott"

// blasChoice records what the package's init did to OpenBLAS.
var blasChoice struct {
	detected string // the kernels OpenBLAS chose at load
	forced   bool   // vitprobe replaced them
	err      error  // a failed switch
}

func init() {
	// Every binary that links torchx records its kernels and libtorch
	// with its results (package prov needs no libtorch of its own).
	prov.SetRuntime(func() prov.Runtime {
		return prov.Runtime{Libtorch: LibtorchVersion(), BLAS: BLASCore(), BLASNote: BLASCoreNote()}
	})
	blasChoice.detected = BLASCore()
	if os.Getenv(BLASCoreEnv) != "" || blasChoice.detected != blasFallback {
		return
	}
	if want := blasCoreFor(cpuFeatures()); want != "" {
		blasChoice.err = ForceBLASCore(want)
		blasChoice.forced = blasChoice.err == nil
	}
}

// BLASCore returns the name of the kernel set OpenBLAS uses for matrix
// products ("SkylakeX", "Haswell", "Prescott"...), or "" when libtorch's
// BLAS is not OpenBLAS.
func BLASCore() string {
	var buf [64]C.char
	C.vp_blas_core(&buf[0], C.int(len(buf)))
	return C.GoString(&buf[0])
}

// LibtorchVersion returns the version of the libtorch headers vitprobe was
// built against (Debian's 1.13.1 package says "1.13.0", as PyTorch's
// torch.__version__ there says "1.13.0a0").
func LibtorchVersion() string { return C.GoString(C.vp_torch_version()) }

// BLASCoreNote says in one line which OpenBLAS kernels run the matrix
// products and who chose them: OpenBLAS itself, $OPENBLAS_CORETYPE, or
// vitprobe, which replaces OpenBLAS's SSE3 fallback for a CPU model it does
// not know (OpenBLAS 0.3.21 on recent Xeons) with the kernels the CPU's
// instruction set allows: about twice as fast on vit-mini's training step.
func BLASCoreNote() string {
	core := BLASCore()
	switch {
	case core == "":
		return "BLAS: not OpenBLAS"
	case blasChoice.forced && strings.EqualFold(core, os.Getenv(BLASCoreEnv)):
		return fmt.Sprintf("OpenBLAS kernels: %s (chosen by vitprobe from the CPU's instruction set; OpenBLAS fell back to %s; %s=%s keeps that)",
			core, blasChoice.detected, BLASCoreEnv, blasFallback)
	case blasChoice.err != nil:
		return fmt.Sprintf("OpenBLAS kernels: %s (%v)", core, blasChoice.err)
	case os.Getenv(BLASCoreEnv) != "":
		return fmt.Sprintf("OpenBLAS kernels: %s (from $%s)", core, BLASCoreEnv)
	default:
		return fmt.Sprintf("OpenBLAS kernels: %s (OpenBLAS's choice)", core)
	}
}

// ForceBLASCore makes OpenBLAS use the kernel set called name (one of
// OpenBLAS's core names, as in $OPENBLAS_CORETYPE) from now on, and sets
// $OPENBLAS_CORETYPE so that child processes, a PyTorch reference for
// instance, use the same kernels and so compute the same bits. Call it
// while no torch work runs on other goroutines. The package already calls
// it at start-up when OpenBLAS fell back to its SSE3 kernels on a CPU with
// AVX2 or AVX-512. Kernels the CPU cannot run, or a name OpenBLAS does not
// know, give an error and leave OpenBLAS's kernels and the variable as
// they were.
func ForceBLASCore(name string) error {
	if need, ok := blasNeeds[name]; ok && !cpuFeatures().has(need) {
		return fmt.Errorf("torchx: OpenBLAS kernels %s need %s, which this CPU lacks", name, need)
	}
	prev, had := os.LookupEnv(BLASCoreEnv)
	restore := func() {
		if had {
			_ = os.Setenv(BLASCoreEnv, prev) // a valid name: no error
		} else {
			_ = os.Unsetenv(BLASCoreEnv)
		}
	}
	before := BLASCore()
	if err := os.Setenv(BLASCoreEnv, name); err != nil {
		return fmt.Errorf("torchx: %w", err)
	}
	if C.vp_blas_rechoose() != 0 {
		restore()
		return fmt.Errorf("torchx: the BLAS cannot switch kernels (not a multi-architecture OpenBLAS)")
	}
	if got := BLASCore(); !strings.EqualFold(got, name) {
		// OpenBLAS did not know the name: back to the kernels it had.
		_ = os.Setenv(BLASCoreEnv, before)
		C.vp_blas_rechoose()
		restore()
		return fmt.Errorf("torchx: OpenBLAS does not know kernels %q", name)
	}
	return nil
}

// features is the part of the CPU's instruction set OpenBLAS's x86 kernels
// depend on (each as usable: the CPU has it and the OS saves its state).
type features struct{ avx2, fma, avx512 bool }

// need names a requirement of a kernel set.
type need string

const (
	needAVX2   need = "AVX2 and FMA"
	needAVX512 need = "AVX-512 (F, CD, BW, DQ, VL)"
)

// blasNeeds lists what the kernel sets vitprobe may choose require.
var blasNeeds = map[string]need{
	"SkylakeX": needAVX512,
	"Haswell":  needAVX2,
}

func (f features) has(n need) bool {
	switch n {
	case needAVX512:
		return f.avx512
	case needAVX2:
		return f.avx2 && f.fma
	}
	return false
}

func cpuFeatures() features {
	x := cpu.X86
	return features{
		avx2:   x.HasAVX2,
		fma:    x.HasFMA,
		avx512: x.HasAVX512F && x.HasAVX512CD && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL,
	}
}

// blasCoreFor returns the fastest OpenBLAS kernel set for f that vitprobe
// measured (SkylakeX beats Haswell by 1.2x on vit-mini's training step), or
// "" when the SSE3 fallback is all the CPU allows.
func blasCoreFor(f features) string {
	switch {
	case f.has(needAVX512):
		return "SkylakeX"
	case f.has(needAVX2):
		return "Haswell"
	}
	return ""
}

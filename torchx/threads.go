package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
)

// ThreadsEnv is the environment variable that overrides the default number
// of libtorch intra-op threads.
const ThreadsEnv = "VITPROBE_THREADS"

// DefaultThreads returns the thread count vitprobe uses when none is asked
// for: $VITPROBE_THREADS if set to a positive integer, else every core.
func DefaultThreads() (int, error) {
	if s := os.Getenv(ThreadsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("torchx: %s=%q is not a positive integer", ThreadsEnv, s)
		}
		return n, nil
	}
	return runtime.NumCPU(), nil
}

// SetThreads sets libtorch's intra-op thread count, and OpenBLAS's (whose
// own pool runs libtorch's matrix products), to n; n <= 0 means
// DefaultThreads. libtorch (Debian's 1.13.1) starts with one thread per
// physical core as it counts them, which is one on a 2-vCPU machine. The
// count is kept per OS thread (OpenMP's), and oneDNN's convolutions read it
// as OpenMP has it on the calling thread: run torch work on a goroutine
// locked to the OS thread that called SetThreads (as the commands do with
// their main thread, and OnLockedThread), or two runs of the same
// convolution may split a reduction differently and differ in the last bit.
// It returns the count in effect.
func SetThreads(n int) (int, error) {
	if n <= 0 {
		var err error
		if n, err = DefaultThreads(); err != nil {
			return 0, err
		}
	}
	C.vp_set_num_threads(C.int(n))
	return Threads(), nil
}

// BLASThreads returns the thread count of OpenBLAS, which libtorch calls
// for matrix products and which SetThreads sets too, or -1 when the BLAS
// in use is not OpenBLAS.
func BLASThreads() int { return int(C.vp_blas_threads()) }

// Threads returns libtorch's intra-op thread count, first making it the
// calling OS thread's OpenMP count (which may still hold an older count
// otherwise).
func Threads() int { return int(C.vp_get_num_threads()) }

// parallelWidth returns how many threads an at::parallel_for in the shim's
// own C++ spreads over (libtorch's count when the shim is built with
// OpenMP, 1 otherwise).
func parallelWidth() int { return int(C.vp_parallel_width()) }

// Seed seeds libtorch's default generator with seed and returns a Go random
// source seeded from the same value, so that one call makes a run
// reproducible: on CPU, the same seed and thread count give bit-identical
// results.
func Seed(seed uint64) *rand.Rand {
	C.vp_manual_seed(C.ulonglong(seed))
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// CUDAAvailable reports whether libtorch can use a CUDA device.
func CUDAAvailable() bool { return C.vp_cuda_available() != 0 }

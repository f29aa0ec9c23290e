// Package torchcli is the part of the commands' plumbing that needs
// libtorch: the main goroutine locked to its OS thread (libtorch keeps grad
// mode and its last error per thread), malloc tuned for libtorch's large
// blocks, the thread count and the device. Commands that run no libtorch
// (cmd/report) use package cli alone and build without cgo.
package torchcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/torchx"
)

func init() {
	// libtorch keeps grad mode and its last error per OS thread: run every
	// command's torch work on the main thread.
	runtime.LockOSThread()
}

// Main runs a command as cli.Main does, after tuning malloc for libtorch
// (torchx.KeepFreedMemory).
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	torchx.KeepFreedMemory()
	cli.Main(name, run)
}

// Setup sets libtorch's thread count (0: every core, or
// $VITPROBE_THREADS) and resolves a device name ("cpu", "cuda", "cuda:N").
func Setup(threads int, device string) (int, gotch.Device, error) {
	if threads < 0 {
		return 0, gotch.CPU, cli.Usagef("--threads %d: want 0 (all cores) or a positive count", threads)
	}
	n, err := torchx.SetThreads(threads)
	if err != nil {
		return 0, gotch.CPU, err
	}
	dev, err := ParseDevice(device)
	return n, dev, err
}

// ParseDevice resolves "cpu", "cuda" or "cuda:N"; CUDA without a usable
// CUDA libtorch is an error.
func ParseDevice(s string) (gotch.Device, error) {
	switch {
	case s == "" || s == "cpu":
		return gotch.CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		if !torchx.CUDAAvailable() {
			return gotch.CPU, fmt.Errorf("device %s: this libtorch has no usable CUDA (Debian's libtorch is CPU-only)", s)
		}
		var i int
		if s != "cuda" {
			if _, err := fmt.Sscanf(s, "cuda:%d", &i); err != nil {
				return gotch.CPU, cli.Usagef("device %q: want cpu, cuda or cuda:N", s)
			}
		}
		return gotch.CudaBuilder(uint(i)), nil
	}
	return gotch.CPU, cli.Usagef("device %q: want cpu, cuda or cuda:N", s)
}

// Workers is the number of parallel workers of one libtorch thread each
// for --threads: the flag when positive, else $VITPROBE_THREADS, else
// every core; one on a GPU.
func Workers(threads int, dev gotch.Device) (int, error) {
	s := os.Getenv("VITPROBE_THREADS")
	switch {
	case dev != gotch.CPU:
		return 1, nil
	case threads > 0:
		return threads, nil
	case s == "":
		return max(1, runtime.NumCPU()), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, cli.Usagef("VITPROBE_THREADS=%q is not a positive integer", s)
	}
	return n, nil
}

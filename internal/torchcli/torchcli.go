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
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

func init() {
	// libtorch keeps grad mode and its last error per OS thread: run every
	// command's torch work on the main thread.
	runtime.LockOSThread()
}

// Main runs a command as cli.Main does, after tuning malloc for libtorch
// (torchx.KeepFreedMemory) and with OpenMP's passive wait policy
// (PassiveOpenMP).
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	PassiveOpenMP()
	torchx.KeepFreedMemory()
	cli.Main(name, run)
}

// PassiveOpenMP starts the program again with OMP_WAIT_POLICY=PASSIVE
// when the environment does not set OMP_WAIT_POLICY; it returns at once
// when it is set, or if the new start fails (the program then runs as
// it is). By default libtorch's OpenMP workers spin after every parallel
// loop, and on two cores a spinning worker takes the core that OpenBLAS's
// own worker needs for the next matrix product: vit-mini's training step at
// batch 16 on two threads took 95-116 ms with the spin and 35-36 ms
// without it, in vitprobe and in PyTorch alike (docs/benchmarks.md).
// OpenMP reads the policy once, when the program is loaded, before any Go
// code runs, so it cannot be changed in place.
func PassiveOpenMP() {
	env, again := passiveEnv(os.Environ())
	if !again {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only if it failed
}

// passiveEnv returns env with OMP_WAIT_POLICY=PASSIVE added and true when
// env does not set OMP_WAIT_POLICY, else env and false.
func passiveEnv(env []string) ([]string, bool) {
	for _, kv := range env {
		if strings.HasPrefix(kv, "OMP_WAIT_POLICY=") {
			return env, false
		}
	}
	return append(slices.Clip(env), "OMP_WAIT_POLICY=PASSIVE"), true
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

// ShardedJob is a job that computes on checkpoints, a share of a sharded
// run at a time, and merges its shards' journals (jobs.Hessian,
// jobs.Blocks).
type ShardedJob[R, O any] interface {
	Run(ctx context.Context, refs []models.Ref, opt O) (*R, error)
	Merge(dir string, journals ...string) (*R, error)
	Journal() string
}

// RunSharded is a command's run of a sharded job: with merge, args are the
// journals to merge into env.Out (none: the shards found there); without,
// it sets libtorch's threads and the device (recorded in env), reads args
// as checkpoint references and runs the job with opt. A share of a
// sharded run prints its journal and the command that merges, and returns
// nil results; an interrupted run returns cli.ErrInterrupted.
func RunSharded[R, O any](ctx context.Context, name string, job ShardedJob[R, O], env *jobs.Env, opt O,
	merge bool, args []string, threads int, device string, stdout io.Writer) (*R, error) {
	var res *R
	var err error
	if merge {
		res, err = job.Merge(env.Out, args...)
	} else {
		if env.Threads, env.Device, err = Setup(threads, device); err != nil {
			return nil, err
		}
		refs, perr := models.ParseRefs(args)
		if perr != nil {
			return nil, &cli.UsageError{Err: perr}
		}
		res, err = job.Run(ctx, refs, opt)
	}
	if err != nil {
		return nil, cli.Stopped(err)
	}
	if res == nil {
		fmt.Fprintf(stdout, "shard %v done: %s\nonce every shard is done: %s --merge --out %s\n", env.Shard, job.Journal(), name, env.Out)
	}
	return res, nil
}

// Package cli is the plumbing vitprobe's commands share: exit codes (2 for
// usage errors, 1 for run-time errors, 130 after an interrupt), Ctrl-C as a
// cancelled context, the main goroutine locked to its OS thread for
// libtorch, and one-line error messages.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/torchx"
)

func init() {
	// libtorch keeps grad mode and its last error per OS thread: run every
	// command's torch work on the main thread.
	runtime.LockOSThread()
}

// UsageError marks a mistake in the command line (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrInterrupted reports that the command stopped on Ctrl-C after saving
// its work (exit status 130).
var ErrInterrupted = errors.New("interrupted")

// RunFunc is a command's body.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs a command: the first Ctrl-C (or SIGTERM) cancels ctx so the
// command can save and stop, a second one exits at once. It tunes malloc
// for libtorch first (torchx.KeepFreedMemory).
func Main(name string, run RunFunc) {
	torchx.KeepFreedMemory()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(Exit(name, err, os.Stderr))
}

// Exit prints err as one line prefixed by the command's name and returns
// the exit status.
func Exit(name string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
	fmt.Fprintf(stderr, "%s: %s\n", name, msg)
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		return 2
	case errors.Is(err, ErrInterrupted):
		return 130
	}
	return 1
}

// ParseFlags parses args with fs, turning flag errors into one-line
// UsageErrors and rejecting positional arguments unless allowArgs. The
// usage text (fs.Usage) is printed for -h only, once; a bad flag gets the
// one-line error, not the whole text.
//
// Every command also gets --version, which prints VersionLine to stdout.
func ParseFlags(fs *flag.FlagSet, args []string, allowArgs bool) error {
	var version *bool
	if fs.Lookup("version") == nil {
		version = fs.Bool("version", false, "print vitprobe's version and the BLAS kernels in use, and exit")
	}
	fs.SetOutput(io.Discard)
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if usage != nil {
				usage()
			}
			return err
		}
		return &UsageError{Err: err}
	}
	if version != nil && *version {
		fmt.Println(VersionLine())
		return flag.ErrHelp
	}
	if !allowArgs && fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// VersionLine names vitprobe's version, the Go toolchain and OpenBLAS's
// kernels (torchx.BLASCoreNote), which decide the last bits of results.
func VersionLine() string {
	return fmt.Sprintf("vitprobe %s (%s %s/%s, libtorch %s); %s", prov.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH,
		torchx.LibtorchVersion(), torchx.BLASCoreNote())
}

// Usage writes a command's usage text: a synopsis line then its flags.
func Usage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintln(w, synopsis)
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// Setup sets libtorch's thread count (0: every core, or
// $VITPROBE_THREADS) and resolves a device name ("cpu", "cuda", "cuda:N").
func Setup(threads int, device string) (int, gotch.Device, error) {
	if threads < 0 {
		return 0, gotch.CPU, Usagef("--threads %d: want 0 (all cores) or a positive count", threads)
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
				return gotch.CPU, Usagef("device %q: want cpu, cuda or cuda:N", s)
			}
		}
		return gotch.CudaBuilder(uint(i)), nil
	}
	return gotch.CPU, Usagef("device %q: want cpu, cuda or cuda:N", s)
}

// Package cli is the plumbing vitprobe's commands share: exit codes (2 for
// usage errors, 1 for run-time errors, 130 after an interrupt), Ctrl-C as a
// cancelled context, and one-line error messages. It needs no libtorch;
// package internal/torchcli adds what commands that run libtorch need
// (threads, device, malloc tuning, the main goroutine locked to its OS
// thread).
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

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/shard"
)

// UsageError marks a mistake in the command line (exit status 2, as for
// a library's *errs.OptionError).
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
// command can save and stop, a second one exits at once.
func Main(name string, run RunFunc) {
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
	var oe *errs.OptionError
	switch {
	case errors.As(err, &ue), errors.As(err, &oe):
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

// VersionLine names vitprobe's version, the Go toolchain and, in a binary
// that links libtorch, its version and OpenBLAS's kernels, which decide the
// last bits of results.
func VersionLine() string {
	line := fmt.Sprintf("vitprobe %s (%s %s/%s", prov.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	rt := prov.CurrentRuntime()
	if rt.Libtorch == "" {
		return line + ", without libtorch)"
	}
	return fmt.Sprintf("%s, libtorch %s); %s", line, rt.Libtorch, rt.BLASNote)
}

// Usage writes a command's usage text: a synopsis line then its flags.
func Usage(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintln(w, synopsis)
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// ParseArgs parses args with fs when flags and positional arguments are
// interleaved ("a.json --k 3 b.json"), and returns the positional ones.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for rest := args; ; {
		if err := ParseFlags(fs, rest, true); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// ResolveShard returns the shard --shard names (flag, "i/n") or, when it
// is empty, the one a batch system's environment assigns (shard.FromEnv),
// else shard.All. A malformed value is a usage error.
func ResolveShard(flag string) (shard.Shard, error) {
	s, err := shard.Resolve(flag, os.Getenv)
	switch {
	case err != nil && flag != "":
		return s, Usagef("--shard: %v", err)
	case err != nil:
		return s, Usagef("%v", err)
	}
	return s, nil
}

// Stopped returns ErrInterrupted for an error that wraps a cancelled or
// expired context (the work stopped on Ctrl-C, after saving what it
// finished), err itself otherwise.
func Stopped(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ErrInterrupted
	}
	return err
}

// Package errs defines the errors that callers of vitprobe tell apart with
// errors.As: a journal written with other settings, a non-finite value (a
// diverged model), an unknown model, a checkpoint that does not fit what it
// is used with. Every package returns them wrapped with its context; test
// with errors.As, never by matching message text:
//
//	var mis *errs.JournalMismatchError
//	if errors.As(err, &mis) {
//		fmt.Println("settings that differ:", mis.Diffs)
//	}
//
// The package needs no libtorch.
package errs

import (
	"fmt"
	"strings"
)

// JournalMismatchError reports a journal written by a run with other
// settings: resuming it, or merging it with others, would mix
// incompatible results.
type JournalMismatchError struct {
	// Path is the journal's file.
	Path string
	// Diffs names the settings that differ, each as "name was X, now Y"
	// (at most a few, the last one counting the rest).
	Diffs []string
}

func (e *JournalMismatchError) Error() string {
	return fmt.Sprintf("%s was written with other settings (%s); remove it or choose another output folder",
		e.Path, strings.Join(e.Diffs, "; "))
}

// NonFiniteError reports a NaN or an infinity where a number must be
// finite: a loss, a Hessian-vector product, a feature map. It usually
// means a diverged model.
type NonFiniteError struct {
	// What names the quantity, e.g. "loss" or "Hessian-vector product".
	What string
	// Where says where it was met, e.g. "batch 3" (may be empty).
	Where string
	// Value is the offending value, 0 when not known (a sentinel such as
	// hessian.ErrNonFinite).
	Value float64
}

func (e *NonFiniteError) Error() string {
	s := "non-finite " + e.What
	if e.Value != 0 {
		s += fmt.Sprintf(" %v", e.Value)
	}
	if e.Where != "" {
		s += " at " + e.Where
	}
	return s + " (diverged model?)"
}

// UnknownModelError reports a model name that no preset (and no other
// kind of model vitprobe can load) answers to.
type UnknownModelError struct {
	// Name is the name asked for; Known lists the names there are.
	Name  string
	Known []string
}

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("unknown model %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// IncompatibleError reports a checkpoint that does not fit what it is used
// with: weights of another architecture, a second checkpoint that is not
// the same architecture, a data set with other classes or channels.
type IncompatibleError struct {
	// Checkpoint is the checkpoint's path (may be empty when the weights
	// come from elsewhere).
	Checkpoint string
	// Reason says what does not fit.
	Reason string
}

func (e *IncompatibleError) Error() string {
	if e.Checkpoint == "" {
		return e.Reason
	}
	return fmt.Sprintf("checkpoint %s: %s", e.Checkpoint, e.Reason)
}

// OptionError reports options that do not fit the inputs: more eigenvalues
// than a model has parameters, a checkpoint that records no data set when
// none is given. It is the caller's mistake, not a failure of the
// computation: commands exit with status 2, as for a bad flag.
type OptionError struct {
	Err error
}

// Optionf returns an *OptionError with a formatted message.
func Optionf(format string, args ...any) error {
	return &OptionError{Err: fmt.Errorf(format, args...)}
}

func (e *OptionError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *OptionError) Unwrap() error { return e.Err }

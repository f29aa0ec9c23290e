package errs

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestAsThroughWrapping: each type is found with errors.As under layers of
// %w context, and its message keeps the details callers print.
func TestAsThroughWrapping(t *testing.T) {
	cases := []struct {
		err  error
		want string
		as   func(error) bool
	}{
		{&JournalMismatchError{Path: "j.jsonl", Diffs: []string{"seed was 1, now 2"}}, "j.jsonl was written with other settings (seed was 1, now 2)",
			func(e error) bool {
				var x *JournalMismatchError
				return errors.As(e, &x) && x.Diffs[0] == "seed was 1, now 2"
			}},
		{&NonFiniteError{What: "loss", Where: "batch 3", Value: math.NaN()}, "non-finite loss NaN at batch 3",
			func(e error) bool { var x *NonFiniteError; return errors.As(e, &x) && x.Where == "batch 3" }},
		{&UnknownModelError{Name: "vit-xl", Known: []string{"vit-mini", "vit-ti"}}, `unknown model "vit-xl" (known: vit-mini, vit-ti)`,
			func(e error) bool { var x *UnknownModelError; return errors.As(e, &x) && x.Name == "vit-xl" }},
		{&IncompatibleError{Checkpoint: "a.json", Reason: "3 missing tensors"}, "checkpoint a.json: 3 missing tensors",
			func(e error) bool { var x *IncompatibleError; return errors.As(e, &x) && x.Checkpoint == "a.json" }},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("hessian: %w", fmt.Errorf("vit: %w", c.err))
		if !c.as(wrapped) {
			t.Errorf("%T not found through wrapping", c.err)
		}
		if !strings.Contains(wrapped.Error(), c.want) {
			t.Errorf("message %q lacks %q", wrapped.Error(), c.want)
		}
		for _, d := range cases {
			if !errors.Is(d.err, c.err) && d.as(wrapped) {
				t.Errorf("%T mistaken for %T", c.err, d.err)
			}
		}
	}
}

package meta

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/vitprobe/vitprobe/errs"
)

// Ref names a checkpoint on a command line: "path" or "label=path".
type Ref struct {
	// Label is the name given with "label=", "" for none.
	Label string
	// Path is the checkpoint as given: sidecar, weights, base path or run
	// folder (SidecarPath).
	Path string
}

// String formats r as it is written on a command line.
func (r Ref) String() string {
	if r.Label == "" {
		return r.Path
	}
	return r.Label + "=" + r.Path
}

// ParseRef reads "path" or "label=path". The text before the first "=" is
// a label when it is not empty, holds no path separator and the whole
// argument is not an existing file (a path may contain "="). Labels are
// checked by CheckLabel.
func ParseRef(arg string) (Ref, error) {
	label, path, ok := strings.Cut(arg, "=")
	if ok && label != "" && !strings.ContainsAny(label, `/\`) {
		if _, err := os.Stat(arg); err != nil {
			if err := CheckLabel(label); err != nil {
				return Ref{}, fmt.Errorf("checkpoint %q: %w", arg, err)
			}
			if path == "" {
				return Ref{}, fmt.Errorf("checkpoint %q: empty path", arg)
			}
			return Ref{Label: label, Path: path}, nil
		}
	}
	if arg == "" {
		return Ref{}, fmt.Errorf("empty checkpoint argument")
	}
	return Ref{Path: arg}, nil
}

// ParseRefs parses every argument (ParseRef).
func ParseRefs(args []string) ([]Ref, error) {
	out := make([]Ref, len(args))
	for i, a := range args {
		r, err := ParseRef(a)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// CheckLabel accepts a label that can name a file or folder inside an
// output folder: not empty, not "." or "..", no path separator, no control
// character.
func CheckLabel(label string) error {
	switch {
	case label == "":
		return fmt.Errorf("empty label")
	case label == "." || label == "..":
		return fmt.Errorf("label %q would name a folder outside the output folder", label)
	case strings.ContainsAny(label, `/\`):
		return fmt.Errorf("label %q holds a path separator", label)
	case strings.IndexFunc(label, unicode.IsControl) >= 0:
		return fmt.Errorf("label %q holds a control character", label)
	}
	return nil
}

// Resolved is a checkpoint reference read and labelled.
type Resolved struct {
	// Label names the checkpoint (given, or made by Resolve).
	Label string
	// Sidecar and Weights are the paths of its two files.
	Sidecar, Weights string
	Checkpoint
}

// Resolve reads every reference's sidecar and labels each checkpoint (a
// bad or repeated label is an *errs.OptionError):
// a given label as it is (two equal labels are an error), else the model's
// name, else model and phase ("vit-mini-final") when several share the
// model, else that with a number ("vit-mini-final-2") in argument order.
func Resolve(refs []Ref) ([]Resolved, error) {
	out := make([]Resolved, len(refs))
	given := map[string]bool{}
	for i, r := range refs {
		if r.Label != "" {
			if err := CheckLabel(r.Label); err != nil {
				return nil, &errs.OptionError{Err: err}
			}
			if given[r.Label] {
				return nil, errs.Optionf("two checkpoints are labelled %q: give distinct labels as label=path", r.Label)
			}
			given[r.Label] = true
		}
		side, err := SidecarPath(r.Path)
		if err != nil {
			return nil, err
		}
		ck, err := ReadCheckpoint(side)
		if err != nil {
			return nil, err
		}
		out[i] = Resolved{Label: r.Label, Sidecar: side, Weights: filepath.Join(filepath.Dir(side), ck.Weights), Checkpoint: ck}
	}
	defaultLabels(out, given)
	return out, nil
}

// defaultLabels names the unlabelled checkpoints (see Resolve).
func defaultLabels(rs []Resolved, used map[string]bool) {
	names := []func(r *Resolved) string{
		func(r *Resolved) string { return r.Spec.Name },
		func(r *Resolved) string {
			if r.Phase == "" {
				return r.Spec.Name
			}
			return r.Spec.Name + "-" + r.Phase
		},
	}
	for _, name := range names {
		count := map[string]int{}
		for i := range rs {
			if rs[i].Label == "" {
				count[name(&rs[i])]++
			}
		}
		for i := range rs {
			if n := name(&rs[i]); rs[i].Label == "" && count[n] == 1 && !used[n] {
				rs[i].Label, used[n] = n, true
			}
		}
	}
	for i := range rs {
		if rs[i].Label != "" {
			continue
		}
		base := names[1](&rs[i])
		n := base
		for k := 2; used[n]; k++ {
			n = fmt.Sprintf("%s-%d", base, k)
		}
		rs[i].Label, used[n] = n, true
	}
}

package data

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A class filter keeps some classes of a dataset and numbers them afresh:
// "mnist:5-9" is MNIST's digits 5 to 9 with labels 0..4 (5 is 0, 9 is 4),
// "cifar10:0,1,8,9" CIFAR-10's vehicles. Load and Describe take such names
// wherever a dataset name is asked for, so a checkpoint trained on a
// filtered dataset records the filter and every analysis loads the same
// classes. The pre-train-then-fine-tune experiment uses it (pre-train on
// "mnist:0-4", fine-tune on "mnist:5-9").

// splitFilter separates "BASE:CLASSES" into its parts; ok is false for a
// name without a filter.
func splitFilter(name string) (base, classes string, ok bool) {
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return name, "", false
	}
	return name[:i], name[i+1:], true
}

// ParseClasses reads a class list of comma-separated labels and ranges
// ("5-9", "0,2,4-6") of a dataset with n classes. The result is sorted,
// without repeats; it must keep at least two classes.
func ParseClasses(spec string, n int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("data: class list %q: %q is not a label or a range a-b", spec, f)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("data: class list %q: %q is not a range a-b with a <= b", spec, f)
			}
		}
		if a < 0 || b >= n {
			return nil, fmt.Errorf("data: class list %q: labels run from 0 to %d", spec, n-1)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) < 2 {
		return nil, fmt.Errorf("data: class list %q keeps %d class; a classifier needs at least 2", spec, len(out))
	}
	return out, nil
}

// describeFiltered is Describe for a name with a class filter.
func describeFiltered(name, base, spec string) (Info, []int, error) {
	info, err := Describe(base)
	if err != nil {
		return Info{}, nil, err
	}
	classes, err := ParseClasses(spec, info.Classes)
	if err != nil {
		return Info{}, nil, err
	}
	info.Name, info.Classes = name, len(classes)
	return info, classes, nil
}

// KeepClasses returns a dataset of the images of d whose labels are in
// classes (sorted, as ParseClasses returns them), relabelled by their
// position in classes, in their original order, with info as its Info.
// The images are copied.
func (d *Dataset) KeepClasses(classes []int, info Info) (*Dataset, error) {
	if len(classes) > math.MaxUint8+1 {
		return nil, fmt.Errorf("data: %d classes to keep; labels are bytes", len(classes))
	}
	newLabel := make([]int, d.Info.Classes)
	for i := range newLabel {
		newLabel[i] = -1
	}
	for i, c := range classes {
		if c < 0 || c >= d.Info.Classes {
			return nil, fmt.Errorf("data: class %d is outside %s's 0..%d", c, d.Info.Name, d.Info.Classes-1)
		}
		newLabel[c] = i
	}
	out := &Dataset{Info: info, Split: d.Split}
	for i, l := range d.Labels {
		if nl := newLabel[l]; nl >= 0 {
			out.Images = append(out.Images, d.Image(i)...)
			out.Labels = append(out.Labels, uint8(nl))
		}
	}
	return out, nil
}

// loadFiltered is Load for a name with a class filter.
func loadFiltered(name, base, spec, dir string, split Split) (*Dataset, error) {
	info, classes, err := describeFiltered(name, base, spec)
	if err != nil {
		return nil, err
	}
	d, err := Load(base, dir, split)
	if err != nil {
		return nil, err
	}
	return d.KeepClasses(classes, info)
}

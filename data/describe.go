package data

import "fmt"

// Describe returns the Info of a dataset by name without loading it (the
// number of classes and channels a model needs, the normalisation).
// A name with a class filter ("mnist:5-9") has the filtered Info.
func Describe(name string) (Info, error) {
	if base, spec, ok := splitFilter(name); ok {
		info, _, err := describeFiltered(name, base, spec)
		return info, err
	}
	switch name {
	case "mnist":
		return mnistInfo, nil
	case "cifar10":
		return cifar10Info, nil
	case "cifar100":
		return cifar100Info, nil
	case "cifar100-coarse":
		return cifar100CoarseInfo, nil
	}
	return Info{}, fmt.Errorf("data: unknown dataset %q (want one of %v)", name, Names())
}

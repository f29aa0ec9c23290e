package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vitprobe/vitprobe/torchx"
)

// Replicate makes a copy of m for another worker (thread): a model of the same
// architecture from build (nil: Rebuild on the device of m's
// tensors) with every tensor, parameters and buffers, set to m's values.
// The caller owns the copy; on an error none is left open.
func Replicate(m Model, build func() (Model, error)) (Model, error) {
	ps := byName(m)
	if len(ps) == 0 {
		return nil, fmt.Errorf("replica of %s: the model has no tensors", m.Spec().Name)
	}
	var r Model
	var err error
	if build != nil {
		r, err = build()
	} else {
		dev, derr := ps[0].Tensor.Device()
		if derr != nil {
			return nil, fmt.Errorf("replica of %s: %w", m.Spec().Name, derr)
		}
		r, err = Rebuild(m, dev)
	}
	if err != nil {
		return nil, fmt.Errorf("replica of %s for a second worker: %w", m.Spec().Name, err)
	}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	rp := byName(r)
	if len(rp) != len(ps) {
		return nil, fmt.Errorf("the replica has %d tensors, the model %d", len(rp), len(ps))
	}
	for i, p := range ps {
		if rp[i].Name != p.Name || fmt.Sprint(rp[i].Shape) != fmt.Sprint(p.Shape) {
			return nil, fmt.Errorf("the replica's tensor %s%v differs from the model's %s%v", rp[i].Name, rp[i].Shape, p.Name, p.Shape)
		}
		v, err := torchx.Values[float32](p.Tensor)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.Name, err)
		}
		if err := torchx.CopyIn(rp[i].Tensor, v); err != nil {
			return nil, fmt.Errorf("replica %s: %w", p.Name, err)
		}
	}
	ok = true
	return r, nil
}

// byName returns m's tensors ordered by name.
func byName(m Model) []Param {
	ps := m.Params()
	slices.SortStableFunc(ps, func(a, b Param) int { return strings.Compare(a.Name, b.Name) })
	return ps
}

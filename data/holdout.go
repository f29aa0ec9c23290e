package data

import (
	"fmt"
	"math"
	"slices"
)

// streamHoldout separates the validation split's draws from every other
// use of a seed (the streams of sample.go).
const streamHoldout uint64 = 101

// Holdout splits d's examples into a class-stratified validation part with
// the given share in (0, 1) of each class (rounded, at least one example of
// every class that has two) and the rest, each sorted. The same seed gives
// the same split; it is drawn independently of Subset's draws with the
// same seed.
func (d *Dataset) Holdout(share float64, seed uint64) (rest, held []int, err error) {
	if !(share > 0 && share < 1) {
		return nil, nil, fmt.Errorf("data: validation share %v is outside (0, 1)", share)
	}
	held = stratified(d, d.Indices(), share, derive(seed, streamHoldout), false)
	in := make([]bool, d.Len())
	for _, i := range held {
		in[i] = true
	}
	for i := range in {
		if !in[i] {
			rest = append(rest, i)
		}
	}
	return rest, held, nil
}

// SubsetOf returns a class-stratified subset with the given fraction in
// (0, 1] of the examples at indices, as Subset does for all of d's
// examples (round(fraction·count) per class, at least one), sorted.
// Fraction 1 returns a sorted copy of indices.
func (d *Dataset) SubsetOf(indices []int, fraction float64, seed uint64) ([]int, error) {
	if !(fraction > 0 && fraction <= 1) {
		return nil, fmt.Errorf("data: subset fraction %v is outside (0, 1]", fraction)
	}
	for _, i := range indices {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("data: index %d is outside the %d examples of %s %v", i, d.Len(), d.Info.Name, d.Split)
		}
	}
	if fraction == 1 {
		out := slices.Clone(indices)
		slices.Sort(out)
		return out, nil
	}
	return stratified(d, indices, fraction, derive(seed, streamSubset, 1), true), nil
}

// stratified draws round(fraction·count) of each class's examples among
// indices uniformly without replacement (at least one when keepOne, else
// at least one only for classes with two or more), sorted.
func stratified(d *Dataset, indices []int, fraction float64, r interface{ IntN(int) int }, keepOne bool) []int {
	byClass := make([][]int, d.Info.Classes)
	for _, i := range indices {
		l := d.Labels[i]
		byClass[l] = append(byClass[l], i)
	}
	var out []int
	for _, idx := range byClass {
		if len(idx) == 0 {
			continue
		}
		k := int(math.Round(fraction * float64(len(idx))))
		if k < 1 && (keepOne || len(idx) > 1) {
			k = 1
		}
		if !keepOne && k >= len(idx) {
			k = len(idx) - 1 // a validation split leaves every class something to train on
		}
		for i := 0; i < k; i++ {
			j := i + r.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		out = append(out, idx[:k]...)
	}
	slices.Sort(out)
	return out
}

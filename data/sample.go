package data

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
)

// Streams separate the uses of one seed, so that e.g. the subset drawn with
// seed s is unrelated to the shuffling of epoch 0 with the same seed.
const (
	streamSubset uint64 = iota + 1
	streamShuffle
	streamAugment
)

// splitmix64 is Steele, Lea and Flood's 64-bit mixing function: a bijection
// whose outputs differ in about half their bits when one input bit changes.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// derive returns a generator determined by seed and the path of numbers
// (stream, epoch, step, ...): nothing but these numbers is needed to recreate
// it, so a resumed run gets the same draws without saved generator state.
func derive(seed uint64, path ...uint64) *rand.Rand {
	h := splitmix64(seed)
	for _, p := range path {
		h = splitmix64(h ^ p)
	}
	return rand.New(rand.NewPCG(h, splitmix64(h)))
}

// Subset returns the sorted indices of a seeded, class-stratified subset
// with the given fraction in (0, 1] of d's examples (the paper's 2% and 6%
// experiments): each class keeps round(fraction·count) of its examples,
// at least one when it has any, drawn uniformly without replacement. The
// same seed gives the same subset; fraction 1 gives every index.
func (d *Dataset) Subset(fraction float64, seed uint64) ([]int, error) {
	if !(fraction > 0 && fraction <= 1) { // also rejects NaN
		return nil, fmt.Errorf("data: subset fraction %v is outside (0, 1]", fraction)
	}
	byClass := make([][]int, d.Info.Classes)
	for i, l := range d.Labels {
		byClass[l] = append(byClass[l], i)
	}
	r := derive(seed, streamSubset)
	var out []int
	for _, idx := range byClass {
		if len(idx) == 0 {
			continue
		}
		k := max(1, int(math.Round(fraction*float64(len(idx)))))
		// A partial Fisher-Yates shuffle: the first k are a uniform
		// k-subset.
		for i := 0; i < k; i++ {
			j := i + r.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		out = append(out, idx[:k]...)
	}
	slices.Sort(out)
	return out, nil
}

// Sampler splits the examples of a dataset (or of a subset) into batches,
// epoch after epoch. A shuffled sampler visits epoch e in an order that only
// its seed and e determine, so a training run resumed at any epoch and step
// sees exactly the batches it would have seen. A Sampler does not copy the
// dataset; an epoch costs one permutation of the indices.
type Sampler struct {
	indices  []int
	size     int
	dropLast bool
	shuffle  bool
	seed     uint64
}

// Sequential returns a sampler that visits indices in their order, the last
// batch possibly smaller (evaluation). indices is borrowed, not copied.
func Sequential(indices []int, batchSize int) (*Sampler, error) {
	return newSampler(indices, batchSize, false, false, 0)
}

// Shuffled returns a sampler that visits indices in a new seeded order every
// epoch (training). With dropLast the last, smaller batch of an epoch is left
// out. indices is borrowed, not copied.
func Shuffled(indices []int, batchSize int, seed uint64, dropLast bool) (*Sampler, error) {
	return newSampler(indices, batchSize, true, dropLast, seed)
}

func newSampler(indices []int, size int, shuffle, dropLast bool, seed uint64) (*Sampler, error) {
	if size < 1 {
		return nil, fmt.Errorf("data: batch size %d is not positive", size)
	}
	if len(indices) == 0 {
		return nil, errors.New("data: sampler over no examples")
	}
	if dropLast && len(indices) < size {
		return nil, fmt.Errorf("data: batch size %d with drop-last leaves no batch of %d examples", size, len(indices))
	}
	return &Sampler{indices: indices, size: size, dropLast: dropLast, shuffle: shuffle, seed: seed}, nil
}

// Batches returns the number of batches of every epoch; a training run of E
// epochs takes E·Batches() steps.
func (s *Sampler) Batches() int {
	if s.dropLast {
		return len(s.indices) / s.size
	}
	return (len(s.indices) + s.size - 1) / s.size
}

// Examples returns the number of examples the sampler draws from.
func (s *Sampler) Examples() int { return len(s.indices) }

// Epoch returns epoch e (counted from 0) of the sampler.
func (s *Sampler) Epoch(e int) *Epoch {
	order := s.indices
	if s.shuffle {
		order = slices.Clone(s.indices)
		r := derive(s.seed, streamShuffle, uint64(e))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return &Epoch{s: s, e: e, order: order}
}

// Epoch is one pass of a Sampler: an order of its examples cut into
// batches. Batches can be taken in any order, e.g. from the step a resumed
// run stopped at.
type Epoch struct {
	s     *Sampler
	e     int
	order []int
}

// Len returns the number of batches.
func (ep *Epoch) Len() int { return ep.s.Batches() }

// Batch returns the dataset indices of batch k in 0..Len()-1. The slice is
// shared with the epoch: read it, do not modify it.
func (ep *Epoch) Batch(k int) []int {
	if k < 0 || k >= ep.Len() {
		panic(fmt.Sprintf("data: batch %d of an epoch of %d", k, ep.Len()))
	}
	lo := k * ep.s.size
	hi := min(lo+ep.s.size, len(ep.order))
	return ep.order[lo:hi:hi]
}

// Rand returns the generator for the augmentations of batch k: it depends
// only on the sampler's seed, the epoch and k.
func (ep *Epoch) Rand(k int) *rand.Rand {
	return derive(ep.s.seed, streamAugment, uint64(ep.e), uint64(k))
}

// All iterates over the batches in order: the step k and the batch's
// indices.
func (ep *Epoch) All() iter.Seq2[int, []int] {
	return func(yield func(int, []int) bool) {
		for k := range ep.Len() {
			if !yield(k, ep.Batch(k)) {
				return
			}
		}
	}
}

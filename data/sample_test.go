package data

import (
	"math"
	"slices"
	"testing"
)

// labelled returns a dataset of blank images with the given labels.
func labelled(classes int, labels []uint8) *Dataset {
	info := mnistInfo
	info.Classes = classes
	return &Dataset{Info: info, Images: make([]uint8, len(labels)*Size*Size), Labels: labels}
}

func TestSubsetStratified(t *testing.T) {
	train, _ := loadMNIST(t)
	counts := train.ClassCounts()
	for _, frac := range []float64{0.02, 0.06, 0.5} {
		idx, err := train.Subset(frac, 7)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(idx) || len(slices.Compact(slices.Clone(idx))) != len(idx) {
			t.Fatalf("fraction %v: indices not sorted and distinct", frac)
		}
		got := make([]int, 10)
		for _, i := range idx {
			got[train.Labels[i]]++
		}
		for c, n := range counts {
			if want := int(math.Round(frac * float64(n))); got[c] != want {
				t.Errorf("fraction %v, class %d: %d examples, want round(%v·%d) = %d", frac, c, got[c], frac, n, want)
			}
		}
	}
	// 2% of the 5923 zeros is 118.46: 118 are kept.
	idx, _ := train.Subset(0.02, 1)
	zeros := 0
	for _, i := range idx {
		if train.Labels[i] == 0 {
			zeros++
		}
	}
	if zeros != 118 {
		t.Errorf("2%% subset keeps %d zeros, want 118", zeros)
	}
}

func TestSubsetSmallClasses(t *testing.T) {
	// Class 0: 1 example, class 1: none, class 2: 40, class 3: 3.
	labels := []uint8{2, 0, 3, 3, 3}
	for range 39 {
		labels = append(labels, 2)
	}
	d := labelled(4, labels)
	idx, err := d.Subset(0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int, 4)
	for _, i := range idx {
		got[d.Labels[i]]++
	}
	// round(0.1·1) = 0 -> at least 1; round(0.1·40) = 4; round(0.3) -> 1.
	if want := []int{1, 0, 4, 1}; !slices.Equal(got, want) {
		t.Errorf("per-class counts %v, want %v", got, want)
	}
}

func TestSubsetSeeds(t *testing.T) {
	train, _ := loadMNIST(t)
	a, _ := train.Subset(0.02, 42)
	b, _ := train.Subset(0.02, 42)
	c, _ := train.Subset(0.02, 43)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different subsets")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 42 and 43 gave the same subset")
	}
	all, err := train.Subset(1, 42)
	if err != nil || !slices.Equal(all, train.Indices()) {
		t.Errorf("fraction 1: %d indices, %v; want every index", len(all), err)
	}
}

func TestSubsetFractionErrors(t *testing.T) {
	d := labelled(2, []uint8{0, 1})
	for _, c := range []struct {
		f    float64
		text string
	}{{0, "0"}, {1.5, "1.5"}, {math.NaN(), "NaN"}, {-0.1, "-0.1"}, {math.Inf(1), "+Inf"}} {
		_, err := d.Subset(c.f, 1)
		checkErr(t, err, "data: subset fraction "+c.text+" is outside (0, 1]")
	}
}

func TestSampler(t *testing.T) {
	idx := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	for _, c := range []struct {
		dropLast bool
		batches  int
		last     int // size of the last batch
	}{{false, 4, 1}, {true, 3, 3}} {
		s, err := Shuffled(idx, 3, 9, c.dropLast)
		if err != nil {
			t.Fatal(err)
		}
		if s.Batches() != c.batches || s.Examples() != 10 {
			t.Fatalf("drop-last %v: %d batches of %d examples, want %d of 10", c.dropLast, s.Batches(), s.Examples(), c.batches)
		}
		ep := s.Epoch(0)
		var seen []int
		for k, b := range ep.All() {
			if !slices.Equal(b, ep.Batch(k)) {
				t.Fatalf("All and Batch(%d) disagree", k)
			}
			want := 3
			if k == ep.Len()-1 {
				want = c.last
			}
			if len(b) != want {
				t.Errorf("drop-last %v: batch %d has %d examples, want %d", c.dropLast, k, len(b), want)
			}
			seen = append(seen, b...)
		}
		if !c.dropLast {
			slices.Sort(seen)
			if !slices.Equal(seen, idx) {
				t.Errorf("epoch 0 visits %v, want each of %v once", seen, idx)
			}
		}
	}
	if !slices.Equal(idx, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}) {
		t.Error("the sampler modified its indices")
	}
}

func TestSamplerOrder(t *testing.T) {
	idx := make([]int, 1000)
	for i := range idx {
		idx[i] = i
	}
	order := func(seed uint64, e int) []int {
		s, err := Shuffled(idx, 100, seed, false)
		if err != nil {
			t.Fatal(err)
		}
		ep := s.Epoch(e)
		var out []int
		for _, b := range ep.All() {
			out = append(out, b...)
		}
		return out
	}
	// A fresh sampler (a resumed run) reproduces an epoch exactly.
	if !slices.Equal(order(5, 3), order(5, 3)) {
		t.Error("seed 5 epoch 3 differs between two samplers")
	}
	if slices.Equal(order(5, 3), order(5, 4)) || slices.Equal(order(5, 3), order(6, 3)) {
		t.Error("different epochs or seeds gave the same order")
	}
	// Golden: the order pins math/rand/v2's PCG and Shuffle, so that a
	// change in them (which would break the reproduction of old runs) is
	// noticed.
	s, _ := Shuffled([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, 1, false)
	if got, want := s.Epoch(0).Batch(0), []int{2, 9, 6, 4, 0, 1, 5, 3, 8, 7}; !slices.Equal(got, want) {
		t.Errorf("seed 1 epoch 0: %v, want %v", got, want)
	}
	// Sequential keeps the order, and the last batch.
	q, err := Sequential([]int{4, 2, 7, 1, 9}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if q.Batches() != 3 || !slices.Equal(q.Epoch(5).Batch(2), []int{9}) || !slices.Equal(q.Epoch(0).Batch(0), []int{4, 2}) {
		t.Error("sequential sampler reordered its indices")
	}
	// Per-batch generators depend on (seed, epoch, step) only.
	s5, _ := Shuffled(idx, 100, 5, false)
	u := func(e, k int) uint64 { return s5.Epoch(e).Rand(k).Uint64() }
	first := u(2, 3)
	if again := u(2, 3); again != first || first == u(2, 4) || first == u(3, 3) {
		t.Error("batch generators are not a function of (seed, epoch, step)")
	}
}

func TestSamplerErrors(t *testing.T) {
	_, err := Shuffled([]int{1, 2}, 0, 1, false)
	checkErr(t, err, "data: batch size 0 is not positive")
	_, err = Sequential(nil, 4)
	checkErr(t, err, "data: sampler over no examples")
	_, err = Shuffled([]int{1, 2}, 3, 1, true)
	checkErr(t, err, "data: batch size 3 with drop-last leaves no batch of 2 examples")
}

// BenchmarkEpoch measures the start of a shuffled MNIST-sized epoch (one
// permutation of 60000 indices).
func BenchmarkEpoch(b *testing.B) {
	idx := make([]int, 60000)
	for i := range idx {
		idx[i] = i
	}
	s, _ := Shuffled(idx, 128, 1, true)
	for i := 0; b.Loop(); i++ {
		_ = s.Epoch(i)
	}
}

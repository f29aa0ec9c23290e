package data

import (
	"slices"
	"strings"
	"testing"
)

func TestParseClasses(t *testing.T) {
	for _, c := range []struct {
		spec    string
		want    []int
		errPart string
	}{
		{spec: "5-9", want: []int{5, 6, 7, 8, 9}},
		{spec: "0,2,4-6", want: []int{0, 2, 4, 5, 6}},
		{spec: "3,1,3,2-3", want: []int{1, 2, 3}},
		{spec: "7", errPart: "keeps 1 class"},
		{spec: "5-10", errPart: "labels run from 0 to 9"},
		{spec: "9-5", errPart: "a <= b"},
		{spec: "a-b", errPart: "not a label"},
		{spec: "", errPart: "not a label"},
	} {
		got, err := ParseClasses(c.spec, 10)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("ParseClasses(%q) error %v, want one saying %q", c.spec, err, c.errPart)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseClasses(%q) = %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
}

// synthetic returns a dataset of n one-channel images whose label is
// i mod classes and whose pixels all equal i mod 256.
func synthetic(n, classes int) *Dataset {
	d := &Dataset{Info: Info{Name: "synthetic", Classes: classes, Channels: 1}}
	for i := 0; i < n; i++ {
		img := make([]uint8, Size*Size)
		for j := range img {
			img[j] = uint8(i)
		}
		d.Images = append(d.Images, img...)
		d.Labels = append(d.Labels, uint8(i%classes))
	}
	return d
}

func TestKeepClasses(t *testing.T) {
	d := synthetic(40, 10)
	info := d.Info
	info.Name, info.Classes = "synthetic:2,7", 2
	k, err := d.KeepClasses([]int{2, 7}, info)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 8 || k.Info.Classes != 2 || k.Info.Name != "synthetic:2,7" {
		t.Fatalf("kept %d images, %d classes, name %q; want 8, 2, synthetic:2,7", k.Len(), k.Info.Classes, k.Info.Name)
	}
	// Originals 2, 7, 12, 17, ... in order: labels 0, 1, 0, 1, ... and each
	// image's pixels are its original index.
	for i := 0; i < k.Len(); i++ {
		orig := 2 + 5*i
		if int(k.Labels[i]) != i%2 || int(k.Image(i)[0]) != orig || int(k.Image(i)[Size*Size-1]) != orig {
			t.Errorf("image %d: label %d, pixels %d..%d; want label %d, pixels %d", i, k.Labels[i], k.Image(i)[0], k.Image(i)[Size*Size-1], i%2, orig)
		}
	}
	if _, err := d.KeepClasses([]int{2, 10}, info); err == nil {
		t.Error("keeping class 10 of 10: no error")
	}
}

func TestFilteredNames(t *testing.T) {
	info, err := Describe("mnist:5-9")
	if err != nil || info.Classes != 5 || info.Name != "mnist:5-9" || info.Channels != 1 || info.Mean != mnistInfo.Mean {
		t.Fatalf("Describe(mnist:5-9) = %+v, %v", info, err)
	}
	for _, bad := range []string{"mnist:5", "mnist:x", "nosuch:1-2", "mnist:0-4:1"} {
		if _, err := Describe(bad); err == nil {
			t.Errorf("Describe(%q): no error", bad)
		}
	}
	train, _ := loadMNIST(t)
	d, err := Load("mnist:5-9", "", Train)
	if err != nil {
		t.Fatal(err)
	}
	want := train.ClassCounts()[5:]
	if got := d.ClassCounts(); !slices.Equal(got, want) || d.Info.Classes != 5 || d.Split != Train {
		t.Errorf("mnist:5-9 class counts %v, want %v (the originals of digits 5..9)", got, want)
	}
}

func TestHoldout(t *testing.T) {
	d := synthetic(1000, 10)
	rest, held, err := d.Holdout(0.1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 100 || len(rest) != 900 {
		t.Fatalf("held %d, rest %d; want 100 and 900", len(held), len(rest))
	}
	seen := map[int]bool{}
	perClass := make([]int, 10)
	for _, i := range held {
		seen[i] = true
		perClass[d.Labels[i]]++
	}
	for _, i := range rest {
		if seen[i] {
			t.Fatalf("index %d is in both parts", i)
		}
		seen[i] = true
	}
	if len(seen) != 1000 || !slices.IsSorted(held) || !slices.IsSorted(rest) {
		t.Error("the parts are not a sorted partition of every index")
	}
	for c, n := range perClass {
		if n != 10 {
			t.Errorf("class %d: %d held out, want 10", c, n)
		}
	}
	_, again, _ := d.Holdout(0.1, 3)
	_, other, _ := d.Holdout(0.1, 4)
	sub, _ := d.Subset(0.1, 3)
	if !slices.Equal(again, held) || slices.Equal(other, held) || slices.Equal(sub, held) {
		t.Error("the split is not a function of its seed alone, or equals Subset's draw with the same seed")
	}
	tiny := synthetic(10, 10) // one example per class: nothing to hold out
	if r, h, err := tiny.Holdout(0.5, 0); err != nil || len(h) != 0 || len(r) != 10 {
		t.Errorf("classes of one example: held %v, rest %v, %v; want every example kept for training", h, r, err)
	}
	for _, bad := range []float64{0, 1, -0.1} {
		if _, _, err := d.Holdout(bad, 0); err == nil {
			t.Errorf("share %v: no error", bad)
		}
	}
}

func TestSubsetOf(t *testing.T) {
	d := synthetic(1000, 10)
	rest, _, _ := d.Holdout(0.2, 0)
	sub, err := d.SubsetOf(rest, 0.25, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 200 || !slices.IsSorted(sub) {
		t.Fatalf("25%% of 800: %d examples (sorted %v), want 200", len(sub), slices.IsSorted(sub))
	}
	in := map[int]bool{}
	for _, i := range rest {
		in[i] = true
	}
	perClass := make([]int, 10)
	for _, i := range sub {
		if !in[i] {
			t.Fatalf("index %d is not among the indices given", i)
		}
		perClass[d.Labels[i]]++
	}
	for c, n := range perClass {
		if n != 20 {
			t.Errorf("class %d: %d drawn, want 20", c, n)
		}
	}
	all, _ := d.SubsetOf(rest, 1, 5)
	if !slices.Equal(all, rest) {
		t.Error("fraction 1 does not return the indices")
	}
	if _, err := d.SubsetOf([]int{1000}, 0.5, 0); err == nil {
		t.Error("an index out of range: no error")
	}
}

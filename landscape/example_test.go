package landscape_test

import (
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/landscape"
)

// An adapter lists the model's tensors, marks the still ones, makes two
// filter-normalised directions and moves the weights along them.
func ExampleNewSurface() {
	params := []landscape.Param{
		{Name: "fc.bias", Shape: []int{2}, Data: []float64{0.5, -0.5}},
		{Name: "fc.weight", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
	}
	if err := (landscape.ZeroRule{}).Apply(params); err != nil {
		panic(err)
	}
	d1, _ := landscape.Random(params, 1, 0, landscape.NormFilter)
	d2, _ := landscape.Random(params, 1, 1, landscape.NormFilter)
	s, err := landscape.NewSurface(params, d1, d2)
	if err != nil {
		panic(err)
	}
	// Filter normalisation: each output unit's direction has its weights' norm.
	fmt.Printf("filter norms %.4f %.4f\n", math.Hypot(d1[1][0], d1[1][1]), math.Hypot(d1[1][2], d1[1][3]))
	w := s.At(nil, 0.5, -0.25)
	fmt.Println("bias stays", w[0])
	l1, l2 := s.Norms(0, 0)
	fmt.Printf("centre l1 %.4f l2 %.4f\n", l1, l2)
	// Output:
	// filter norms 2.2361 5.0000
	// bias stays [0.5 -0.5]
	// centre l1 11.0000 l2 6.1843
}

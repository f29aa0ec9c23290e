// Package deps pins module dependencies that the packages being written
// will use, so that concurrent work does not race on go.mod. It has no code
// and goes away once every dependency has a real importer.
package deps

import (
	_ "golang.org/x/term"
	_ "gonum.org/v1/gonum/dsp/fourier"
	_ "gonum.org/v1/gonum/mat"
	_ "gonum.org/v1/plot"
	_ "gonum.org/v1/plot/palette/moreland"
	_ "gonum.org/v1/plot/vg/vgimg"
)

package landscape

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxPoints bounds the number of points of a grid (a 3163 x 3163 grid):
// beyond it a grid is a typo, not an experiment.
const MaxPoints = 10_000_000

// Axis is one coordinate axis of a grid: N points from Min to Max, both
// included, evenly spaced.
type Axis struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

// Coord returns the coordinate of point i, 0 <= i < N. It is the one
// formula every part of vitprobe uses:
//
//	Coord(i) = (Min*(N-1-i) + Max*i) / (N-1)
//
// with Coord(0) = Min and Coord(N-1) = Max exactly. On a range symmetric
// about 0 with N odd, the middle point is exactly 0 (the two products are
// equal and opposite), and so is any point where Min*(N-1-i) = -Max*i
// holds in floating point, e.g. [-1, 2] at N = 4.
func (a Axis) Coord(i int) float64 {
	if i < 0 || i >= a.N {
		panic(fmt.Sprintf("landscape: axis point %d out of range [0, %d)", i, a.N))
	}
	switch i {
	case 0:
		return a.Min
	case a.N - 1:
		return a.Max
	}
	k := float64(a.N - 1)
	return (a.Min*(k-float64(i)) + a.Max*float64(i)) / k
}

// Coords returns all N coordinates.
func (a Axis) Coords() []float64 {
	c := make([]float64, a.N)
	for i := range c {
		c[i] = a.Coord(i)
	}
	return c
}

// validate checks the axis, naming it in errors.
func (a Axis) validate(name string) error {
	switch {
	case math.IsNaN(a.Min) || math.IsInf(a.Min, 0) || math.IsNaN(a.Max) || math.IsInf(a.Max, 0):
		return fmt.Errorf("landscape: %s range [%g, %g]: bounds must be finite", name, a.Min, a.Max)
	case a.Min >= a.Max:
		return fmt.Errorf("landscape: %s range [%g, %g]: min must be below max", name, a.Min, a.Max)
	case a.N < 2:
		return fmt.Errorf("landscape: %s resolution %d: need at least 2 points", name, a.N)
	}
	return nil
}

// Grid is a 1-D or 2-D grid of points (x, y). A 1-D grid has a zero Y axis
// and y = 0 at every point.
//
// Points are indexed row-major with y as the row:
//
//	index = iy*X.N + ix
//
// so x varies fastest, the order of the official code's CSV (numpy's
// meshgrid(xs, ys) flattened). Sharding, journals, CSV rows and merges all
// use this index.
type Grid struct {
	X Axis `json:"x"`
	Y Axis `json:"y,omitzero"`
}

// NewGrid1 returns the 1-D grid of n points from lo to hi.
func NewGrid1(lo, hi float64, n int) (Grid, error) {
	g := Grid{X: Axis{Min: lo, Max: hi, N: n}}
	return g, g.Validate()
}

// NewGrid2 returns the 2-D grid of nx x ny points over [xlo, xhi] x
// [ylo, yhi].
func NewGrid2(xlo, xhi float64, nx int, ylo, yhi float64, ny int) (Grid, error) {
	g := Grid{X: Axis{Min: xlo, Max: xhi, N: nx}, Y: Axis{Min: ylo, Max: yhi, N: ny}}
	return g, g.Validate()
}

// PaperGrid is the paper's grid: [-1, 1] x [-1, 1] at 21 x 21 points.
func PaperGrid() Grid {
	return Grid{X: Axis{Min: -1, Max: 1, N: 21}, Y: Axis{Min: -1, Max: 1, N: 21}}
}

// Validate checks the grid: finite bounds, min below max, at least 2
// points per axis, at most MaxPoints in all. Each error is one line.
func (g Grid) Validate() error {
	if err := g.X.validate("x"); err != nil {
		return err
	}
	if g.Is2D() {
		if err := g.Y.validate("y"); err != nil {
			return err
		}
		if g.X.N > MaxPoints/g.Y.N {
			return fmt.Errorf("landscape: grid of %d x %d points is too large (at most %d)", g.X.N, g.Y.N, MaxPoints)
		}
	} else if g.X.N > MaxPoints {
		return fmt.Errorf("landscape: grid of %d points is too large (at most %d)", g.X.N, MaxPoints)
	}
	return nil
}

// Is2D reports whether g has a y axis.
func (g Grid) Is2D() bool { return g.Y != Axis{} }

// Rows returns the number of y values: Y.N, or 1 for a 1-D grid.
func (g Grid) Rows() int {
	if g.Is2D() {
		return g.Y.N
	}
	return 1
}

// Len returns the number of points.
func (g Grid) Len() int { return g.X.N * g.Rows() }

// Index returns the index of point (ix, iy).
func (g Grid) Index(ix, iy int) int {
	if ix < 0 || ix >= g.X.N || iy < 0 || iy >= g.Rows() {
		panic(fmt.Sprintf("landscape: grid point (%d, %d) out of range %d x %d", ix, iy, g.X.N, g.Rows()))
	}
	return iy*g.X.N + ix
}

// Cell returns the column and row of point i.
func (g Grid) Cell(i int) (ix, iy int) {
	if i < 0 || i >= g.Len() {
		panic(fmt.Sprintf("landscape: grid point %d out of range [0, %d)", i, g.Len()))
	}
	return i % g.X.N, i / g.X.N
}

// Point returns the coordinates of point i.
func (g Grid) Point(i int) (x, y float64) {
	ix, iy := g.Cell(i)
	x = g.X.Coord(ix)
	if g.Is2D() {
		y = g.Y.Coord(iy)
	}
	return x, y
}

// ParseAxis reads "MIN:MAX:NUM" (the official code's notation, e.g.
// "-1:1:21") into an axis. It does not validate the axis (Grid.Validate
// does).
func ParseAxis(s string) (Axis, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Axis{}, errors.New("want MIN:MAX:NUM, e.g. -1:1:21")
	}
	lo, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	hi, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	n, err3 := strconv.Atoi(strings.TrimSpace(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return Axis{}, errors.New("want MIN:MAX:NUM with numbers, e.g. -1:1:21")
	}
	return Axis{Min: lo, Max: hi, N: n}, nil
}

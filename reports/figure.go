package reports

import (
	"image/color"
	"math"

	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure is a figure ready to save, or to draw into a larger one. Every
// figure function of the package returns one, or an error before anything
// is drawn.
type Figure struct {
	// Skipped is the number of values left out: non-finite (a diverged
	// model), missing, or beyond a clip level. The figure says so.
	Skipped int
	// Width and Height are the figure's natural size.
	Width, Height vg.Length

	// note states what is not drawn ("" if nothing); body draws the
	// figure; inner, for a landscape figure, draws it without its
	// background and note (a panel of a larger figure).
	note  string
	body  func(c draw.Canvas)
	inner func(c draw.Canvas)
}

// Draw draws the figure on c.
func (f *Figure) Draw(c draw.Canvas) { f.body(c) }

// Save draws the figure at its natural size into a PNG at path (DPI dots
// per inch), written atomically.
func (f *Figure) Save(path string) error { return f.SaveSize(path, f.Width, f.Height) }

// SaveSize is Save at another size; zero sizes take the natural one.
func (f *Figure) SaveSize(path string, w, h vg.Length) error {
	if w <= 0 || h <= 0 {
		w, h = f.Width, f.Height
	}
	c := NewCanvas(w, h)
	f.Draw(draw.New(c))
	return SaveCanvas(c, path)
}

// finite reports whether v is a number (not NaN, not infinite): every
// figure leaves out the values that are not and counts them.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// fillWhite paints c white (PNGs are otherwise transparent).
func fillWhite(c draw.Canvas) {
	c.SetColor(color.White)
	c.Fill(c.Path())
}

// titled is the preamble of a figure: a white background, the title at
// the top and, if any, a note under it (wrapped to the width); it returns
// the canvas below them.
func titled(c draw.Canvas, title, note string) draw.Canvas {
	fillWhite(c)
	top := drawTitle(c, title)
	if note != "" {
		top = hsDrawNote(top, note)
	}
	return top
}

// luminance returns the colour map through controls (of increasing
// luminance) made uniform in luminance by moreland.NewLuminance.
func luminance(name string, controls ...color.NRGBA) palette.ColorMap {
	cs := make([]color.Color, len(controls))
	for i, c := range controls {
		cs[i] = c
	}
	cm, err := moreland.NewLuminance(cs)
	if err != nil {
		panic("reports: " + name + " palette: " + err.Error()) // fixed controls of increasing luminance
	}
	return cm
}

// newFigure returns the figure that paint draws, after one trial drawing
// at its natural size (w x h) so that an error of paint (a series that
// cannot be plotted) is returned here, before anything is saved.
func newFigure(w, h vg.Length, paint func(draw.Canvas) error) (*Figure, error) {
	if err := paint(draw.New(NewCanvas(w, h))); err != nil {
		return nil, err
	}
	return &Figure{Width: w, Height: h, body: func(c draw.Canvas) { _ = paint(c) }}, nil
}

package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/landscape"
)

// LandscapeGrid is a 2-D landscape's values as a plotter.GridXYZ, so that
// gonum's HeatMap and Contour can draw it. Columns are x, rows y (Dims
// returns (nx, ny)); Values are by point index (landscape.Grid), NaN where
// nothing is to be drawn.
type LandscapeGrid struct {
	Grid   landscape.Grid
	Values []float64
}

// NewLandscapeGrid returns quantity q of a 2-D result as a grid, with NaN
// for missing and non-finite points.
func NewLandscapeGrid(r *landscape.Result, q landscape.Quantity) (*LandscapeGrid, error) {
	if r == nil {
		return nil, errors.New("reports: landscape: no result")
	}
	if !r.Spec.Grid.Is2D() {
		return nil, errors.New("reports: landscape: the result is 1-D; draw it with LandscapeCurves")
	}
	if _, err := landscape.ParseQuantity(string(q)); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	z := r.Values(q)
	for i, v := range z {
		if math.IsInf(v, 0) {
			z[i] = math.NaN()
		}
	}
	return &LandscapeGrid{Grid: r.Spec.Grid, Values: z}, nil
}

// Dims returns the number of columns (x values) and rows (y values).
func (g *LandscapeGrid) Dims() (c, r int) { return g.Grid.X.N, g.Grid.Rows() }

// Z returns the value at column c, row r.
func (g *LandscapeGrid) Z(c, r int) float64 { return g.Values[g.Grid.Index(c, r)] }

// X returns the x coordinate of column c.
func (g *LandscapeGrid) X(c int) float64 { return g.Grid.X.Coord(c) }

// Y returns the y coordinate of row r.
func (g *LandscapeGrid) Y(r int) float64 { return g.Grid.Y.Coord(r) }

// LandscapeOptions control landscape figures. The zero value draws the
// paper's loss, NLL + wd*l2, over its own range.
type LandscapeOptions struct {
	// Quantity is what to draw (default landscape.QuantityLoss).
	Quantity landscape.Quantity
	// Relative draws the value minus its least finite value, as the paper
	// plots "loss minus its minimum".
	Relative bool
	// Clip, when positive, leaves out the points whose value (after
	// Relative) lies above it, as the paper's code sets zs[zs > 42] to
	// NaN; they are counted in the figure's note. It also caps the
	// colour and height range.
	Clip float64
	// Levels is the number of contour levels aimed at (default 10); the
	// levels are round numbers, so the count may differ by a few.
	Levels int
	// Range fixes the colour (and height) range; the zero value uses the
	// data's. Side-by-side figures share one range.
	Range [2]float64
	// Title replaces the default title.
	Title string
	// Elevation and Azimuth are the 3-D view's angles in degrees
	// (defaults 28 and 35 when zero): the eye's height above the x-y
	// plane, and its turn about the vertical axis from the -y side.
	Elevation, Azimuth float64
	// ColorMap replaces the default LandscapePalette.
	ColorMap palette.ColorMap
}

// LandscapePalette returns the default colour map of landscape figures: a
// plasma-like map from deep violet through magenta and orange to yellow,
// made uniform in luminance by moreland.NewLuminance.
func LandscapePalette() palette.ColorMap {
	return luminance("landscape", color.NRGBA{R: 13, G: 8, B: 135, A: 255}, color.NRGBA{R: 126, G: 3, B: 168, A: 255},
		color.NRGBA{R: 204, G: 71, B: 120, A: 255}, color.NRGBA{R: 248, G: 149, B: 64, A: 255},
		color.NRGBA{R: 240, G: 249, B: 33, A: 255})
}

// landscapeFigure is a landscape figure: one plot with its colour bar, a
// 3-D view, curves, or several panels, with the note of what is not drawn
// at the bottom.
func landscapeFigure(skipped int, w, h vg.Length, note string, body func(c draw.Canvas)) *Figure {
	return &Figure{Skipped: skipped, Width: w, Height: h, note: note, inner: body, body: func(c draw.Canvas) {
		fillWhite(c)
		body(lsDrawNote(c, note))
	}}
}

// landscapeField is one landscape prepared for drawing.
type landscapeField struct {
	grid     landscape.Grid
	z        []float64 // by point index; NaN is a gap
	lo, hi   float64   // the colour and height range
	diverged int       // non-finite metrics
	missing  int       // no result
	clipped  int       // above opt.Clip
	clip     float64
	zLabel   string // names the value, with units
	title    string
}

// notDrawn is the number of points left out.
func (f *landscapeField) notDrawn() int { return f.diverged + f.missing + f.clipped }

// note states what is not drawn, or "" when everything is.
func (f *landscapeField) note() string {
	var parts []string
	if f.diverged > 0 {
		parts = append(parts, lsPlural(f.diverged, "diverged point")+" (NaN/Inf)")
	}
	if f.missing > 0 {
		parts = append(parts, lsPlural(f.missing, "missing point"))
	}
	if f.clipped > 0 {
		parts = append(parts, lsPlural(f.clipped, "point")+" above "+strconv.FormatFloat(f.clip, 'g', 4, 64))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + " not drawn"
}

func lsPlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// lsQuantityLabel names quantity q of r for an axis.
func lsQuantityLabel(r *landscape.Result, q landscape.Quantity, relative bool) string {
	var s string
	switch q {
	case landscape.QuantityLoss:
		s = "loss = NLL + " + strconv.FormatFloat(r.Spec.WeightDecay/2, 'g', -1, 64) + "·Σ‖w‖²"
		if relative {
			s = "loss − min (NLL + " + strconv.FormatFloat(r.Spec.WeightDecay/2, 'g', -1, 64) + "·Σ‖w‖²)"
		}
	case landscape.QuantityLossOfficial:
		s = "official loss = NLL + " + strconv.FormatFloat(r.Spec.WeightDecay, 'g', -1, 64) + "·l2"
		if relative {
			s = "official loss − min (NLL + " + strconv.FormatFloat(r.Spec.WeightDecay, 'g', -1, 64) + "·l2)"
		}
	case landscape.QuantityNLL:
		s = "NLL (nats)"
		if relative {
			s = "NLL − min (nats)"
		}
	case landscape.QuantityAcc:
		s = "accuracy (%)"
		if relative {
			s = "accuracy − min (pp)"
		}
	case landscape.QuantityL1:
		s = "l1 = Σ|w|"
	case landscape.QuantityL2:
		s = "l2 = Σ‖W‖"
	case landscape.QuantitySqNorm:
		s = "Σ‖W‖²"
	default:
		s = string(q)
	}
	if relative && (q == landscape.QuantityL1 || q == landscape.QuantityL2 || q == landscape.QuantitySqNorm) {
		s += " − min"
	}
	return s
}

// lsDefaultTitle is a figure's title when the options give none.
func lsDefaultTitle(r *landscape.Result, q landscape.Quantity) string {
	switch q {
	case landscape.QuantityLoss:
		return "Loss landscape: NLL + " + strconv.FormatFloat(r.Spec.WeightDecay/2, 'g', -1, 64) + "·Σ‖w‖²"
	case landscape.QuantityLossOfficial:
		return "Loss landscape (official): NLL + " + strconv.FormatFloat(r.Spec.WeightDecay, 'g', -1, 64) + "·l2"
	case landscape.QuantityNLL:
		return "Loss landscape: NLL"
	case landscape.QuantityAcc:
		return "Accuracy landscape"
	}
	return "Landscape of " + string(q)
}

// lsPrepareField extracts, shifts and clips the values of a 2-D result.
func lsPrepareField(r *landscape.Result, opt LandscapeOptions) (*landscapeField, error) {
	q := opt.Quantity
	if q == "" {
		q = landscape.QuantityLoss
	}
	g, err := NewLandscapeGrid(r, q)
	if err != nil {
		return nil, err
	}
	if opt.Clip < 0 || math.IsNaN(opt.Clip) || math.IsInf(opt.Clip, 0) {
		return nil, fmt.Errorf("reports: landscape: clip level %g: want a positive number, or 0 for none", opt.Clip)
	}
	f := &landscapeField{grid: g.Grid, z: g.Values, clip: opt.Clip,
		zLabel: lsQuantityLabel(r, q, opt.Relative), title: opt.Title}
	if f.title == "" {
		f.title = lsDefaultTitle(r, q)
	}
	// A point is diverged here when the quantity drawn is not finite
	// (NewLandscapeGrid made it NaN); missing points are NaN too.
	f.missing = g.Grid.Len() - len(r.Points)
	for _, v := range f.z {
		if math.IsNaN(v) {
			f.diverged++
		}
	}
	f.diverged -= f.missing
	if q == landscape.QuantityAcc {
		for i := range f.z {
			f.z[i] *= 100
		}
	}
	lo, _, ok := lsFiniteRange(f.z)
	if !ok {
		return nil, fmt.Errorf("reports: landscape: all %d points are diverged or missing: nothing to draw", g.Grid.Len())
	}
	if opt.Relative {
		for i := range f.z {
			f.z[i] -= lo
		}
	}
	if opt.Clip > 0 {
		for i, v := range f.z {
			if v > opt.Clip {
				f.z[i] = math.NaN()
				f.clipped++
			}
		}
	}
	lo, hi, ok := lsFiniteRange(f.z)
	if !ok {
		return nil, fmt.Errorf("reports: landscape: every point lies above the clip level %g", opt.Clip)
	}
	if opt.Clip > 0 && f.clipped > 0 {
		hi = opt.Clip
	}
	if opt.Range != [2]float64{} {
		lo, hi = opt.Range[0], opt.Range[1]
		if !(lo < hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return nil, fmt.Errorf("reports: landscape: range [%g, %g]: want finite min below max", lo, hi)
		}
	}
	f.lo, f.hi = lsWiden(lo, hi)
	return f, nil
}

// lsFiniteRange returns the least and greatest finite values of z.
func lsFiniteRange(z []float64) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range z {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi, lo <= hi
}

// lsWiden gives a flat field a range of non-zero width.
func lsWiden(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	d := math.Max(math.Abs(lo)*0.05, 0.5)
	return lo - d, hi + d
}

// lsColorAt returns the colour of v on a map spanning [lo, hi], clamping v.
func lsColorAt(cm palette.ColorMap, lo, hi, v float64) color.Color {
	cm.SetMin(lo)
	cm.SetMax(hi)
	v = math.Max(lo, math.Min(hi, v))
	c, err := cm.At(v)
	if err != nil {
		return color.Black // cannot happen for a clamped value
	}
	return c
}

// lsNiceLevels returns round levels l0 < l1 < ... covering [lo, hi] with
// about n steps, and their step: 1, 2, 2.5 or 5 times a power of ten,
// whichever is nearest (in ratio) to (hi-lo)/n.
func lsNiceLevels(lo, hi float64, n int) ([]float64, float64) {
	if n < 2 {
		n = 2
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 2.5, 5, 10} {
		if math.Abs(math.Log(m*mag/raw)) < math.Abs(math.Log(step/raw)) {
			step = m * mag
		}
	}
	k0 := math.Floor(lo/step + 1e-9)
	k1 := math.Ceil(hi/step - 1e-9)
	var lv []float64
	for k := k0; k <= k1; k++ {
		lv = append(lv, k*step)
	}
	if len(lv) < 2 {
		lv = append(lv, lv[0]+step)
	}
	return lv, step
}

// lsLevelLabel formats a level with as many decimals as its step needs.
func lsLevelLabel(v, step float64) string {
	dec := 0
	for s := step; dec < 8 && math.Abs(s-math.Round(s)) > 1e-9*math.Max(1, math.Abs(s)); s *= 10 {
		dec++
	}
	if math.Abs(v) < step*1e-9 {
		v = 0
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// Text and line styles of landscape figures.
var (
	landscapeInk  = color.Gray{Y: 30}
	landscapeNote = color.Gray{Y: 90}
)

func lsText(size vg.Length, xa text.XAlignment, ya text.YAlignment) text.Style {
	return text.Style{Color: landscapeInk, Font: font.From(plot.DefaultFont, size),
		XAlign: xa, YAlign: ya, Handler: plot.DefaultTextHandler}
}

// lsDrawNote writes a figure's note in the bottom-left corner of c and
// returns c without the strip it used.
func lsDrawNote(c draw.Canvas, note string) draw.Canvas {
	if note == "" {
		return c
	}
	sty := lsText(9, draw.XLeft, draw.YBottom)
	sty.Color = landscapeNote
	sty.Font.Style = xfont.StyleItalic
	h := sty.Height(note) + vg.Points(4)
	c.FillText(sty, vg.Point{X: c.Min.X + vg.Points(6), Y: c.Min.Y + vg.Points(3)}, note)
	c.Min.Y += h
	return c
}

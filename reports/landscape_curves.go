package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/landscape"
)

// LandscapeSeries is one 1-D landscape (a line through weight space) in a
// curves figure.
type LandscapeSeries struct {
	// Name labels the curve in the legend, e.g. the model.
	Name   string
	Result *landscape.Result
}

// LandscapeCurves draws 1-D landscapes as curves against the coordinate
// alpha: opt.Quantity (default the loss NLL + wd*l2, with opt.Relative and
// opt.Clip as for maps) in the upper panel and accuracy in the lower one,
// one colour per series. Diverged, missing and clipped points break the
// lines (gonum's Line takes no NaN) and are counted in a note; an isolated
// finite point is drawn as a dot. Nothing finite to draw is an error.
func LandscapeCurves(series []LandscapeSeries, opt LandscapeOptions) (*Figure, error) {
	if len(series) == 0 {
		return nil, errors.New("reports: landscape: no curves to draw")
	}
	q := opt.Quantity
	if q == "" {
		q = landscape.QuantityLoss
	}
	if _, err := landscape.ParseQuantity(string(q)); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	if opt.Clip < 0 || math.IsNaN(opt.Clip) || math.IsInf(opt.Clip, 0) {
		return nil, fmt.Errorf("reports: landscape: clip level %g: want a positive number, or 0 for none", opt.Clip)
	}
	first := series[0].Result
	if first == nil {
		return nil, errors.New("reports: landscape: series 1 has no result")
	}
	c := &lsCurves{q: q, opt: opt, f: &landscapeField{clip: opt.Clip}}
	c.panels(first)
	drawn := 0
	for i, s := range series {
		n, err := c.add(i, s)
		if err != nil {
			return nil, err
		}
		drawn += n
	}
	if drawn == 0 {
		return nil, errors.New("reports: landscape: every point is diverged or missing: nothing to draw")
	}
	return landscapeFigure(c.f.notDrawn(), 6*vg.Inch, 5.2*vg.Inch, c.f.note(), c.draw), nil
}

// lsCurves is a curves figure being made: the quantity's panel on top,
// accuracy below, the legend, and what is not drawn.
type lsCurves struct {
	q           landscape.Quantity
	opt         LandscapeOptions
	f           *landscapeField
	top, bottom *plot.Plot
	leg         plot.Legend
	named       bool
}

// panels makes the two panels, titled and labelled after the first
// result.
func (c *lsCurves) panels(first *landscape.Result) {
	c.top, c.bottom = plot.New(), plot.New()
	for _, p := range []*plot.Plot{c.top, c.bottom} {
		grid := plotter.NewGrid()
		grid.Vertical.Color = color.Gray{Y: 225}
		grid.Horizontal.Color = color.Gray{Y: 225}
		p.Add(grid)
		p.X.Tick.Marker = lsNiceTicker{}
		p.Y.Tick.Marker = lsNiceTicker{}
	}
	c.top.Title.Text = c.opt.Title
	if c.top.Title.Text == "" {
		c.top.Title.Text = lsDefaultTitle(first, c.q) + " along a line"
	}
	c.top.Title.Padding = vg.Points(6)
	c.top.Y.Label.Text = lsQuantityLabel(first, c.q, c.opt.Relative)
	c.bottom.Y.Label.Text = "accuracy (%)"
	c.bottom.X.Label.Text = "α (along the direction)"
	if first.Spec.Directions.Kind == "between" {
		c.bottom.X.Label.Text = "α (0: first checkpoint, 1: second)"
	}
	c.leg = plot.NewLegend()
	c.leg.Top, c.leg.Left = true, true
	c.leg.TextStyle.Font.Size = vg.Points(10)
	c.leg.ThumbnailWidth = vg.Points(28)
}

// add adds series i to both panels and returns the number of finite
// points drawn.
func (c *lsCurves) add(i int, s LandscapeSeries) (int, error) {
	r, f := s.Result, c.f
	if r == nil {
		return 0, fmt.Errorf("reports: landscape: series %d (%q) has no result", i+1, s.Name)
	}
	if r.Spec.Grid.Is2D() {
		return 0, fmt.Errorf("reports: landscape: series %d (%q) is a 2-D landscape; draw it as a map or surface", i+1, s.Name)
	}
	c.named = c.named || s.Name != ""
	missing := r.Spec.Grid.Len() - len(r.Points)
	f.missing += missing
	xs := r.Spec.Grid.X.Coords()
	ys := r.Values(c.q)
	acc := r.Values(landscape.QuantityAcc)
	for k := range acc {
		acc[k] *= 100
	}
	if c.q == landscape.QuantityAcc {
		copy(ys, acc)
	}
	// Diverged: present, but not finite in either panel.
	for k := range ys {
		if !finite(ys[k]) || !finite(acc[k]) {
			f.diverged++
		}
	}
	f.diverged -= missing
	if lo, _, ok := lsFiniteRange(ys); ok && c.opt.Relative {
		for k := range ys {
			ys[k] -= lo
		}
	}
	if c.opt.Clip > 0 {
		for k, v := range ys {
			if v > c.opt.Clip {
				ys[k] = math.NaN()
				acc[k] = math.NaN()
				f.clipped++
			}
		}
	}
	col := lsSeriesColor(i)
	n1, leg1 := lsAddBroken(c.top, xs, ys, col, i)
	n2, _ := lsAddBroken(c.bottom, xs, acc, col, i)
	if leg1 != nil && s.Name != "" {
		c.leg.Add(s.Name, lsLegendThumb(leg1, i))
	}
	return n1 + n2, nil
}

// draw draws the two panels, aligned, and the legend, when the series are
// named, at the top centre of the upper panel on a pale box.
func (c *lsCurves) draw(dc draw.Canvas) {
	dc = draw.Crop(dc, vg.Points(2), -vg.Points(10), vg.Points(2), -vg.Points(4))
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(10)}
	cs := plot.Align([][]*plot.Plot{{c.top}, {c.bottom}}, tiles, dc)
	c.top.Draw(cs[0][0])
	c.bottom.Draw(cs[1][0])
	if !c.named {
		return
	}
	data := c.top.DataCanvas(cs[0][0])
	size := c.leg.Rectangle(data).Size()
	pad := vg.Points(4)
	lc := data
	lc.Min.X = (data.Min.X+data.Max.X)/2 - size.X/2
	lc.Max.Y = data.Max.Y - pad
	box := []vg.Point{{X: lc.Min.X - pad, Y: lc.Max.Y - size.Y - pad}, {X: lc.Min.X + size.X + pad, Y: lc.Max.Y - size.Y - pad},
		{X: lc.Min.X + size.X + pad, Y: lc.Max.Y + pad/2}, {X: lc.Min.X - pad, Y: lc.Max.Y + pad/2}}
	dc.FillPolygon(color.NRGBA{R: 255, G: 255, B: 255, A: 215}, box)
	c.leg.Draw(lc)
}

// lsAddBroken adds the finite runs of (xs, ys) to p as lines, isolated
// finite points as dots, and marks every point when there are few. It
// returns the number of finite points and a line style for the legend.
func lsAddBroken(p *plot.Plot, xs, ys []float64, col color.Color, i int) (int, plot.Thumbnailer) {
	lineSty := draw.LineStyle{Color: col, Width: vg.Points(1.5), Dashes: plotutil.Dashes(i)}
	glyph := draw.GlyphStyle{Color: col, Radius: vg.Points(2), Shape: plotutil.Shape(i)}
	var legend plot.Thumbnailer
	finite := 0
	var run plotter.XYs
	flush := func() {
		switch {
		case len(run) >= 2:
			l, err := plotter.NewLine(run)
			if err != nil {
				panic("reports: " + err.Error()) // runs hold only finite values
			}
			l.LineStyle = lineSty
			p.Add(l)
			if legend == nil {
				legend = l
			}
		case len(run) == 1:
			s, err := plotter.NewScatter(run)
			if err != nil {
				panic("reports: " + err.Error())
			}
			s.GlyphStyle = glyph
			s.Radius = vg.Points(2.5)
			p.Add(s)
		}
		run = nil
	}
	var all plotter.XYs
	for k, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			flush()
			continue
		}
		finite++
		run = append(run, plotter.XY{X: xs[k], Y: y})
		all = append(all, plotter.XY{X: xs[k], Y: y})
	}
	flush()
	if len(all) > 0 && len(xs) <= 41 {
		s, err := plotter.NewScatter(all)
		if err == nil {
			s.GlyphStyle = glyph
			p.Add(s)
		}
	}
	return finite, legend
}

// lsSeriesColors are the curves' colours, distinguishable with the common
// colour-vision deficiencies (Okabe & Ito's set).
var lsSeriesColors = []color.Color{
	color.NRGBA{R: 0, G: 114, B: 178, A: 255},   // blue
	color.NRGBA{R: 213, G: 94, B: 0, A: 255},    // vermilion
	color.NRGBA{R: 0, G: 158, B: 115, A: 255},   // bluish green
	color.NRGBA{R: 204, G: 121, B: 167, A: 255}, // reddish purple
	color.NRGBA{R: 230, G: 159, B: 0, A: 255},   // orange
	color.NRGBA{R: 86, G: 180, B: 233, A: 255},  // sky blue
	color.NRGBA{A: 255},                         // black
}

func lsSeriesColor(i int) color.Color { return lsSeriesColors[i%len(lsSeriesColors)] }

// lsLegendThumb is the legend's sample of series i: its line with its
// marker.
func lsLegendThumb(l plot.Thumbnailer, i int) plot.Thumbnailer {
	return lsThumbs{l, lsMarkerThumb{i}}
}

type lsThumbs []plot.Thumbnailer

func (t lsThumbs) Thumbnail(c *draw.Canvas) {
	for _, th := range t {
		if th != nil {
			th.Thumbnail(c)
		}
	}
}

// lsMarkerThumb draws series i's marker in the middle of a legend entry.
type lsMarkerThumb struct{ i int }

func (m lsMarkerThumb) Thumbnail(c *draw.Canvas) {
	g := draw.GlyphStyle{Color: lsSeriesColor(m.i), Radius: vg.Points(2.5), Shape: plotutil.Shape(m.i)}
	c.DrawGlyphNoClip(g, c.Center())
}

// lsNiceTicker labels round values (lsNiceLevels) with minor ticks between.
type lsNiceTicker struct{}

// Ticks returns the ticks for [lo, hi].
func (lsNiceTicker) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo-0.5, hi+0.5)
	}
	lv, step := lsNiceLevels(lo, hi, 5)
	var ts []plot.Tick
	for k, v := range lv {
		if v >= lo-1e-9*step && v <= hi+1e-9*step {
			ts = append(ts, plot.Tick{Value: v, Label: lsLevelLabel(v, step)})
		}
		if k+1 < len(lv) {
			if m := v + step/2; m >= lo && m <= hi {
				ts = append(ts, plot.Tick{Value: m})
			}
		}
	}
	return ts
}

package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LesionPoint is one lesioned block of a model.
type LesionPoint struct {
	Name string
	// Kind is the layer kind's short name ("conv", "down", "msa", "mlp").
	Kind  string
	Depth float64
	// Identity is false for a block whose shortcut is a projection
	// (drawn hollow).
	Identity bool
	// AccuracyDrop (a fraction) and NLLIncrease, with standard errors.
	AccuracyDrop, AccuracyDropSE float64
	NLLIncrease, NLLIncreaseSE   float64
}

// LesionModel is one model's lesion study as the lesion figure draws it.
type LesionModel struct {
	Name string
	// Layers are every layer but the head (Kind and Depth are read), for
	// the shading of MSA (grey) and down-sampling (blue) blocks.
	Layers []FourierLayer
	Points []LesionPoint
	// Intact is the unlesioned model's accuracy (a fraction).
	Intact float64
}

// lesionMarker gives each kind of block its marker: filled, or its
// outline for a block with a projection shortcut.
func lesionMarker(kind string, hollow bool) draw.GlyphDrawer {
	switch {
	case kind == "msa" && hollow:
		return draw.TriangleGlyph{}
	case kind == "msa":
		return draw.PyramidGlyph{}
	case kind == "mlp":
		return diamondGlyph{hollow: hollow}
	case kind == "down" && hollow:
		return draw.SquareGlyph{}
	case kind == "down":
		return draw.BoxGlyph{}
	case hollow:
		return draw.RingGlyph{}
	}
	return draw.CircleGlyph{}
}

// diamondGlyph is a square standing on a corner, filled or outlined.
type diamondGlyph struct{ hollow bool }

// DrawGlyph implements draw.GlyphDrawer.
func (d diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.25
	pts := []vg.Point{{X: pt.X, Y: pt.Y + r}, {X: pt.X + r, Y: pt.Y}, {X: pt.X, Y: pt.Y - r}, {X: pt.X - r, Y: pt.Y}}
	if d.hollow {
		c.StrokeLines(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.9)}, append(pts, pts[0]))
		return
	}
	c.FillPolygon(sty.Color, pts)
}

// lesionXY is one panel's points with error bars.
type lesionXY struct {
	pts   []LesionPoint
	value func(LesionPoint) (float64, float64)
}

func (l lesionXY) Len() int { return len(l.pts) }
func (l lesionXY) XY(i int) (x, y float64) {
	v, _ := l.value(l.pts[i])
	return l.pts[i].Depth, v
}
func (l lesionXY) YError(i int) (lo, hi float64) {
	_, e := l.value(l.pts[i])
	return e, e
}

// LesionFigure draws the lesion study (paper Fig. 10b) as a PNG at path:
// one column per model, the accuracy drop (percentage points) above and
// the NLL increase below, against the normalised depth of the removed
// block, with ±1 standard-error bars, MSA blocks shaded grey and
// down-sampling blocks blue as in the depth plots. Markers tell the kinds
// of block apart; hollow ones have projection shortcuts.
func LesionFigure(ms []LesionModel) (*Figure, error) {
	if len(ms) == 0 {
		return nil, errors.New("reports: lesion figure of no model")
	}
	metrics := []struct {
		label string
		value func(LesionPoint) (float64, float64)
	}{
		{"accuracy drop (pp)", func(p LesionPoint) (float64, float64) { return 100 * p.AccuracyDrop, 100 * p.AccuracyDropSE }},
		{"NLL increase", func(p LesionPoint) (float64, float64) { return p.NLLIncrease, p.NLLIncreaseSE }},
	}
	panelW, panelH := 3.3*vg.Inch, 2.6*vg.Inch
	legendH, titleH := vg.Points(30), vg.Points(26)
	w := panelW * vg.Length(len(ms))
	h := titleH + panelH*vg.Length(len(metrics)) + legendH
	paint := func(c draw.Canvas) error {
		c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
		body := drawTitle(c, "Lesion study: one residual branch removed at a time (Fig. 10b)")
		kinds := map[string]bool{}
		hollow := false
		for col, m := range ms {
			for row, met := range metrics {
				title := ""
				if row == 0 {
					title = fmt.Sprintf("%s (intact accuracy %.2f%%)", m.Name, 100*m.Intact)
				}
				xl := ""
				if row == len(metrics)-1 {
					xl = "normalised depth of the removed block"
				}
				p := frNewPlot(title, xl, met.label)
				p.Title.TextStyle.Font.Size = vg.Points(10.5)
				p.X.Min, p.X.Max = -0.03, 1.03
				p.X.Tick.Marker = frTicks{Target: 5}
				p.Y.Tick.Marker = frTicks{Target: 5}
				p.Add(frSpansOf(m.Layers))
				zero, _ := plotter.NewLine(plotter.XYs{{X: -0.03, Y: 0}, {X: 1.03, Y: 0}})
				zero.Color, zero.Width = color.Gray{Y: 90}, vg.Points(0.6)
				p.Add(zero)
				lo, hi := 0.0, 0.0
				var line plotter.XYs
				for _, pt := range m.Points {
					v, e := met.value(pt)
					if !finite(v) {
						continue
					}
					if !finite(e) {
						e = 0
					}
					lo, hi = math.Min(lo, v-e), math.Max(hi, v+e)
					line = append(line, plotter.XY{X: pt.Depth, Y: v})
				}
				if len(line) > 1 {
					l, err := plotter.NewLine(line)
					if err != nil {
						return fmt.Errorf("reports: lesion figure: %w", err)
					}
					l.Color, l.Width = color.Gray{Y: 150}, vg.Points(0.8)
					p.Add(l)
				}
				for _, pt := range m.Points {
					v, _ := met.value(pt)
					if !finite(v) {
						continue
					}
					one := lesionXY{pts: []LesionPoint{pt}, value: met.value}
					eb, err := plotter.NewYErrorBars(one)
					if err != nil {
						return fmt.Errorf("reports: lesion figure: %w", err)
					}
					eb.Color = frModelColor(col)
					p.Add(eb)
					sc, err := plotter.NewScatter(one)
					if err != nil {
						return fmt.Errorf("reports: lesion figure: %w", err)
					}
					sc.GlyphStyle = draw.GlyphStyle{Color: frModelColor(col), Radius: vg.Points(3.2), Shape: lesionMarker(pt.Kind, !pt.Identity)}
					hollow = hollow || !pt.Identity
					p.Add(sc)
					kinds[pt.Kind] = true
				}
				pad := 0.08 * math.Max(hi-lo, 1e-6)
				p.Y.Min, p.Y.Max = lo-pad, hi+pad
				pc := body
				pc.Min.X = body.Min.X + panelW*vg.Length(col)
				pc.Max.X = pc.Min.X + panelW
				pc.Max.Y = body.Max.Y - panelH*vg.Length(row)
				pc.Min.Y = pc.Max.Y - panelH
				p.Draw(draw.Crop(pc, vg.Points(4), -vg.Points(6), vg.Points(2), -vg.Points(2)))
			}
		}
		// The legend, in one row under the panels.
		var leg rowLegend
		mark := func(g draw.GlyphDrawer) markerThumb {
			return markerThumb{draw.GlyphStyle{Color: color.Gray{Y: 40}, Radius: vg.Points(3.2), Shape: g}}
		}
		for _, k := range []struct{ kind, label string }{{"conv", "Conv block"}, {"down", "down-sampling block"}, {"msa", "MSA block"}, {"mlp", "MLP block"}} {
			if kinds[k.kind] {
				leg = append(leg, rowEntry{k.label, mark(lesionMarker(k.kind, false))})
			}
		}
		if hollow {
			leg = append(leg, rowEntry{"hollow: projection shortcut", mark(lesionMarker("conv", true))})
		}
		leg = append(leg, rowEntry{"MSA (shaded)", frSwatch{frMSAShade}}, rowEntry{"down-sampling (shaded)", frSwatch{frDownShade}})
		lc := c
		lc.Max.Y = lc.Min.Y + legendH
		leg.draw(lc)
		return nil
	}
	return newFigure(w, h, paint)
}

// markerThumb is a legend thumbnail showing one glyph.
type markerThumb struct{ sty draw.GlyphStyle }

// Thumbnail implements plot.Thumbnailer.
func (m markerThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(m.sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2})
}

// rowLegend is a legend drawn in one row: gonum's legends stack their
// entries.
type rowLegend []rowEntry

type rowEntry struct {
	label string
	thumb plot.Thumbnailer
}

// draw centres the entries in c.
func (l rowLegend) draw(c draw.Canvas) {
	sty := frNewLegend().TextStyle
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YCenter
	thumbW, gap := vg.Points(14), vg.Points(18)
	var total vg.Length
	for _, e := range l {
		total += thumbW + vg.Points(5) + sty.Width(e.label) + gap
	}
	x := (c.Min.X+c.Max.X)/2 - (total-gap)/2
	y := (c.Min.Y + c.Max.Y) / 2
	for _, e := range l {
		tc := c
		tc.Rectangle = vg.Rectangle{Min: vg.Point{X: x, Y: y - vg.Points(5)}, Max: vg.Point{X: x + thumbW, Y: y + vg.Points(5)}}
		e.thumb.Thumbnail(&tc)
		c.FillText(sty, vg.Point{X: x + thumbW + vg.Points(5), Y: y}, e.label)
		x += thumbW + vg.Points(5) + sty.Width(e.label) + gap
	}
}

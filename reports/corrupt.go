package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CorruptionCurves is one model's accuracy on corrupted images.
type CorruptionCurves struct {
	Name string
	// Clean is the accuracy on the clean images (a fraction).
	Clean float64
	// Accuracy[c][s] is the accuracy under corruption c at severity s+1.
	Accuracy [][]float64
}

// CorruptionFigure draws, as a PNG at path, each model's accuracy against
// the severity of every corruption (severity 0: the clean images), one
// panel per corruption, and a last panel with the mean over the
// corruptions (paper Fig. 12b's robustness, after ImageNet-C).
func CorruptionFigure(corruptions []string, ms []CorruptionCurves) (*Figure, error) {
	if len(corruptions) == 0 || len(ms) == 0 {
		return nil, errors.New("reports: corruption figure of no corruption or no model")
	}
	for _, m := range ms {
		if len(m.Accuracy) != len(corruptions) {
			return nil, fmt.Errorf("reports: corruption figure: %s has %d curves for %d corruptions", m.Name, len(m.Accuracy), len(corruptions))
		}
	}
	// The mean over corruptions, per severity (severities present in every
	// corruption).
	means := make([][]float64, len(ms))
	for i, m := range ms {
		n := math.MaxInt
		for _, a := range m.Accuracy {
			n = min(n, len(a))
		}
		for s := range n {
			var v float64
			for _, a := range m.Accuracy {
				v += a[s] / float64(len(m.Accuracy))
			}
			means[i] = append(means[i], v)
		}
	}
	const cols = 5
	panels := len(corruptions) + 1
	rows := (panels + cols - 1) / cols
	panelW, panelH := 2.35*vg.Inch, 2.1*vg.Inch
	legendH := vg.Points(28)
	w := panelW * cols
	h := vg.Points(30) + panelH*vg.Length(rows) + legendH
	paint := func(c draw.Canvas) error {
		c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
		body := drawTitle(c, "Accuracy under common corruptions (severity 0: clean images)")
		for k := range panels {
			title := "mean over corruptions"
			if k < len(corruptions) {
				title = strings.ReplaceAll(corruptions[k], "_", " ")
			}
			xl, yl := "", ""
			if k/cols == rows-1 || k+cols >= panels {
				xl = "severity"
			}
			if k%cols == 0 {
				yl = "accuracy (%)"
			}
			p := frNewPlot(title, xl, yl)
			p.Title.TextStyle.Font.Size = vg.Points(10)
			p.X.Min, p.X.Max = -0.2, 5.2
			p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 1, Label: "1"}, {Value: 2, Label: "2"},
				{Value: 3, Label: "3"}, {Value: 4, Label: "4"}, {Value: 5, Label: "5"}})
			p.Y.Tick.Marker = frTicks{Target: 4}
			lo, hi := math.Inf(1), math.Inf(-1)
			for i, m := range ms {
				acc := means[i]
				if k < len(corruptions) {
					acc = m.Accuracy[k]
				}
				xy := plotter.XYs{{X: 0, Y: 100 * m.Clean}}
				for s, a := range acc {
					xy = append(xy, plotter.XY{X: float64(s + 1), Y: 100 * a})
				}
				for _, pt := range xy {
					lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
				}
				col := frModelColor(i)
				if _, _, err := frAddSeries(p, xsOf(xy), ysOf(xy), draw.LineStyle{Color: col, Width: vg.Points(1.4)},
					&draw.GlyphStyle{Color: col, Radius: vg.Points(2.2), Shape: frModelMarker(i)}); err != nil {
					return fmt.Errorf("reports: corruption figure: %w", err)
				}
			}
			if finite(lo) {
				pad := 0.08 * math.Max(hi-lo, 0.5)
				p.Y.Min, p.Y.Max = lo-pad, math.Min(100, hi+pad)+pad/4
			}
			pc := body
			pc.Min.X = body.Min.X + panelW*vg.Length(k%cols)
			pc.Max.X = pc.Min.X + panelW
			pc.Max.Y = body.Max.Y - panelH*vg.Length(k/cols)
			pc.Min.Y = pc.Max.Y - panelH
			p.Draw(draw.Crop(pc, vg.Points(3), -vg.Points(5), vg.Points(2), -vg.Points(2)))
		}
		var leg rowLegend
		for i, m := range ms {
			leg = append(leg, rowEntry{m.Name, lineMarkThumb{col: frModelColor(i), shape: frModelMarker(i)}})
		}
		lc := c
		lc.Max.Y = lc.Min.Y + legendH
		leg.draw(lc)
		return nil
	}
	return newFigure(w, h, paint)
}

func xsOf(xy plotter.XYs) []float64 {
	out := make([]float64, len(xy))
	for i, p := range xy {
		out[i] = p.X
	}
	return out
}

func ysOf(xy plotter.XYs) []float64 {
	out := make([]float64, len(xy))
	for i, p := range xy {
		out[i] = p.Y
	}
	return out
}

// lineMarkThumb is a legend thumbnail: a line with a marker on it.
type lineMarkThumb struct {
	col   color.Color
	shape draw.GlyphDrawer
}

// Thumbnail implements plot.Thumbnailer.
func (t lineMarkThumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(draw.LineStyle{Color: t.col, Width: vg.Points(1.4)}, c.Min.X, y, c.Max.X, y)
	c.DrawGlyph(draw.GlyphStyle{Color: t.col, Radius: vg.Points(2.2), Shape: t.shape}, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: y})
}

package reports

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// CKAAxisLayer is one layer on an axis of a CKA heat map.
type CKAAxisLayer struct {
	Name string
	// Kind is the layer kind's short name; "msa" layers are marked grey
	// and "down" layers blue along the axis, as the depth plots shade
	// them.
	Kind string
}

// CKAMap is the CKA between the layers of model A (rows, drawn bottom to
// top) and those of model B (columns, left to right), as plain data.
type CKAMap struct {
	A, B       string
	Rows, Cols []CKAAxisLayer
	// Values[i][j] is the CKA of row layer i and column layer j; NaN for
	// undefined (drawn hatched grey).
	Values [][]float64
	// Note is a line under the title: images, minibatches, estimator.
	Note string
}

// CKAHeatmap draws m as a PNG at path (paper Fig. 10a): one cell per pair
// of layers, coloured on a fixed scale from 0 to 1 (values below 0 take
// the colour of 0), the values printed in the cells when they are large
// enough, MSA and down-sampling layers marked along the axes.
func CKAHeatmap(m CKAMap) (*Figure, error) {
	nr, nc := len(m.Rows), len(m.Cols)
	if nr == 0 || nc == 0 {
		return nil, errors.New("reports: CKA heat map of no layers")
	}
	if len(m.Values) != nr {
		return nil, fmt.Errorf("reports: CKA heat map: %d rows of values for %d layers", len(m.Values), nr)
	}
	for i, row := range m.Values {
		if len(row) != nc {
			return nil, fmt.Errorf("reports: CKA heat map: row %d has %d values for %d layers", i, len(row), nc)
		}
	}
	sty := func(size float64, xa draw.XAlignment, ya draw.YAlignment) text.Style {
		return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(size)), XAlign: xa, YAlign: ya,
			Handler: &text.Plain{Fonts: font.DefaultCache}}
	}
	label := sty(8.5, draw.XRight, draw.YCenter)
	var rowW, colH vg.Length
	for _, l := range m.Rows {
		rowW = max(rowW, label.Width(l.Name))
	}
	for _, l := range m.Cols {
		colH = max(colH, label.Width(l.Name))
	}
	cell := vg.Length(math.Max(12, math.Min(44, 520/float64(max(nr, nc))))) // points
	const strip = 5                                                         // kind marks
	gridW, gridH := vg.Length(nc)*cell, vg.Length(nr)*cell
	left := vg.Points(34) + rowW + vg.Points(6+strip+3)
	bottom := vg.Points(34) + colH + vg.Points(6+strip+3)
	barW, barGap, barLabels := vg.Points(12), vg.Points(16), vg.Points(40)
	titleH := vg.Points(40)
	w := left + gridW + barGap + barW + barLabels
	h := bottom + gridH + titleH
	title := fmt.Sprintf("CKA: %s (rows) × %s (columns)", m.A, m.B)
	if m.A == m.B {
		title = fmt.Sprintf("CKA between the layers of %s", m.A)
	}
	w = max(w, sty(12, draw.XCenter, draw.YTop).Width(title)+vg.Points(20), sty(9, draw.XCenter, draw.YTop).Width(m.Note)+vg.Points(20))
	paint := func(c draw.Canvas) error {
		c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
		c.FillText(sty(12, draw.XCenter, draw.YTop), vg.Point{X: w / 2, Y: h - vg.Points(6)}, title)
		if m.Note != "" {
			c.FillText(sty(9, draw.XCenter, draw.YTop), vg.Point{X: w / 2, Y: h - vg.Points(22)}, m.Note)
		}
		cm := DepthPalette() // dark purple (0) to yellow-green (1), uniform in luminance
		colorOf := func(v float64) color.Color {
			c, err := cm.At(math.Min(1, math.Max(0, v)))
			if err != nil {
				return color.Gray{Y: 128}
			}
			return c
		}
		// The cells, as a raster of one block of pixels per cell at the
		// device's resolution (vector rectangles would leave hairline seams,
		// and a coarser raster is blurred when scaled up).
		k := max(4, int(math.Ceil(cell.Dots(DPI))))
		undefined := false
		img := image.NewRGBA(image.Rect(0, 0, nc*k, nr*k))
		for i := range nr {
			for j := range nc {
				v := m.Values[i][j]
				for y := range k {
					for x := range k {
						var col color.Color
						switch {
						case !math.IsNaN(v):
							col = colorOf(v)
						case (x+y)/(k/5+1)%2 == 0: // hatched: undefined
							col = color.Gray{Y: 170}
							undefined = true
						default:
							col = color.Gray{Y: 225}
						}
						img.Set(j*k+x, (nr-1-i)*k+y, col)
					}
				}
			}
		}
		x0, y0 := left, bottom
		c.DrawImage(vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x0 + gridW, Y: y0 + gridH}}, img)
		if cell >= 22 {
			for i := range nr {
				for j := range nc {
					v := m.Values[i][j]
					if math.IsNaN(v) {
						continue
					}
					ts := sty(6.5, draw.XCenter, draw.YCenter)
					if v < 0.55 { // dark cells: white text
						ts.Color = color.White
					}
					c.FillText(ts, vg.Point{X: x0 + (vg.Length(j)+0.5)*cell, Y: y0 + (vg.Length(i)+0.5)*cell}, fmt.Sprintf("%.2f", v))
				}
			}
		}
		frame := draw.LineStyle{Color: color.Gray{Y: 60}, Width: vg.Points(0.6)}
		c.StrokeLines(frame, []vg.Point{{X: x0, Y: y0}, {X: x0 + gridW, Y: y0}, {X: x0 + gridW, Y: y0 + gridH}, {X: x0, Y: y0 + gridH}, {X: x0, Y: y0}})
		kindColor := func(kind string) color.Color {
			switch kind {
			case "msa":
				return color.NRGBA{R: 110, G: 110, B: 110, A: 255}
			case "down":
				return color.NRGBA{R: 86, G: 180, B: 233, A: 255}
			}
			return nil
		}
		rect := func(a, b vg.Point, col color.Color) {
			c.FillPolygon(col, []vg.Point{a, {X: b.X, Y: a.Y}, b, {X: a.X, Y: b.Y}})
		}
		for i, l := range m.Rows {
			yc := y0 + (vg.Length(i)+0.5)*cell
			if kc := kindColor(l.Kind); kc != nil {
				rect(vg.Point{X: x0 - vg.Points(3+strip), Y: y0 + vg.Length(i)*cell + 0.5}, vg.Point{X: x0 - vg.Points(3), Y: y0 + vg.Length(i+1)*cell - 0.5}, kc)
			}
			c.FillText(label, vg.Point{X: x0 - vg.Points(6+strip), Y: yc}, l.Name)
		}
		colLabel := label
		colLabel.Rotation = math.Pi / 2
		for j, l := range m.Cols {
			xc := x0 + (vg.Length(j)+0.5)*cell
			if kc := kindColor(l.Kind); kc != nil {
				rect(vg.Point{X: x0 + vg.Length(j)*cell + 0.5, Y: y0 - vg.Points(3+strip)}, vg.Point{X: x0 + vg.Length(j+1)*cell - 0.5, Y: y0 - vg.Points(3)}, kc)
			}
			// Rotated by 90°, the text's right end sits at the point.
			c.FillText(colLabel, vg.Point{X: xc, Y: y0 - vg.Points(6+strip)}, l.Name)
		}
		axis := sty(10, draw.XCenter, draw.YTop)
		xl := m.B + " layers (MSA marked grey, down-sampling blue)"
		if undefined {
			xl += "; hatched: undefined (a constant layer)"
		}
		c.FillText(axis, vg.Point{X: x0 + gridW/2, Y: vg.Points(26)}, xl)
		ay := axis
		ay.Rotation = math.Pi / 2
		ay.YAlign = draw.YBottom
		c.FillText(ay, vg.Point{X: vg.Points(22), Y: y0 + gridH/2}, m.A+" layers")
		// The colour bar.
		bx := x0 + gridW + barGap
		const steps = 64
		for s := range steps {
			v := (float64(s) + 0.5) / steps
			rect(vg.Point{X: bx, Y: y0 + gridH*vg.Length(s)/steps}, vg.Point{X: bx + barW, Y: y0 + gridH*vg.Length(s+1)/steps + 0.3}, colorOf(v))
		}
		c.StrokeLines(frame, []vg.Point{{X: bx, Y: y0}, {X: bx + barW, Y: y0}, {X: bx + barW, Y: y0 + gridH}, {X: bx, Y: y0 + gridH}, {X: bx, Y: y0}})
		for _, v := range []float64{0, 0.2, 0.4, 0.6, 0.8, 1} {
			y := y0 + gridH*vg.Length(v)
			c.StrokeLine2(frame, bx+barW, y, bx+barW+vg.Points(3), y)
			c.FillText(sty(8.5, draw.XLeft, draw.YCenter), vg.Point{X: bx + barW + vg.Points(5), Y: y}, fmt.Sprintf("%.1f", v))
		}
		return nil
	}
	return newFigure(w, h, paint)
}

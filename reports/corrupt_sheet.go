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

// SheetRow is one row of a contact sheet: a label and its images, each
// Channels planes of Side×Side intensities in [0, 1] (row-major).
type SheetRow struct {
	Label  string
	Images [][]float64
}

// Sheet is a grid of small images with labelled rows and columns, such as
// one test image under every corruption (rows) and severity (columns).
type Sheet struct {
	Title string
	// Columns labels the columns; every row has that many images.
	Columns []string
	Rows    []SheetRow
	// Channels is 1 (grey) or 3 (RGB); Side the images' side in pixels.
	Channels, Side int
	// Notes, if any, are written under each row's label (e.g. the
	// parameters), one per row.
	Notes []string
}

// ContactSheet draws s as a PNG at path: every image scaled up with
// square pixels (no smoothing, so that noise and pixelation show as they
// are), rows and columns labelled.
func ContactSheet(s Sheet) (*Figure, error) {
	if len(s.Rows) == 0 || len(s.Columns) == 0 {
		return nil, errors.New("reports: contact sheet: no images")
	}
	if s.Channels != 1 && s.Channels != 3 || s.Side < 1 {
		return nil, fmt.Errorf("reports: contact sheet: %d channels of side %d, want 1 or 3 channels", s.Channels, s.Side)
	}
	per := s.Channels * s.Side * s.Side
	for _, r := range s.Rows {
		if len(r.Images) != len(s.Columns) {
			return nil, fmt.Errorf("reports: contact sheet: row %q has %d images for %d columns", r.Label, len(r.Images), len(s.Columns))
		}
		for _, img := range r.Images {
			if len(img) != per {
				return nil, fmt.Errorf("reports: contact sheet: row %q: an image of %d values, want %d", r.Label, len(img), per)
			}
		}
	}
	const dpi = DPI
	cell := vg.Length(s.Side*3) * vg.Inch / dpi // three device pixels per image pixel
	gap := vg.Points(4)
	sty := func(size float64, xa draw.XAlignment, ya draw.YAlignment) text.Style {
		return text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(size)), XAlign: xa, YAlign: ya,
			Handler: &text.Plain{Fonts: font.DefaultCache}}
	}
	// The label column is as wide as its widest label or note.
	labelW := vg.Points(40)
	for i, r := range s.Rows {
		labelW = max(labelW, sty(9.5, draw.XRight, draw.YCenter).Width(r.Label)+vg.Points(16))
		if i < len(s.Notes) {
			labelW = max(labelW, sty(7, draw.XRight, draw.YCenter).Width(s.Notes[i])+vg.Points(16))
		}
	}
	headerH := vg.Points(20)
	titleH := vg.Points(26)
	w := labelW + vg.Length(len(s.Columns))*(cell+gap) + gap
	w = max(w, sty(12, draw.XCenter, draw.YTop).Width(s.Title)+vg.Points(20))
	h := titleH + headerH + vg.Length(len(s.Rows))*(cell+gap) + gap
	paint := func(c draw.Canvas) error {
		c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
		c.FillText(sty(12, draw.XCenter, draw.YTop), vg.Point{X: w / 2, Y: h - vg.Points(6)}, s.Title)
		top := h - titleH
		for j, col := range s.Columns {
			x := labelW + vg.Length(j)*(cell+gap) + cell/2
			c.FillText(sty(9.5, draw.XCenter, draw.YTop), vg.Point{X: x, Y: top - vg.Points(4)}, col)
		}
		for i, row := range s.Rows {
			y0 := top - headerH - vg.Length(i+1)*(cell+gap) + gap
			c.FillText(sty(9.5, draw.XRight, draw.YCenter), vg.Point{X: labelW - vg.Points(8), Y: y0 + cell/2 + vg.Points(5)}, row.Label)
			if i < len(s.Notes) && s.Notes[i] != "" {
				c.FillText(sty(7, draw.XRight, draw.YCenter), vg.Point{X: labelW - vg.Points(8), Y: y0 + cell/2 - vg.Points(6)}, s.Notes[i])
			}
			for j, img := range row.Images {
				x0 := labelW + vg.Length(j)*(cell+gap)
				c.DrawImage(vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x0 + cell, Y: y0 + cell}}, toImage(img, s.Channels, s.Side))
			}
		}
		return nil
	}
	return newFigure(w, h, paint)
}

// toImage turns planes of intensities into an image scaled 3× with
// nearest-neighbour pixels (vgimg would otherwise smooth a small image).
func toImage(v []float64, channels, side int) image.Image {
	const k = 3
	img := image.NewRGBA(image.Rect(0, 0, side*k, side*k))
	b := func(x float64) uint8 { return uint8(math.Round(255 * math.Min(1, math.Max(0, x)))) }
	n := side * side
	for y := range side * k {
		for x := range side * k {
			p := (y/k)*side + x/k
			var col color.RGBA
			if channels == 1 {
				g := b(v[p])
				col = color.RGBA{R: g, G: g, B: g, A: 255}
			} else {
				col = color.RGBA{R: b(v[p]), G: b(v[n+p]), B: b(v[2*n+p]), A: 255}
			}
			img.SetRGBA(x, y, col)
		}
	}
	return img
}

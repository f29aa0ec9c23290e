package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/landscape"
)

// LandscapeKind names a kind of 2-D landscape figure.
type LandscapeKind string

// The kinds of 2-D landscape figures.
const (
	LandscapeKindHeatMap LandscapeKind = "heatmap"
	LandscapeKindContour LandscapeKind = "contour"
	LandscapeKindSurface LandscapeKind = "surface"
)

// ParseLandscapeKind reads a figure kind: heatmap (or heat), contour or
// surface (or 3d).
func ParseLandscapeKind(s string) (LandscapeKind, error) {
	switch strings.ToLower(s) {
	case "heatmap", "heat":
		return LandscapeKindHeatMap, nil
	case "contour":
		return LandscapeKindContour, nil
	case "surface", "3d":
		return LandscapeKindSurface, nil
	}
	return "", fmt.Errorf("reports: unknown landscape figure %q (want heatmap, contour or surface)", s)
}

// LandscapeFigureOf draws r as a figure of the given kind.
func LandscapeFigureOf(kind LandscapeKind, r *landscape.Result, opt LandscapeOptions) (*Figure, error) {
	switch kind {
	case LandscapeKindHeatMap:
		return LandscapeHeatMap(r, opt)
	case LandscapeKindContour:
		return LandscapeContour(r, opt)
	case LandscapeKindSurface:
		return LandscapeSurface(r, opt)
	}
	return nil, fmt.Errorf("reports: unknown landscape figure %q", string(kind))
}

// LandscapePanel is one model's landscape in a side-by-side figure.
type LandscapePanel struct {
	// Title names the panel, e.g. the model and checkpoint.
	Title  string
	Result *landscape.Result
}

// LandscapeSideBySide draws several landscapes as figures of one kind in
// one figure (draw.Tiles, up to three per row), each panel titled, under
// the figure's title (opt.Title, or the quantity's). All panels share one
// colour and height range (opt.Range if set, else the union of theirs
// after Relative and Clip), so that they compare honestly. Each panel
// states its own points not drawn.
func LandscapeSideBySide(kind LandscapeKind, panels []LandscapePanel, opt LandscapeOptions) (*Figure, error) {
	if len(panels) == 0 {
		return nil, errors.New("reports: landscape: no panels to draw")
	}
	switch kind {
	case LandscapeKindHeatMap, LandscapeKindContour, LandscapeKindSurface:
	default:
		return nil, fmt.Errorf("reports: unknown landscape figure %q", string(kind))
	}
	if opt.Range == [2]float64{} {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, p := range panels {
			f, err := lsPrepareField(p.Result, opt)
			if err != nil {
				return nil, fmt.Errorf("%w (panel %d, %q)", err, i+1, p.Title)
			}
			lo, hi = math.Min(lo, f.lo), math.Max(hi, f.hi)
		}
		opt.Range = [2]float64{lo, hi}
	}
	title := opt.Title
	figs := make([]*Figure, len(panels))
	notDrawn := 0
	for i, p := range panels {
		o := opt
		o.Title = lsPanelTitle(p, i)
		fig, err := LandscapeFigureOf(kind, p.Result, o)
		if err != nil {
			return nil, fmt.Errorf("%w (panel %d, %q)", err, i+1, p.Title)
		}
		figs[i] = fig
		notDrawn += fig.Skipped
		if title == "" {
			q := opt.Quantity
			if q == "" {
				q = landscape.QuantityLoss
			}
			title = lsDefaultTitle(p.Result, q)
		}
	}
	cols := min(len(panels), 3)
	rows := (len(panels) + cols - 1) / cols
	pw, ph := figs[0].Width*0.8, figs[0].Height*0.8
	var notes []string
	for i, f := range figs {
		if f.note != "" {
			notes = append(notes, lsPanelTitle(panels[i], i)+": "+f.note)
		}
	}
	return landscapeFigure(notDrawn, vg.Length(cols)*pw, vg.Length(rows)*ph+vg.Points(30), strings.Join(notes, "; "),
		func(c draw.Canvas) {
			sty := lsText(14, draw.XCenter, draw.YTop)
			sty.Color = color.Black
			c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(6)}, title)
			tiles := draw.Tiles{Rows: rows, Cols: cols, PadTop: sty.Height(title) + vg.Points(12), PadX: vg.Points(6), PadY: vg.Points(6)}
			for i, f := range figs {
				f.inner(tiles.At(c, i%cols, i/cols))
			}
		}), nil
}

// lsPanelTitle is panel i's title, or a stand-in.
func lsPanelTitle(p LandscapePanel, i int) string {
	if p.Title != "" {
		return p.Title
	}
	return fmt.Sprintf("panel %d", i+1)
}

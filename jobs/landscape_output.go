package jobs

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/reports"
)

// write writes one checkpoint's CSV, JSON and figures into dir.
func (j *Landscape) write(res *landscape.Result, label, dir string, pv prov.Provenance) (LandscapeResult, error) {
	out := LandscapeResult{Label: label, Dir: dir, Result: res}
	csv, js := filepath.Join(dir, "landscape.csv"), filepath.Join(dir, "landscape.json")
	if err := res.SaveCSV(csv); err != nil {
		return out, err
	}
	if err := res.SaveJSON(js, pv); err != nil {
		return out, err
	}
	out.Files = []string{csv, js, filepath.Join(dir, "subset.json")}
	if !j.Figures.Plots {
		return out, nil
	}
	figs, err := j.Figures.own(res, label, dir)
	out.Files = append(out.Files, figs...)
	return out, err
}

// own renders one checkpoint's PNGs into dir.
func (f LandscapeFigures) own(r *landscape.Result, label, dir string) ([]string, error) {
	var paths []string
	save := func(fig *reports.Figure, err error, name string) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := filepath.Join(dir, name)
		if err := fig.Save(p); err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	}
	if !r.Spec.Grid.Is2D() {
		for _, qq := range quantities {
			opt := reports.LandscapeOptions{Quantity: qq.q, Title: title(label, r, qq.q) + " along a line (" + directionNote(r) + ")"}
			if strings.HasPrefix(r.Spec.Directions.Kind, "between") {
				opt.Title = title(label, r, qq.q) + " on the line between two checkpoints"
			}
			if f.ClipDrop {
				opt.Clip, opt.Relative = f.Clip, f.Clip > 0
			}
			fig, err := reports.LandscapeCurves([]reports.LandscapeSeries{{Name: label, Result: r}}, opt)
			if err := save(fig, err, "curves-"+qq.prefix+".png"); err != nil {
				return nil, err
			}
		}
		return paths, nil
	}
	for _, qq := range quantities {
		for _, k := range kinds {
			fig, err := reports.LandscapeFigureOf(k, r, f.mapOptions(qq.q, title(label, r, qq.q)+" − min"))
			if err := save(fig, err, fmt.Sprintf("%s-%s.png", qq.prefix, k)); err != nil {
				return nil, err
			}
		}
	}
	if sl := axisSlices(r); len(sl) > 0 {
		opt := reports.LandscapeOptions{Quantity: landscape.QuantityNLL, Title: label + ": NLL along the axes through the centre"}
		fig, err := reports.LandscapeCurves(sl, opt)
		if err := save(fig, err, "slices.png"); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// sideBySide renders the combined figures of several checkpoints into
// Env.Out, when asked for, and returns their paths.
func (j *Landscape) sideBySide(done []LandscapeResult) ([]string, error) {
	f := j.Figures
	if !f.SideBySide || !f.Plots || len(done) < 2 {
		return nil, nil
	}
	var paths []string
	oneD := !done[0].Spec.Grid.Is2D()
	for _, x := range done[1:] {
		if x.Spec.Grid.Is2D() != !oneD {
			return nil, fmt.Errorf("--side-by-side: the grids are not all 1-D or all 2-D")
		}
	}
	for _, qq := range quantities {
		if oneD {
			series := make([]reports.LandscapeSeries, len(done))
			for i, x := range done {
				series[i] = reports.LandscapeSeries{Name: x.Label, Result: x.Result}
			}
			opt := reports.LandscapeOptions{Quantity: qq.q, Title: sideTitle(done, qq.q)}
			if f.ClipDrop {
				opt.Clip, opt.Relative = f.Clip, f.Clip > 0
			}
			fig, err := reports.LandscapeCurves(series, opt)
			if err != nil {
				return nil, fmt.Errorf("side-by-side curves: %w", err)
			}
			p := filepath.Join(j.Out, "side-by-side-"+qq.prefix+"-curves.png")
			if err := fig.Save(p); err != nil {
				return nil, err
			}
			paths = append(paths, p)
			continue
		}
		panels := make([]reports.LandscapePanel, len(done))
		for i, x := range done {
			panels[i] = reports.LandscapePanel{Title: x.Label, Result: x.Result}
		}
		for _, k := range kinds {
			fig, err := reports.LandscapeSideBySide(k, panels, f.mapOptions(qq.q, sideTitle(done, qq.q)+" − min"))
			if err != nil {
				return nil, fmt.Errorf("side-by-side %s: %w", k, err)
			}
			p := filepath.Join(j.Out, fmt.Sprintf("side-by-side-%s-%s.png", qq.prefix, k))
			if err := fig.Save(p); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// axisSlices returns the 1-D results along the two axes of a 2-D result
// through its centre: the row y = 0 and the column x = 0, when the grid
// has them.
func axisSlices(r *landscape.Result) []reports.LandscapeSeries {
	g := r.Spec.Grid
	if !g.Is2D() {
		return nil
	}
	row, col := -1, -1
	for i := range g.Y.N {
		if g.Y.Coord(i) == 0 {
			row = i
		}
	}
	for i := range g.X.N {
		if g.X.Coord(i) == 0 {
			col = i
		}
	}
	byIndex := map[int]landscape.Point{}
	for _, p := range r.Points {
		byIndex[p.Index] = p
	}
	var out []reports.LandscapeSeries
	if row >= 0 {
		s := &landscape.Result{Spec: r.Spec}
		s.Spec.Grid = landscape.Grid{X: g.X}
		for ix := range g.X.N {
			if p, ok := byIndex[g.Index(ix, row)]; ok {
				p.Index, p.Y = ix, 0
				s.Points = append(s.Points, p)
			}
		}
		out = append(out, reports.LandscapeSeries{Name: "along x (y = 0)", Result: s})
	}
	if col >= 0 {
		s := &landscape.Result{Spec: r.Spec}
		s.Spec.Grid = landscape.Grid{X: g.Y}
		for iy := range g.Y.N {
			if p, ok := byIndex[g.Index(col, iy)]; ok {
				p.Index, p.X, p.Y = iy, p.Y, 0
				s.Points = append(s.Points, p)
			}
		}
		out = append(out, reports.LandscapeSeries{Name: "along y (x = 0)", Result: s})
	}
	return out
}

// quantities are the two plotted losses: file prefix and quantity.
var quantities = []struct {
	prefix string
	q      landscape.Quantity
}{{"nll", landscape.QuantityNLL}, {"loss", landscape.QuantityLoss}}

var kinds = []reports.LandscapeKind{reports.LandscapeKindContour, reports.LandscapeKindHeatMap, reports.LandscapeKindSurface}

// directionNote describes the directions for titles.
func directionNote(r *landscape.Result) string {
	d := r.Spec.Directions
	switch d.Kind {
	case "random":
		return fmt.Sprintf("random directions, %s-normalised, seed %d", d.Norm, d.Seed)
	case "between":
		return "line between checkpoints"
	case "between+random":
		return fmt.Sprintf("between checkpoints × random (%s, seed %d)", d.Norm, d.Seed)
	case "vector":
		return "given vectors"
	}
	return d.Kind
}

func title(label string, r *landscape.Result, q landscape.Quantity) string {
	what := "NLL"
	if q == landscape.QuantityLoss {
		what = fmt.Sprintf("NLL + %g·Σ‖w‖²", r.Spec.WeightDecay/2)
	}
	return fmt.Sprintf("%s: %s", label, what)
}

// mapOptions are the options of a 2-D figure: the value minus its minimum,
// capped at --clip (a fixed colour and height range) or with the points
// above it left out (--clip-mode drop).
func (f LandscapeFigures) mapOptions(q landscape.Quantity, title string) reports.LandscapeOptions {
	opt := reports.LandscapeOptions{Quantity: q, Relative: true, Title: title}
	switch {
	case f.Clip > 0 && f.ClipDrop:
		opt.Clip = f.Clip
	case f.Clip > 0:
		opt.Range = [2]float64{0, f.Clip}
		opt.Title += fmt.Sprintf(" (capped at %g)", f.Clip)
	}
	return opt
}

func sideTitle(done []LandscapeResult, q landscape.Quantity) string {
	if q == landscape.QuantityNLL {
		return "NLL"
	}
	wd := done[0].Spec.WeightDecay
	for _, x := range done[1:] {
		if x.Spec.WeightDecay != wd {
			return "NLL + (wd/2)·Σ‖w‖²"
		}
	}
	return fmt.Sprintf("NLL + %g·Σ‖w‖²", wd/2)
}

package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/reports"
)

func numCPU() int { return runtime.NumCPU() }

// sidecar returns a checkpoint's sidecar path, given with or without
// extension.
func sidecar(p string) string {
	return strings.TrimSuffix(strings.TrimSuffix(p, ".json"), ".safetensors") + ".json"
}

// writeOutputs writes one checkpoint's CSV, JSON, subset and figures, and
// prints its headline numbers.
func writeOutputs(o *options, res *landscape.Result, label, dir, ckpt string, indices []int, dataset string, stdout io.Writer) error {
	pv := prov.New("landscape", o.args, o.seed, o.threads)
	inputs := []string{sidecar(ckpt)}
	if o.dirFrom != "" {
		inputs = append(inputs, sidecar(o.dirFrom))
	}
	if o.eigvecs != "" {
		inputs = append(inputs, o.eigvecs)
	}
	for _, p := range inputs {
		if err := pv.AddInput(p); err != nil {
			return err
		}
	}
	if err := res.SaveCSV(filepath.Join(dir, "landscape.csv")); err != nil {
		return err
	}
	if err := res.SaveJSON(filepath.Join(dir, "landscape.json"), pv); err != nil {
		return err
	}
	if err := writeSubset(filepath.Join(dir, "subset.json"), dataset, o.split, o.subsetSeed, indices); err != nil {
		return fmt.Errorf("subset: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", label, headline(res))
	fmt.Fprintf(stdout, "wrote %s, %s, %s\n", filepath.Join(dir, "landscape.csv"), filepath.Join(dir, "landscape.json"), filepath.Join(dir, "subset.json"))
	if !o.plots {
		return nil
	}
	paths, err := figures(o, res, label, dir)
	if err != nil {
		return err
	}
	if len(paths) > 0 {
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, ", "))
	}
	return nil
}

// headline summarises a result in one line: the centre, the NLL rise along
// the axes.
func headline(r *landscape.Result) string {
	var b strings.Builder
	if strings.HasPrefix(r.Spec.Directions.Kind, "between") {
		a, okA := pointAt(r, 0, 0)
		c, okC := pointAt(r, 1, 0)
		if okA && okC {
			top := math.Inf(-1)
			for _, p := range r.Points {
				if p.Y == 0 && p.X >= 0 && p.X <= 1 && !math.IsNaN(p.NLL) {
					top = math.Max(top, p.NLL)
				}
			}
			fmt.Fprintf(&b, "--dir-from (x = 0) NLL %.4g, acc %.2f%%; checkpoint (x = 1) NLL %.4g, acc %.2f%%; highest NLL between them %.4g (barrier %.3g above the higher end)",
				a.NLL, 100*a.Acc, c.NLL, 100*c.Acc, top, top-math.Max(a.NLL, c.NLL))
			return b.String()
		}
	}
	if c, ok := pointAt(r, 0, 0); ok {
		fmt.Fprintf(&b, "centre NLL %.4g, acc %.2f%%, loss %.4g (NLL + %g·l2, l2 %.4g)", c.NLL, 100*c.Acc, r.Loss(c), r.Spec.WeightDecay, c.L2)
	} else {
		b.WriteString("the grid does not hold (0, 0)")
	}
	var rises []string
	for _, t := range []float64{0.25, 0.5, 1} {
		if v := riseAt(r, t, landscape.QuantityNLL); !math.IsNaN(v) {
			rises = append(rises, fmt.Sprintf("%.3g at %g", v, t))
		}
	}
	if len(rises) > 0 {
		fmt.Fprintf(&b, "; NLL rise along the axes %s", strings.Join(rises, ", "))
	}
	if d := r.Diverged(); d > 0 {
		fmt.Fprintf(&b, "; %d diverged points", d)
	}
	return b.String()
}

// pointAt returns the point at exactly (x, y), if the grid has it.
func pointAt(r *landscape.Result, x, y float64) (landscape.Point, bool) {
	for _, p := range r.Points {
		if p.X == x && p.Y == y {
			return p, true
		}
	}
	return landscape.Point{}, false
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
		what = fmt.Sprintf("NLL + %g·l2", r.Spec.WeightDecay)
	}
	return fmt.Sprintf("%s: %s", label, what)
}

// mapOptions are the options of a 2-D figure: the value minus its minimum,
// capped at --clip (a fixed colour and height range) or with the points
// above it left out (--clip-mode drop).
func mapOptions(o *options, q landscape.Quantity, title string) reports.LandscapeOptions {
	opt := reports.LandscapeOptions{Quantity: q, Relative: true, Title: title}
	switch {
	case o.clip > 0 && o.clipDrop:
		opt.Clip = o.clip
	case o.clip > 0:
		opt.Range = [2]float64{0, o.clip}
		opt.Title += fmt.Sprintf(" (capped at %g)", o.clip)
	}
	return opt
}

// figures renders one checkpoint's PNGs.
func figures(o *options, r *landscape.Result, label, dir string) ([]string, error) {
	var paths []string
	save := func(f *reports.LandscapeFigure, err error, name string) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := filepath.Join(dir, name)
		if err := f.Save(p, 0, 0); err != nil {
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
			if o.clipDrop {
				opt.Clip, opt.Relative = o.clip, o.clip > 0
			}
			f, err := reports.LandscapeCurves([]reports.LandscapeSeries{{Name: label, Result: r}}, opt)
			if err := save(f, err, "curves-"+qq.prefix+".png"); err != nil {
				return nil, err
			}
		}
		return paths, nil
	}
	for _, qq := range quantities {
		for _, k := range kinds {
			f, err := reports.LandscapeFigureOf(k, r, mapOptions(o, qq.q, title(label, r, qq.q)+" − min"))
			if err := save(f, err, fmt.Sprintf("%s-%s.png", qq.prefix, k)); err != nil {
				return nil, err
			}
		}
	}
	if sl := axisSlices(r); len(sl) > 0 {
		opt := reports.LandscapeOptions{Quantity: landscape.QuantityNLL, Title: label + ": NLL along the axes through the centre"}
		f, err := reports.LandscapeCurves(sl, opt)
		if err := save(f, err, "slices.png"); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// sideBySide renders the combined figures of several checkpoints.
func sideBySide(o *options, done []outcome) ([]string, error) {
	var paths []string
	oneD := !done[0].result.Spec.Grid.Is2D()
	for _, x := range done[1:] {
		if x.result.Spec.Grid.Is2D() != !oneD {
			return nil, fmt.Errorf("--side-by-side: the grids are not all 1-D or all 2-D")
		}
	}
	for _, qq := range quantities {
		if oneD {
			series := make([]reports.LandscapeSeries, len(done))
			for i, x := range done {
				series[i] = reports.LandscapeSeries{Name: x.label, Result: x.result}
			}
			opt := reports.LandscapeOptions{Quantity: qq.q, Title: sideTitle(done, qq.q)}
			if o.clipDrop {
				opt.Clip, opt.Relative = o.clip, o.clip > 0
			}
			f, err := reports.LandscapeCurves(series, opt)
			if err != nil {
				return nil, fmt.Errorf("side-by-side curves: %w", err)
			}
			p := filepath.Join(o.out, "side-by-side-"+qq.prefix+"-curves.png")
			if err := f.Save(p, 0, 0); err != nil {
				return nil, err
			}
			paths = append(paths, p)
			continue
		}
		panels := make([]reports.LandscapePanel, len(done))
		for i, x := range done {
			panels[i] = reports.LandscapePanel{Title: x.label, Result: x.result}
		}
		for _, k := range kinds {
			f, err := reports.LandscapeSideBySide(k, panels, mapOptions(o, qq.q, sideTitle(done, qq.q)+" − min"))
			if err != nil {
				return nil, fmt.Errorf("side-by-side %s: %w", k, err)
			}
			p := filepath.Join(o.out, fmt.Sprintf("side-by-side-%s-%s.png", qq.prefix, k))
			if err := f.Save(p, 0, 0); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

func sideTitle(done []outcome, q landscape.Quantity) string {
	if q == landscape.QuantityNLL {
		return "NLL"
	}
	wd := done[0].result.Spec.WeightDecay
	for _, x := range done[1:] {
		if x.result.Spec.WeightDecay != wd {
			return "NLL + (wd/2)·Σ‖w‖²"
		}
	}
	return fmt.Sprintf("NLL + %g·Σ‖w‖²", wd/2)
}

// riseAt returns the NLL at distance t along each axis minus the centre's,
// averaged over the two signs and axes present, NaN when the grid lacks
// those points.
func riseAt(r *landscape.Result, t float64, q landscape.Quantity) float64 {
	c, ok := pointAt(r, 0, 0)
	if !ok {
		return math.NaN()
	}
	var sum float64
	n := 0
	for _, xy := range [][2]float64{{t, 0}, {-t, 0}, {0, t}, {0, -t}} {
		if p, ok := pointAt(r, xy[0], xy[1]); ok {
			sum += r.Value(p, q) - r.Value(c, q)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

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

	"github.com/vitprobe/vitprobe/results"
)

// BlockCurvature is one block's curvature as the per-block figure draws
// it: plain data, filled by package analysis (BlockSpectrum) or anything
// else.
type BlockCurvature struct {
	// Name is the block's name, e.g. "layer2.0" or "blocks.3.attn".
	Name string
	// Kind is the block kind's short name: "stem", "conv", "down", "msa",
	// "mlp" or "head"; "msa" blocks are shaded grey, "down" blocks blue.
	Kind string
	// Depth is the block's normalised depth in [0, 1].
	Depth float64
	// Size is the block's number of parameters.
	Size int
	// Values are the block's top eigenvalues, pooled over minibatches.
	Values []float64
	// Trace is the mean over minibatches of the block's trace and
	// TraceErr its standard error; NaN when not estimated.
	Trace, TraceErr float64
}

// BlockCurvatureModel is one model's blocks, in depth order.
type BlockCurvatureModel struct {
	Name   string
	Blocks []BlockCurvature
}

// BlockCurvatureOptions configures BlockCurvatureFigure. The zero value,
// or a nil pointer, gives a default title.
type BlockCurvatureOptions struct {
	// Title is drawn above the figure; empty means a default.
	Title string
	// Note is a line under the title (the protocol, say).
	Note string
	// Matrix names the curvature matrix in labels ("Hessian" if empty).
	Matrix string
}

// bcNegative marks negative eigenvalues in the per-block figure: black
// rings, distinct in colour and shape from the models' filled dots.
var bcNegative = color.NRGBA{A: 255}

// BlockCurvatureFigure draws, for each model (one row each), the top
// eigenvalues of every block's curvature matrix against the block's
// normalised depth (left: every pooled value as a dot, negative ones in
// vermillion, a line through each block's largest value; symmetric-log
// axis) and the block's mean eigenvalue, trace/parameters, with its
// standard error (right), MSA blocks shaded grey and down-sampling blocks
// blue as in the paper's depth figures. It fails, before writing anything,
// on no model, a model without blocks or a non-finite value.
func BlockCurvatureFigure(ms []BlockCurvatureModel, opt *BlockCurvatureOptions) (*Figure, error) {
	var o BlockCurvatureOptions
	if opt != nil {
		o = *opt
	}
	if o.Matrix == "" {
		o.Matrix = "Hessian"
	}
	if len(ms) == 0 {
		return nil, errors.New("reports: block curvature of no model")
	}
	var all, traces []float64
	hasTrace := false
	for _, m := range ms {
		if len(m.Blocks) == 0 {
			return nil, fmt.Errorf("reports: block curvature of %q: no blocks", m.Name)
		}
		for _, b := range m.Blocks {
			if !finite(b.Depth) || b.Size <= 0 {
				return nil, fmt.Errorf("reports: block curvature of %q: block %s at depth %v with %d parameters", m.Name, b.Name, b.Depth, b.Size)
			}
			for _, v := range b.Values {
				if !finite(v) {
					return nil, fmt.Errorf("reports: block curvature of %q: block %s has eigenvalue %v", m.Name, b.Name, v)
				}
			}
			all = append(all, b.Values...)
			if finite(b.Trace) {
				hasTrace = true
				traces = append(traces, b.Trace/float64(b.Size))
			}
		}
	}
	if len(all) == 0 {
		return nil, errors.New("reports: block curvature: no values")
	}
	cVal, cTrace := SymLogThreshold(all), SymLogThreshold(traces)
	cols := 1
	if hasTrace {
		cols = 2
	}
	plots := make([][]*plot.Plot, len(ms))
	ylabels := []string{fmt.Sprintf("eigenvalue (symlog, \u00b1%s linear)", SymLogLabel(cVal)),
		fmt.Sprintf("trace / parameters (symlog, \u00b1%s linear)", SymLogLabel(cTrace))}
	for i, m := range ms {
		layers := make([]FourierLayer, len(m.Blocks))
		for j, b := range m.Blocks {
			layers[j] = FourierLayer{Name: b.Name, Kind: b.Kind, Depth: b.Depth}
		}
		left, err := bcValuesPlot(m, i, layers, cVal, o.Matrix)
		if err != nil {
			return nil, err
		}
		plots[i] = []*plot.Plot{left}
		if hasTrace {
			right, err := bcTracePlot(m, i, layers, cTrace, o.Matrix)
			if err != nil {
				return nil, err
			}
			plots[i] = append(plots[i], right)
		}
	}
	w := 6.2 * vg.Inch * vg.Length(cols)
	h := 3.1*vg.Inch*vg.Length(len(ms)) + 1.2*vg.Inch
	paint := func(dc draw.Canvas) error {
		fillWhite(dc)
		title := o.Title
		if title == "" {
			title = fmt.Sprintf("Per-block %s spectra against depth", o.Matrix)
		}
		top := drawTitle(dc, title)
		if o.Note != "" {
			top = hsDrawNote(top, o.Note)
		}
		top = bcLegend(top, ms)
		tiles := draw.Tiles{Rows: len(ms), Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 5,
			PadTop: vg.Millimeter, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
		for i := range plots {
			for j := range plots[i] {
				plots[i][j].Draw(hsYLabel(tiles.At(top, j, i), ylabels[j]))
			}
		}
		return nil
	}
	return newFigure(w, h, paint)
}

// bcNewPlot returns a depth plot with the shading of layers.
// The y label is drawn by the caller (hsYLabel): gonum/plot shrinks the
// plot area until a rotated label fits its height.
func bcNewPlot(title string, layers []FourierLayer, cVal float64) *plot.Plot {
	p := frNewPlot(title, "normalised depth", "")
	p.X.Min, p.X.Max = 0, 1
	p.X.Tick.Marker = frTicks{Target: 5}
	p.Y.Scale = SymLog{C: cVal}
	p.Y.Tick.Marker = bcTicks{SymLogTicks{C: cVal}}
	p.Add(frSpansOf(layers))
	return p
}

// bcRange sets the y range of p to cover lo..hi (and 0) with a margin of
// 6% of the span on the symmetric-log scale.
func bcRange(p *plot.Plot, c, lo, hi float64) {
	s := SymLog{C: c}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	tl, th := s.Forward(lo), s.Forward(hi)
	pad := 0.06 * math.Max(th-tl, 0.1)
	p.Y.Min, p.Y.Max = s.Inverse(tl-pad), s.Inverse(th+pad)
}

// bcValuesPlot draws one model's pooled top eigenvalues per block.
func bcValuesPlot(m BlockCurvatureModel, i int, layers []FourierLayer, cVal float64, matrix string) (*plot.Plot, error) {
	var pos, neg, top plotter.XYs
	nNeg, n := 0, 0
	for _, b := range m.Blocks {
		if len(b.Values) == 0 {
			continue
		}
		mx := math.Inf(-1)
		for _, v := range b.Values {
			n++
			if v < 0 {
				nNeg++
				neg = append(neg, plotter.XY{X: b.Depth, Y: v})
			} else {
				pos = append(pos, plotter.XY{X: b.Depth, Y: v})
			}
			mx = math.Max(mx, v)
		}
		top = append(top, plotter.XY{X: b.Depth, Y: mx})
	}
	title := fmt.Sprintf("%s: top eigenvalues of each block's %s (%d of %d negative)", m.Name, matrix, nNeg, n)
	p := bcNewPlot(title, layers, cVal)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, set := range []plotter.XYs{pos, neg} {
		for _, q := range set {
			lo, hi = math.Min(lo, q.Y), math.Max(hi, q.Y)
		}
	}
	if n > 0 {
		bcRange(p, cVal, lo, hi)
	}
	col := frModelColor(i)
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}})
	if err != nil {
		return nil, err
	}
	zero.Color = color.Gray{Y: 110}
	zero.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	zero.Width = vg.Points(0.8)
	p.Add(zero)
	if len(top) > 1 {
		l, err := plotter.NewLine(top)
		if err != nil {
			return nil, err
		}
		l.Color = col
		l.Width = vg.Points(1.4)
		p.Add(l)
	}
	for _, set := range []struct {
		xy    plotter.XYs
		style draw.GlyphStyle
	}{
		{pos, draw.GlyphStyle{Color: hsTransparent(col, 170), Radius: vg.Points(2.3), Shape: draw.CircleGlyph{}}},
		{neg, draw.GlyphStyle{Color: hsTransparent(bcNegative, 200), Radius: vg.Points(2.6), Shape: draw.RingGlyph{}}},
	} {
		if len(set.xy) == 0 {
			continue
		}
		s, err := plotter.NewScatter(set.xy)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = set.style
		p.Add(s)
	}
	return p, nil
}

// bcTracePlot draws one model's mean eigenvalue (trace over parameters)
// per block, with error bars of one standard error.
func bcTracePlot(m BlockCurvatureModel, i int, layers []FourierLayer, cVal float64, matrix string) (*plot.Plot, error) {
	p := bcNewPlot(fmt.Sprintf("%s: each block's mean %s eigenvalue (Hutch++, \u00b11 s.e.)", m.Name, matrix), layers, cVal)
	var xy plotter.XYs
	var errs plotter.YErrors
	for _, b := range m.Blocks {
		if !finite(b.Trace) {
			continue
		}
		n := float64(b.Size)
		xy = append(xy, plotter.XY{X: b.Depth, Y: b.Trace / n})
		e := 0.0
		if finite(b.TraceErr) {
			e = b.TraceErr / n
		}
		errs = append(errs, struct{ Low, High float64 }{e, e})
	}
	if len(xy) == 0 {
		return p, nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, q := range xy {
		lo, hi = math.Min(lo, q.Y-errs[k].Low), math.Max(hi, q.Y+errs[k].High)
	}
	bcRange(p, cVal, lo, hi)
	col := frModelColor(i)
	if len(xy) > 1 {
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = col
		l.Width = vg.Points(1.4)
		p.Add(l)
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: frModelMarker(i)}
	p.Add(s)
	eb, err := plotter.NewYErrorBars(bcErrXY{xy, errs})
	if err != nil {
		return nil, err
	}
	eb.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1)}
	eb.CapWidth = vg.Points(5)
	p.Add(eb)
	return p, nil
}

// bcTicks keeps the ticks of a marker that lie within the axis range:
// gonum/plot pads the plot area to fit the labels of ticks beyond it.
type bcTicks struct{ plot.Ticker }

// Ticks implements plot.Ticker.
func (t bcTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, k := range t.Ticker.Ticks(lo, hi) {
		if k.Value >= lo && k.Value <= hi {
			out = append(out, k)
		}
	}
	return out
}

// bcErrXY pairs points with their error bars.
type bcErrXY struct {
	plotter.XYs
	plotter.YErrors
}

// bcLegend draws the figure's legend (the marks and the shading) in one
// line under the title and returns the canvas below it.
func bcLegend(c draw.Canvas, ms []BlockCurvatureModel) draw.Canvas {
	msa, down := false, false
	for _, m := range ms {
		for _, b := range m.Blocks {
			msa = msa || b.Kind == "msa"
			down = down || b.Kind == "down"
		}
	}
	type entry struct {
		text  string
		thumb plot.Thumbnailer
	}
	dot := func(col color.Color, shape draw.GlyphDrawer) plot.Thumbnailer {
		s, _ := plotter.NewScatter(plotter.XYs{{}})
		s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: shape}
		return s
	}
	entries := []entry{
		{"positive eigenvalue (in the model's colour; line: each block's largest)", dot(frModelColor(0), draw.CircleGlyph{})},
		{"negative eigenvalue", dot(bcNegative, draw.RingGlyph{})},
	}
	if msa {
		entries = append(entries, entry{"MSA block", frSwatch{frMSAShade}})
	}
	if down {
		entries = append(entries, entry{"down-sampling block", frSwatch{frDownShade}})
	}
	// One row, wrapped when too wide: each entry its own legend.
	width := c.Max.X - c.Min.X
	y := c.Max.Y
	x := c.Min.X + vg.Millimeter*8
	h := vg.Points(14)
	for _, e := range entries {
		one := plot.NewLegend()
		one.TextStyle.Font.Size = vg.Points(10)
		one.ThumbnailWidth = vg.Points(16)
		one.Add(e.text, e.thumb)
		ew := one.TextStyle.Width(e.text) + one.ThumbnailWidth + vg.Millimeter*4
		if x+ew > c.Min.X+width {
			x = c.Min.X + vg.Millimeter*8
			y -= h
		}
		sub := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: x, Y: y - h}, Max: vg.Point{X: x + ew, Y: y}}}
		one.Left, one.Top = true, true
		one.Draw(sub)
		x += ew + vg.Millimeter*4
	}
	c.Max.Y = y - h - vg.Millimeter*2
	return c
}

// BlockCurvatureModelOf returns the per-block figure's data of one model's
// results as blocks.json records them: each block's top eigenvalues pooled
// over its minibatches, its trace (NaN without).
func BlockCurvatureModelOf(name string, blocks []results.BlockResult) BlockCurvatureModel {
	m := BlockCurvatureModel{Name: name}
	for _, b := range blocks {
		c := BlockCurvature{Name: b.Name, Kind: b.Kind, Depth: b.Depth, Size: b.Size, Trace: math.NaN(), TraceErr: math.NaN()}
		for _, bb := range b.Batches {
			c.Values = append(c.Values, bb.Values...)
		}
		if b.Trace != nil {
			c.Trace, c.TraceErr = b.Trace.Mean, b.Trace.StdErr
		}
		m.Blocks = append(m.Blocks, c)
	}
	return m
}

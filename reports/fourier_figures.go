package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// frKindLineStyle returns Fig. 2a's line style of a layer kind: dashed for
// MSA, dotted for down-sampling, solid otherwise.
func frKindLineStyle(kind string, c color.Color) draw.LineStyle {
	ls := draw.LineStyle{Color: c, Width: vg.Points(1.4)}
	switch kind {
	case "msa":
		ls.Dashes = []vg.Length{vg.Points(5), vg.Points(2.5)}
	case "down":
		ls.Dashes = []vg.Length{vg.Points(1.2), vg.Points(2)}
	}
	return ls
}

var frKindLegendNames = []struct{ kind, label string }{
	{"stem", ""}, // frSolidLabel
	{"msa", "MSA"},
	{"down", "down-sampling"},
}

// frSolidLabel names the kinds drawn with solid lines, e.g. "stem / conv":
// the presets' kinds in depth order, then any other kind a custom model
// reports, sorted.
func frSolidLabel(kinds map[string]bool) string {
	var names, other []string
	for _, k := range []string{"stem", "conv", "mlp"} {
		if kinds[k] {
			names = append(names, strings.Replace(k, "mlp", "MLP", 1))
		}
	}
	for k := range kinds {
		if k != "stem" && k != "conv" && k != "mlp" {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	return strings.Join(append(names, other...), " / ")
}

// DLogAmpFigure draws the paper's Fig. 2a: for each model a panel of
// relative log amplitude (Δ log amplitude) against normalised frequency,
// one curve per layer coloured by normalised depth (DepthPalette, colour
// bar below the panels), dashed for MSA and dotted for down-sampling
// layers. The panels share their y range. Non-finite points break the
// curves and are counted in Skipped. Models without profiles are left out;
// none with a profile is an error.
func DLogAmpFigure(ms []FourierModel) (*Figure, error) {
	var with []FourierModel
	for _, m := range ms {
		if m.hasProfiles() {
			with = append(with, m)
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range with {
		for _, l := range m.Layers {
			for _, v := range l.DLogAmp {
				if finite(v) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
	}
	if len(with) == 0 || lo > hi {
		return nil, frFigureErr("relative log amplitude", errFrNoData)
	}
	pad := 0.06 * max(hi-lo, 0.1)
	cm := DepthPalette()
	f := &Figure{}
	panels := make([]*plot.Plot, len(with))
	for i, m := range with {
		p, skipped, err := dlogampPanel(m, i == 0, lo-pad, hi+pad, cm)
		if err != nil {
			return nil, err
		}
		panels[i] = p
		f.Skipped += skipped
	}
	const panelH, barH, titleH = 3.4 * vg.Inch, 0.85 * vg.Inch, 0.42 * vg.Inch
	panelW := max(3.7*vg.Inch, 5.4*vg.Inch/vg.Length(len(with)))
	f.Width, f.Height = panelW*vg.Length(len(with)), titleH+panelH+barH
	f.body = func(dc draw.Canvas) {
		body := drawTitle(dc, "Relative log amplitude of feature maps (Fig. 2a)")
		for i, p := range panels {
			pc := body
			pc.Min.X = body.Min.X + panelW*vg.Length(i)
			pc.Max.X = pc.Min.X + panelW
			pc.Min.Y = body.Min.Y + barH
			p.Draw(pc)
		}
		depthColorBar(body, cm, barH, f.Width)
	}
	return f, nil
}

// dlogampPanel is one model's panel of Fig. 2a on the y range [lo, hi]; it
// returns the number of points left out.
func dlogampPanel(m FourierModel, first bool, lo, hi float64, cm palette.ColorMap) (*plot.Plot, int, error) {
	xlabel := "normalised frequency (1 = π − 2π/n)"
	if m.Nyquist {
		xlabel = "normalised frequency (1 = π)"
	}
	ylabel := ""
	if first {
		ylabel = "Δ log amplitude"
	}
	p := frNewPlot(m.Name, xlabel, ylabel)
	p.X.Label.TextStyle.Font.Size = vg.Points(9.5)
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = lo, hi
	p.X.Tick.Marker = frTicks{Target: 5}
	p.Y.Tick.Marker = frTicks{Target: 6}
	kinds := map[string]bool{}
	solid := map[string]bool{}
	skipped := 0
	for _, l := range m.Layers {
		col, err := cm.At(min(max(l.Depth, 0), 1))
		if err != nil || !finite(l.Depth) {
			col = color.Gray{Y: 120}
		}
		_, drawn, err := frAddSeries(p, l.PlotFreq, l.DLogAmp, frKindLineStyle(l.Kind, col), nil)
		if err != nil {
			return nil, 0, frFigureErr("relative log amplitude", err)
		}
		skipped += len(l.DLogAmp) - drawn
		k := l.Kind
		if k != "msa" && k != "down" {
			solid[k] = true
			k = "stem"
		}
		kinds[k] = true
	}
	p.Legend = dlogampLegend(kinds, solid)
	return p, skipped, nil
}

// dlogampLegend is a Fig. 2a panel's legend of line styles. Curves start
// at (0, 0) and fall; with the y range shared across panels the lower left
// corner is the free one.
func dlogampLegend(kinds, solid map[string]bool) plot.Legend {
	leg := frNewLegend()
	leg.Top, leg.Left = false, true
	leg.XOffs, leg.YOffs = vg.Points(6), vg.Points(4)
	for _, e := range frKindLegendNames {
		if kinds[e.kind] {
			l, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}})
			l.LineStyle = frKindLineStyle(e.kind, color.Gray{Y: 60})
			label := e.label
			if e.kind == "stem" {
				label = frSolidLabel(solid)
			}
			leg.Add(label, l)
		}
	}
	return leg
}

// depthColorBar draws the colour bar of normalised depth, centred under the
// panels, in the lowest barH of body (of a figure w wide).
func depthColorBar(body draw.Canvas, cm palette.ColorMap, barH, w vg.Length) {
	bar := plot.New()
	bar.HideY()
	bar.Add(&plotter.ColorBar{ColorMap: cm})
	bar.X.Min, bar.X.Max = 0, 1
	bar.X.Label.Text = "normalised depth of the layer (curve colour)"
	bar.X.Label.TextStyle.Font.Size = vg.Points(10)
	bar.X.Tick.Label.Font.Size = vg.Points(9)
	bc := body
	bc.Max.Y = body.Min.Y + barH - vg.Points(8)
	bc.Min.Y += vg.Points(4)
	bw := min(w*0.5, 4.5*vg.Inch)
	bc.Min.X = (body.Min.X + body.Max.X - bw) / 2
	bc.Max.X = bc.Min.X + bw
	bar.Draw(bc)
}

// DepthValue picks the quantity of a depth figure from a layer.
type DepthValue func(FourierLayer) float64

// depthFigure draws value against normalised depth for every model on one
// axis, with a side legend. MSA and down-sampling blocks are shaded: by
// full-height bands when one model is drawn, by highlighting each model's
// curve across those blocks when several are. With logY the y axis is
// logarithmic and values ≤ 0 are left out (counted in skipped, as
// non-finite ones are).
func depthFigure(ms []FourierModel, name, title, ylabel string, value DepthValue, logY bool) (*Figure, error) {
	p := frNewPlot(title, "normalised depth (layer index / last index)", ylabel)
	p.X.Min, p.X.Max = 0, 1
	p.X.Tick.Marker = frTicks{Target: 5}
	p.Y.Tick.Marker = frTicks{Target: 6}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = frLogTicks{}
	}
	var msa, down bool
	for _, m := range ms {
		for _, s := range frSpansOf(m.Layers) {
			msa = msa || s.c == color.Color(frMSAShade)
			down = down || s.c == color.Color(frDownShade)
		}
		if len(ms) == 1 {
			p.Add(frSpansOf(m.Layers))
		} else {
			p.Add(frSegmentsOf(m.Layers, value, logY))
		}
	}
	leg := frNewSideLegend()
	total, skipped := 0, 0
	for i, m := range ms {
		xs := make([]float64, len(m.Layers))
		ys := make([]float64, len(m.Layers))
		for j, l := range m.Layers {
			xs[j], ys[j] = l.Depth, value(l)
			if logY && !(ys[j] > 0) {
				ys[j] = math.NaN()
			}
		}
		col := frModelColor(i)
		ls := draw.LineStyle{Color: col, Width: vg.Points(1.6)}
		gs := &draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: frModelMarker(i)}
		thumbs, drawn, err := frAddSeries(p, xs, ys, ls, gs)
		if err != nil {
			return nil, frFigureErr(name, err)
		}
		skipped += len(xs) - drawn
		total += drawn
		if len(thumbs) > 0 {
			leg.add(m.Name, thumbs...)
		} else {
			leg.add(m.Name+" (no finite value)", frSwatch{color.Transparent})
		}
	}
	if total == 0 {
		return nil, frFigureErr(name, errFrNoData)
	}
	msaC, downC := color.Color(frMSAShade), color.Color(frDownShade)
	if len(ms) > 1 {
		msaC, downC = frMSASegment, frDownSegment
	}
	if msa {
		leg.add("MSA block", frSwatch{msaC})
	}
	if down {
		leg.add("down-sampling block", frSwatch{downC})
	}
	return &Figure{Skipped: skipped, Width: 7.6 * vg.Inch, Height: 4.2 * vg.Inch,
		body: func(c draw.Canvas) { frDrawWithSideLegend(c, p, leg) }}, nil
}

// HighFreqFigure draws the paper's Fig. 8: the relative log amplitude at
// each layer's highest frequency against normalised depth, every model on
// one axis, MSA blocks shaded grey and down-sampling blocks blue.
// Non-finite values are left out and counted in Skipped.
func HighFreqFigure(ms []FourierModel) (*Figure, error) {
	return depthFigure(ms, "high-frequency amplitude", "High-frequency Δ log amplitude vs depth (Fig. 8)",
		"Δ log amplitude at the highest frequency", FourierLayer.HighFreq, false)
}

// VarianceLogScale reports whether Fig. 9 reads better on a logarithmic
// axis: every value positive and finite, spanning more than a factor 30.
func VarianceLogScale(ms []FourierModel) bool {
	lo, hi := math.Inf(1), 0.0
	for _, m := range ms {
		for _, l := range m.Layers {
			v := l.Variance
			if math.IsNaN(v) {
				continue
			}
			if !(v > 0) || math.IsInf(v, 0) {
				return false
			}
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return hi > 0 && hi/lo > 30
}

// VarianceFigure draws the paper's Fig. 9: feature-map variance against
// normalised depth, every model on one axis, with the same shading as
// HighFreqFigure; logY draws it on a logarithmic axis (values ≤ 0 are then
// left out and counted in Skipped).
func VarianceFigure(ms []FourierModel, logY bool) (*Figure, error) {
	ylabel := "feature-map variance"
	if logY {
		ylabel += " (log scale)"
	}
	return depthFigure(ms, "variance", "Feature-map variance vs depth (Fig. 9)", ylabel,
		func(l FourierLayer) float64 { return l.Variance }, logY)
}

// frNoiseXY is one model's noise curve with its error bars, in percentage
// points.
type frNoiseXY struct{ pts []NoisePoint }

func (n frNoiseXY) Len() int                { return len(n.pts) }
func (n frNoiseXY) XY(i int) (x, y float64) { return n.pts[i].Center, 100 * n.pts[i].Delta }
func (n frNoiseXY) YError(i int) (lo, hi float64) {
	e := 100 * n.pts[i].StdErr
	return e, e
}

// frErrBarThumb is the legend thumbnail of an error bar.
type frErrBarThumb struct{}

// Thumbnail implements plot.Thumbnailer.
func (frErrBarThumb) Thumbnail(c *draw.Canvas) {
	ls := draw.LineStyle{Color: color.Gray{Y: 70}, Width: vg.Points(1)}
	r := c.Rectangle
	x := (r.Min.X + r.Max.X) / 2
	cw := vg.Points(2.5)
	c.StrokeLine2(ls, x, r.Min.Y, x, r.Max.Y)
	c.StrokeLine2(ls, x-cw, r.Min.Y, x+cw, r.Min.Y)
	c.StrokeLine2(ls, x-cw, r.Max.Y, x+cw, r.Max.Y)
}

// NoiseFigure draws the paper's Fig. 2b: the accuracy change (noisy −
// clean, percentage points) against the noise band's centre, one curve per
// model with ±1 standard-error bars, and, when the bands' noise differs in
// energy, each band's noise RMS in a panel below. Models without noise
// results are left out; non-finite points are counted in Skipped.
func NoiseFigure(ms []FourierModel) (*Figure, error) {
	p, leg, skipped, err := noisePlot(ms)
	if err != nil {
		return nil, err
	}
	rms := frNoiseRMS(ms)
	if rms == nil {
		return &Figure{Skipped: skipped, Width: 7.6 * vg.Inch, Height: 4.2 * vg.Inch,
			body: func(c draw.Canvas) { frDrawWithSideLegend(c, p, leg) }}, nil
	}
	// The bands' noise differs in energy (the paper's formula on a small
	// image, where a band holds one or two rings of bins): show how much
	// each band added, under the curves, on the same x axis.
	p.X.Label.Text = ""
	// The panel below labels the x axis; the labels stay (transparent) so
	// that both panels lay out their data areas alike.
	p.X.Tick.Label.Color = color.Transparent
	q := frNewPlot("", "noise frequency, band centre (×π)", "noise RMS")
	q.X.Min, q.X.Max = 0, 1
	q.Y.Min = 0
	q.X.Tick.Marker = frTicks{Target: 10}
	q.Y.Tick.Marker = frTicks{Target: 3}
	q.Add(frBars{vals: rms, width: vg.Points(14), color: color.Gray{Y: 170}})
	leg.add("noise RMS per pixel (lower panel)", frSwatch{color.Gray{Y: 170}})
	const lowH = 1.45 * vg.Inch
	return &Figure{Skipped: skipped, Width: 7.6 * vg.Inch, Height: 5.4 * vg.Inch, body: func(dc draw.Canvas) {
		top, bottom := dc, dc
		top.Min.Y += lowH
		bottom.Max.Y = dc.Min.Y + lowH
		bottom.Max.X -= leg.width()
		// Align the two data areas: pad the plot whose y axis is narrower.
		tc := top
		tc.Max.X -= leg.width()
		dt, db := p.DataCanvas(tc), q.DataCanvas(bottom)
		if d := dt.Min.X - db.Min.X; d > 0 {
			bottom.Min.X += d
		} else {
			top.Min.X -= d
		}
		frDrawWithSideLegend(top, p, leg)
		q.Draw(bottom)
	}}, nil
}

// noisePlot is Fig. 2b's plot of accuracy changes with its side legend,
// and the number of points left out.
func noisePlot(ms []FourierModel) (*plot.Plot, *frSideLegend, int, error) {
	p := frNewPlot("Accuracy change under frequency-band noise (Fig. 2b)",
		"noise frequency, band centre (×π)", "accuracy change (pp, noisy − clean)")
	p.X.Min, p.X.Max = 0, 1
	p.X.Tick.Marker = frTicks{Target: 10}
	p.Y.Tick.Marker = frTicks{Target: 6}
	zero := plotter.NewFunction(func(float64) float64 { return 0 })
	zero.LineStyle = draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(0.8)}
	p.Add(zero)
	leg := frNewSideLegend()
	total, skipped := 0, 0
	for i, m := range ms {
		if len(m.Noise) == 0 {
			continue
		}
		n, err := addNoiseCurve(p, leg, m, i)
		if err != nil {
			return nil, nil, 0, err
		}
		skipped += len(m.Noise) - n
		total += n
	}
	if total == 0 {
		return nil, nil, 0, frFigureErr("noise", errFrNoData)
	}
	leg.add("±1 standard error", frErrBarThumb{})
	// Keep "no change" in view.
	p.Y.Max = max(p.Y.Max, 0.5)
	p.Y.Min = min(p.Y.Min, -0.5)
	return p, leg, skipped, nil
}

// addNoiseCurve adds model i's curve with its error bars and legend entry,
// and returns how many of its points were finite.
func addNoiseCurve(p *plot.Plot, leg *frSideLegend, m FourierModel, i int) (int, error) {
	var ok []NoisePoint
	for _, q := range m.Noise {
		if finite(q.Center) && finite(q.Delta) {
			if !finite(q.StdErr) || q.StdErr < 0 {
				q.StdErr = 0
			}
			ok = append(ok, q)
		}
	}
	col := frModelColor(i)
	label := m.Name
	if finite(m.Clean) {
		label = fmt.Sprintf("%s (clean %.1f%%)", m.Name, 100*m.Clean)
	}
	if len(ok) == 0 {
		leg.add(label+": no finite value", frSwatch{color.Transparent})
		return 0, nil
	}
	xs := make([]float64, len(ok))
	ys := make([]float64, len(ok))
	for j, q := range ok {
		xs[j], ys[j] = q.Center, 100*q.Delta
	}
	thumbs, _, err := frAddSeries(p, xs, ys, draw.LineStyle{Color: col, Width: vg.Points(1.6)},
		&draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: frModelMarker(i)})
	if err != nil {
		return 0, frFigureErr("noise", err)
	}
	eb, err := plotter.NewYErrorBars(frNoiseXY{ok})
	if err != nil {
		return 0, frFigureErr("noise", err)
	}
	eb.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1)}
	eb.CapWidth = vg.Points(5)
	p.Add(eb)
	leg.add(label, thumbs...)
	return len(ok), nil
}

// frNoiseRMS returns the noise RMS of each band as bar-chart values at the
// band centres (from the first model with noise results), or nil when
// every band has the same RMS (within 1%) and there is nothing to show.
func frNoiseRMS(ms []FourierModel) frBandValues {
	for _, m := range ms {
		if len(m.Noise) == 0 {
			continue
		}
		var v frBandValues
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, q := range m.Noise {
			if finite(q.Center) && finite(q.RMS) && q.RMS >= 0 {
				v = append(v, [2]float64{q.Center, q.RMS})
				lo, hi = min(lo, q.RMS), max(hi, q.RMS)
			}
		}
		if len(v) == 0 || hi <= lo*1.01 {
			return nil
		}
		return v
	}
	return nil
}

// frBandValues are (x, value) pairs.
type frBandValues [][2]float64

// frBars draws a bar from 0 to each value, centred on its x (gonum's
// BarChart places bars at 0, 1, 2, ... instead).
type frBars struct {
	vals  frBandValues
	width vg.Length
	color color.Color
}

// Plot implements plot.Plotter.
func (b frBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, v := range b.vals {
		x, y0, y1 := trX(v[0]), trY(0), trY(v[1])
		pts := c.ClipPolygonXY([]vg.Point{{X: x - b.width/2, Y: y0}, {X: x + b.width/2, Y: y0},
			{X: x + b.width/2, Y: y1}, {X: x - b.width/2, Y: y1}})
		c.FillPolygon(b.color, pts)
	}
}

// DataRange implements plot.DataRanger.
func (b frBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, v := range b.vals {
		xmin, xmax, ymax = min(xmin, v[0]), max(xmax, v[0]), max(ymax, v[1])
	}
	return xmin, xmax, 0, ymax
}

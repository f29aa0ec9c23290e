package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/hessian"
)

// HessianSpectrumSeries is one curve of a max-eigenvalue spectrum plot: the
// pooled top eigenvalues of every minibatch of one model or checkpoint.
type HessianSpectrumSeries struct {
	Label  string
	Values []float64
}

// HessianSpectrumOptions configures HessianSpectrum. The zero value, or a
// nil pointer, gives a default title and an automatic axis.
type HessianSpectrumOptions struct {
	// Title is drawn above the plot; empty means a default.
	Title string
	// Note is a line under the title (the protocol, say).
	Note string
	// C is the linear threshold of the symmetric-log eigenvalue axis; 0
	// picks SymLogThreshold of the pooled values.
	C float64
}

// HessianSpectrum draws the paper's Fig. 1c / Fig. 4 view of minibatch
// max-eigenvalue spectra: for each series a Gaussian kernel density
// estimate of its eigenvalues, one curve per model, on a symmetric-log
// eigenvalue axis (SymLog) so that negative and positive eigenvalues
// across decades are both visible; NEP and APE (docs/methods.md) in the
// legend; a rug of the individual values under the curves; a dashed line
// at zero.
//
// The density is estimated, and drawn, in the axis' own coordinate
// t = sign(λ)·log10(1+|λ|/C) (Scott's bandwidth there): the area under a
// curve between two ticks is the share of eigenvalues between them, as for
// a histogram with logarithmic bins. It fails on no series, an empty
// series or non-finite values.
func HessianSpectrum(series []HessianSpectrumSeries, opt *HessianSpectrumOptions) (*Figure, error) {
	var o HessianSpectrumOptions
	if opt != nil {
		o = *opt
	}
	if len(series) == 0 {
		return nil, errors.New("reports: spectrum of no series")
	}
	k, err := newSpectrumKDE(series, o.C)
	if err != nil {
		return nil, err
	}
	p, err := k.plot(series)
	if err != nil {
		return nil, err
	}
	title := o.Title
	if title == "" {
		title = "Hessian max-eigenvalue spectra"
	}
	xlabel := fmt.Sprintf("eigenvalue \u03bb (symmetric log axis, linear within \u00b1%s)", SymLogLabel(k.c))
	return &Figure{Width: 8 * vg.Inch, Height: 4.8 * vg.Inch, body: func(c draw.Canvas) {
		top := titled(c, title, o.Note)
		top.Max.X -= vg.Millimeter * 4
		p.Draw(hsXLabel(top, xlabel))
	}}, nil
}

// spectrumKDE is the kernel density of each series of a spectrum figure,
// on a common grid of the symmetric-log coordinate t.
type spectrumKDE struct {
	c      float64
	sl     SymLog
	sums   []hessian.Summary
	grid   []float64
	dens   [][]float64
	lo, hi float64
	ymax   float64
}

// spectrumPoints is the number of grid points of the density curves.
const spectrumPoints = 800

func newSpectrumKDE(series []HessianSpectrumSeries, c float64) (*spectrumKDE, error) {
	k := &spectrumKDE{sums: make([]hessian.Summary, len(series))}
	var all []float64
	for i, s := range series {
		sum, err := hessian.Summarize(s.Values)
		if err != nil {
			return nil, fmt.Errorf("reports: spectrum of %q: %w", s.Label, err)
		}
		k.sums[i] = sum
		all = append(all, s.Values...)
	}
	if k.c = c; !(k.c > 0) {
		k.c = SymLogThreshold(all)
	}
	k.sl = SymLog{C: k.c}
	// Grid and densities in t.
	tmin, tmax := math.Inf(1), math.Inf(-1)
	ts := make([][]float64, len(series))
	hs := make([]float64, len(series))
	hmax := 0.0
	for i, s := range series {
		ts[i] = make([]float64, len(s.Values))
		for j, v := range s.Values {
			t := k.sl.Forward(v)
			ts[i][j] = t
			tmin, tmax = math.Min(tmin, t), math.Max(tmax, t)
		}
		hs[i] = hessian.ScottBandwidth(ts[i])
		if hs[i] == 0 {
			hs[i] = 0.05 // one value, or all equal: a narrow bump
		}
		hmax = math.Max(hmax, hs[i])
	}
	k.lo, k.hi = tmin-3*hmax, tmax+3*hmax
	k.grid = make([]float64, spectrumPoints)
	for j := range k.grid {
		k.grid[j] = k.lo + (k.hi-k.lo)*float64(j)/float64(spectrumPoints-1)
	}
	k.dens = make([][]float64, len(series))
	for i := range series {
		d, err := hessian.KDE(nil, k.grid, ts[i], hs[i])
		if err != nil {
			return nil, fmt.Errorf("reports: spectrum of %q: %w", series[i].Label, err)
		}
		k.dens[i] = d
		for _, y := range d {
			k.ymax = math.Max(k.ymax, y)
		}
	}
	return k, nil
}

// plot makes the spectrum's plot: the curves, their fills and rugs, the
// zero line and the legend.
func (k *spectrumKDE) plot(series []HessianSpectrumSeries) (*plot.Plot, error) {
	p := plot.New()
	p.X.Scale = k.sl
	p.X.Tick.Marker = SymLogTicks{C: k.c}
	p.Y.Label.Text = fmt.Sprintf("density per unit of sign(\u03bb)\u00b7log10(1 + |\u03bb|/%s)", SymLogLabel(k.c))
	p.Y.Tick.Marker = hsPositiveTicks{}
	p.Add(plotter.NewGrid())
	rugStep := 0.045 * k.ymax
	for i, s := range series {
		if err := k.addSeries(p, i, s, rugStep); err != nil {
			return nil, err
		}
	}
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -float64(len(series)+1) * rugStep}, {X: 0, Y: 1.08 * k.ymax}})
	if err != nil {
		return nil, fmt.Errorf("reports: spectrum: %w", err)
	}
	zero.Color = color.Gray{Y: 110}
	zero.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	zero.Width = vg.Points(0.8)
	p.Add(zero)
	p.X.Min, p.X.Max = k.sl.Inverse(k.lo), k.sl.Inverse(k.hi)
	p.Y.Min, p.Y.Max = -float64(len(series))*rugStep-0.6*rugStep, 1.12*k.ymax
	hsLegend(p, hsLegendLeft(k.grid, k.dens))
	return p, nil
}

// addSeries adds series i: its density curve over a light fill, its rug
// of values under the axis, its legend entry with NEP and APE.
func (k *spectrumKDE) addSeries(p *plot.Plot, i int, s HessianSpectrumSeries, rugStep float64) error {
	xy := make(plotter.XYs, spectrumPoints)
	for j, t := range k.grid {
		xy[j] = plotter.XY{X: k.sl.Inverse(t), Y: k.dens[i][j]}
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("reports: spectrum of %q: %w", s.Label, err)
	}
	l.Color = Palette(i)
	l.Width = vg.Points(1.8)
	l.Dashes = hsDashes(i)
	area := append(plotter.XYs{{X: xy[0].X, Y: 0}}, xy...)
	area = append(area, plotter.XY{X: xy[spectrumPoints-1].X, Y: 0})
	poly, err := plotter.NewPolygon(area)
	if err != nil {
		return fmt.Errorf("reports: spectrum of %q: %w", s.Label, err)
	}
	poly.Color = hsTransparent(Palette(i), 0x26)
	poly.Width = 0
	p.Add(poly, l)
	rug := make(plotter.XYs, len(s.Values))
	for j, v := range s.Values {
		rug[j] = plotter.XY{X: v, Y: -float64(i+1) * rugStep}
	}
	sc, err := plotter.NewScatter(rug)
	if err != nil {
		return fmt.Errorf("reports: spectrum of %q: %w", s.Label, err)
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: Palette(i), Radius: vg.Points(3.2), Shape: hsBarGlyph{}}
	p.Add(sc)
	sum := k.sums[i]
	p.Legend.Add(fmt.Sprintf("%s: NEP %.1f%%, APE %s (n = %d)", s.Label, 100*sum.NEP, hsNumber(sum.APE), sum.N), hsLegendLine{l})
	return nil
}

// hsLegend places and styles the legend of the Hessian figures: at the
// top, on the side where the curves are lower.
func hsLegend(p *plot.Plot, left bool) {
	p.Legend.Top = true
	p.Legend.Left = left
	p.Legend.XOffs, p.Legend.YOffs = vg.Millimeter*2, -vg.Millimeter*1
	p.Legend.ThumbnailWidth = vg.Points(22)
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Padding = vg.Points(3)
}

// HessianDensitySeries is one model's stochastic Lanczos quadrature: for
// each start vector, the nodes (Ritz values) and their weights
// (hessian.Quadrature).
type HessianDensitySeries struct {
	Label   string
	Nodes   [][]float64
	Weights [][]float64
}

// HessianDensityOptions configures HessianDensity. The zero value, or a nil
// pointer, gives a default title and an automatic axis.
type HessianDensityOptions struct {
	// Title is drawn above the plot; empty means a default.
	Title string
	// Note is a line under the title.
	Note string
	// C is the linear threshold of the symmetric-log axis; 0 picks 10⁻⁴
	// of the largest |node|, rounded down to a power of ten, so that four
	// decades below the spectral radius are resolved.
	C float64
	// Sigma is the Gaussian broadening of each node in axis units
	// (decades far from zero); 0 means 1/150 of the axis span.
	Sigma float64
	// Band, for a series with several start vectors, shades the range
	// between the smallest and the largest of the per-vector densities
	// around the averaged curve: the spread of the estimate over its
	// random start vectors.
	Band bool
}

// HessianDensity draws eigenvalue densities estimated by stochastic Lanczos
// quadrature (PyHessian's ESD): each node broadened by a Gaussian in the
// coordinate t = sign(λ)·log10(1+|λ|/C) of a symmetric-log eigenvalue
// axis, weights averaged over start vectors, on a logarithmic density axis
// (the bulk near zero outweighs the outliers by orders of magnitude).
// Densities below 10⁻⁶ of the peak are drawn at that floor. It fails on no
// series or an empty or non-finite quadrature.
func HessianDensity(series []HessianDensitySeries, opt *HessianDensityOptions) (*Figure, error) {
	var o HessianDensityOptions
	if opt != nil {
		o = *opt
	}
	if len(series) == 0 {
		return nil, errors.New("reports: density of no series")
	}
	amax, err := checkQuadratures(series)
	if err != nil {
		return nil, err
	}
	if !(o.C > 0) {
		o.C = 1
		if amax > 0 {
			o.C = math.Pow(10, math.Floor(math.Log10(amax*1e-4)))
		}
	}
	d := broaden(series, SymLog{C: o.C}, o.Sigma, o.Band)
	if !(d.peak > 0) {
		return nil, errors.New("reports: density: all weights are zero")
	}
	p, err := d.plot(series, o.C)
	if err != nil {
		return nil, err
	}
	title := o.Title
	if title == "" {
		title = "Hessian eigenvalue density (stochastic Lanczos quadrature)"
	}
	xlabel := fmt.Sprintf("eigenvalue \u03bb (symmetric log axis, linear within \u00b1%s)", SymLogLabel(o.C))
	const ylabel = "spectral density per unit of the x axis (log scale)"
	return &Figure{Width: 8 * vg.Inch, Height: 4.8 * vg.Inch, body: func(c draw.Canvas) {
		top := titled(c, title, o.Note)
		top.Max.X -= vg.Millimeter * 4
		p.Draw(hsYLabel(hsXLabel(top, xlabel), ylabel))
	}}, nil
}

// checkQuadratures checks the series' nodes and weights and returns the
// largest |node|.
func checkQuadratures(series []HessianDensitySeries) (float64, error) {
	amax := 0.0
	for _, s := range series {
		if len(s.Nodes) == 0 || len(s.Nodes) != len(s.Weights) {
			return 0, fmt.Errorf("reports: density of %q: %d node lists, %d weight lists", s.Label, len(s.Nodes), len(s.Weights))
		}
		for l, nodes := range s.Nodes {
			if len(nodes) == 0 || len(nodes) != len(s.Weights[l]) {
				return 0, fmt.Errorf("reports: density of %q: vector %d has %d nodes and %d weights", s.Label, l, len(nodes), len(s.Weights[l]))
			}
			for j, x := range nodes {
				w := s.Weights[l][j]
				if !finite(x) || !finite(w) || w < 0 {
					return 0, fmt.Errorf("reports: density of %q: node %v with weight %v", s.Label, x, w)
				}
				amax = math.Max(amax, math.Abs(x))
			}
		}
	}
	return amax, nil
}

// broadened is the Gaussian-broadened density of every series on a common
// grid of t.
type broadened struct {
	sl     SymLog
	grid   []float64
	dens   [][]float64
	lo, hi float64
	peak   float64
	// bandLo and bandHi, where not nil, are the smallest and largest of a
	// series' per-vector densities.
	bandLo, bandHi [][]float64
}

// densityPoints is the number of grid points of the density curves.
const densityPoints = 1200

// broaden broadens every node by a Gaussian of width sigma in t (0: 1/150
// of the span of the nodes); with band, also each start vector's density
// alone, keeping their pointwise range.
func broaden(series []HessianDensitySeries, sl SymLog, sigma float64, band bool) *broadened {
	tmin, tmax := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, nodes := range s.Nodes {
			for _, x := range nodes {
				t := sl.Forward(x)
				tmin, tmax = math.Min(tmin, t), math.Max(tmax, t)
			}
		}
	}
	if !(sigma > 0) {
		sigma = math.Max(tmax-tmin, 1) / 150
	}
	b := &broadened{sl: sl, lo: tmin - 4*sigma, hi: tmax + 4*sigma, grid: make([]float64, densityPoints), dens: make([][]float64, len(series)),
		bandLo: make([][]float64, len(series)), bandHi: make([][]float64, len(series))}
	for k := range b.grid {
		b.grid[k] = b.lo + (b.hi-b.lo)*float64(k)/float64(densityPoints-1)
	}
	for i, s := range series {
		norm := 1 / (sigma * math.Sqrt(2*math.Pi) * float64(len(s.Nodes)))
		d := make([]float64, densityPoints)
		one := make([]float64, densityPoints)
		withBand := band && len(s.Nodes) > 1
		if withBand {
			b.bandLo[i], b.bandHi[i] = make([]float64, densityPoints), make([]float64, densityPoints)
			for k := range b.bandLo[i] {
				b.bandLo[i][k] = math.Inf(1)
			}
		}
		for l, nodes := range s.Nodes {
			// This vector's terms of the average; times the number of
			// vectors, its density alone.
			clear(one)
			for j, x := range nodes {
				t0, w := sl.Forward(x), s.Weights[l][j]
				for k, t := range b.grid {
					z := (t - t0) / sigma
					if z > -9 && z < 9 {
						one[k] += w * norm * math.Exp(-z*z/2)
					}
				}
			}
			for k, y := range one {
				d[k] += y
				if withBand {
					alone := y * float64(len(s.Nodes))
					b.bandLo[i][k] = math.Min(b.bandLo[i][k], alone)
					b.bandHi[i][k] = math.Max(b.bandHi[i][k], alone)
					b.peak = math.Max(b.peak, alone)
				}
			}
		}
		for _, y := range d {
			b.peak = math.Max(b.peak, y)
		}
		b.dens[i] = d
	}
	return b
}

// plot draws the densities on a log density axis, floored at 10⁻⁶ of the
// peak.
func (b *broadened) plot(series []HessianDensitySeries, c float64) (*plot.Plot, error) {
	floor := b.peak * 1e-6
	p := plot.New()
	p.X.Scale = b.sl
	p.X.Tick.Marker = SymLogTicks{C: c}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	for i, s := range series {
		if b.bandLo[i] != nil {
			poly := make(plotter.XYs, 0, 2*densityPoints)
			for k, t := range b.grid {
				poly = append(poly, plotter.XY{X: b.sl.Inverse(t), Y: math.Max(b.bandHi[i][k], floor)})
			}
			for k := densityPoints - 1; k >= 0; k-- {
				poly = append(poly, plotter.XY{X: b.sl.Inverse(b.grid[k]), Y: math.Max(b.bandLo[i][k], floor)})
			}
			pg, err := plotter.NewPolygon(poly)
			if err != nil {
				return nil, fmt.Errorf("reports: density of %q: %w", s.Label, err)
			}
			pg.Color = hsTransparent(Palette(i), 0x40)
			pg.Width = 0
			p.Add(pg)
		}
		xy := make(plotter.XYs, densityPoints)
		for k, t := range b.grid {
			xy[k] = plotter.XY{X: b.sl.Inverse(t), Y: math.Max(b.dens[i][k], floor)}
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("reports: density of %q: %w", s.Label, err)
		}
		l.Color = Palette(i)
		l.Width = vg.Points(1.6)
		l.Dashes = hsDashes(i)
		p.Add(l)
		label := s.Label
		if b.bandLo[i] != nil {
			label += fmt.Sprintf(" (band: range of %d start vectors)", len(s.Nodes))
		}
		p.Legend.Add(label, l)
	}
	p.X.Min, p.X.Max = b.sl.Inverse(b.lo), b.sl.Inverse(b.hi)
	p.Y.Min, p.Y.Max = floor, b.peak*3
	hsLegend(p, hsLegendLeft(b.grid, b.dens))
	return p, nil
}

// hsNumber formats a summary value with three significant digits.
func hsNumber(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e5 || a < 1e-3:
		return fmt.Sprintf("%.2e", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// hsDashes gives series beyond the first a dash pattern, so that curves
// stay distinguishable in grey scale.
func hsDashes(i int) []vg.Length {
	switch i % 4 {
	case 1:
		return []vg.Length{vg.Points(6), vg.Points(2.5)}
	case 2:
		return []vg.Length{vg.Points(2), vg.Points(2)}
	case 3:
		return []vg.Length{vg.Points(7), vg.Points(2), vg.Points(2), vg.Points(2)}
	}
	return nil
}

func hsTransparent(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: alpha}
}

// hsLegendLeft puts the legend on the side where the curves are lower.
func hsLegendLeft(grid []float64, dens [][]float64) bool {
	n := len(grid)
	var left, right float64
	for _, d := range dens {
		for k := range n / 3 {
			left = math.Max(left, d[k])
			right = math.Max(right, d[n-1-k])
		}
	}
	return left <= right
}

// hsBarGlyph draws a short vertical bar: the marks of a rug plot.
type hsBarGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (hsBarGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(0.8)})
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y - sty.Radius})
	p.Line(vg.Point{X: pt.X, Y: pt.Y + sty.Radius})
	c.Stroke(p)
}

// hsLegendLine draws a legend entry as the line alone, without the fill
// under the curve.
type hsLegendLine struct{ l *plotter.Line }

// Thumbnail implements plot.Thumbnailer.
func (t hsLegendLine) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(t.l.LineStyle, c.Min.X, y, c.Max.X, y)
}

// hsXLabel writes an x-axis label centred at the bottom of c and returns
// the canvas above it. gonum/plot places its own axis label by the
// arithmetic mean of the axis range, which lands off-centre (and pads the
// plot) on a nonlinear scale such as SymLog.
func hsXLabel(c draw.Canvas, label string) draw.Canvas {
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(12)), XAlign: draw.XCenter,
		YAlign: draw.YBottom, Handler: &text.Plain{Fonts: font.DefaultCache}}
	c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Min.Y + vg.Millimeter}, label)
	c.Min.Y += sty.Height(label) + vg.Millimeter*2
	return c
}

// hsYLabel writes a y-axis label, rotated, at the left of c and returns
// the canvas to its right (gonum/plot misplaces its own on a log scale, as
// hsXLabel says of SymLog).
func hsYLabel(c draw.Canvas, label string) draw.Canvas {
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(12)), XAlign: draw.XCenter,
		YAlign: draw.YTop, Rotation: math.Pi / 2, Handler: &text.Plain{Fonts: font.DefaultCache}}
	c.FillText(sty, vg.Point{X: c.Min.X + vg.Millimeter, Y: (c.Min.Y + c.Max.Y) / 2}, label)
	c.Min.X += sty.Height(label) + vg.Millimeter*2
	return c
}

// hsDrawNote writes small grey text under the title, wrapped at word
// boundaries to the canvas width, and returns the canvas below it.
func hsDrawNote(c draw.Canvas, note string) draw.Canvas {
	sty := text.Style{Color: color.Gray{Y: 70}, Font: font.From(plot.DefaultFont, vg.Points(9)), XAlign: draw.XCenter,
		YAlign: draw.YTop, Handler: &text.Plain{Fonts: font.DefaultCache}}
	for _, line := range wrapText(sty, note, c.Max.X-c.Min.X-4*vg.Millimeter) {
		c.FillText(sty, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y}, line)
		c.Max.Y -= sty.Height(line) + vg.Millimeter/2
	}
	c.Max.Y -= vg.Millimeter * 3 / 2
	return c
}

// wrapText splits s at spaces into lines no wider than width in style sty
// (a single word wider than width gets a line of its own).
func wrapText(sty text.Style, s string, width vg.Length) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case sty.Width(line+" "+w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

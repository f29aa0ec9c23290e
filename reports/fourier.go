package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/results"
)

// FourierLayer is one analysed layer of a model as the Fourier report
// draws it (docs/methods.md §4-5). It is plain data: cmd/fourier fills it from
// the analysis package's results, and other tools can fill it from
// anywhere.
type FourierLayer struct {
	// Index is the model's depth-order layer index.
	Index int
	// Name is the layer's name, e.g. "layer2.0".
	Name string
	// Kind is the layer kind's short name: "stem", "conv", "down", "msa"
	// or "mlp". "msa" layers are shaded grey and "down" layers blue.
	Kind string
	// Depth is the normalised depth in [0, 1].
	Depth float64
	// Channels is the number of maps (channels) of the layer and Size
	// their side.
	Channels, Size int
	// PlotFreq is the paper's normalised frequency axis (0 to 1) of the
	// profile points; Freq their true frequencies in radians.
	PlotFreq, Freq []float64
	// DLogAmp is the relative log amplitude at each point; nil when the
	// Fourier analysis was not run.
	DLogAmp []float64
	// Variance is the feature-map variance; NaN when not measured.
	Variance float64
}

// HighFreq returns the relative log amplitude at the layer's highest
// frequency point, or NaN without a profile.
func (l FourierLayer) HighFreq() float64 {
	if len(l.DLogAmp) == 0 {
		return math.NaN()
	}
	return l.DLogAmp[len(l.DLogAmp)-1]
}

// AtFreq returns the relative log amplitude at the profile point whose
// true frequency is f radians, or NaN if the layer's profile has no point
// there. π/2 is a point of every even map size from 4 up, so AtFreq(π/2)
// compares layers of different resolutions at one frequency, which
// HighFreq (π − 2π/n) does not.
func (l FourierLayer) AtFreq(f float64) float64 {
	for k, v := range l.Freq {
		if math.Abs(v-f) < 1e-9 && k < len(l.DLogAmp) {
			return l.DLogAmp[k]
		}
	}
	return math.NaN()
}

// NoisePoint is a model's accuracy change under noise of one band.
type NoisePoint struct {
	// Center is the band's centre in units of π.
	Center float64
	// Accuracy is the accuracy with noise, in [0, 1].
	Accuracy float64
	// Delta is Accuracy minus the clean accuracy (negative: hurt).
	Delta float64
	// StdErr is Delta's standard error (0 if unknown).
	StdErr float64
	// RMS is the added noise's per-pixel RMS.
	RMS float64
}

// FourierModel is one model's results in the Fourier report.
type FourierModel struct {
	// Name labels the model in legends and tables.
	Name string
	// Layers are the analysed layers in depth order.
	Layers []FourierLayer
	// Nyquist reports that the profiles end at frequency π exactly.
	Nyquist bool
	// Clean is the clean accuracy (NaN without a noise analysis).
	Clean float64
	// Noise holds the noise analysis' bands, nil if it was not run.
	Noise []NoisePoint
}

func (m FourierModel) hasProfiles() bool {
	for _, l := range m.Layers {
		if len(l.DLogAmp) > 0 {
			return true
		}
	}
	return false
}

func (m FourierModel) hasVariance() bool {
	for _, l := range m.Layers {
		if !math.IsNaN(l.Variance) {
			return true
		}
	}
	return false
}

// Shading colours of the depth plots: MSA layers grey, down-sampling
// layers blue, as in the paper.
var (
	frMSAShade  = color.NRGBA{R: 120, G: 120, B: 120, A: 60}
	frDownShade = color.NRGBA{R: 86, G: 180, B: 233, A: 80}
	// The highlighter colours of kindSegments, a little stronger.
	frMSASegment  = color.NRGBA{R: 110, G: 110, B: 110, A: 85}
	frDownSegment = color.NRGBA{R: 86, G: 180, B: 233, A: 130}
)

// frModelColor and frModelMarker give model i its colour and marker in the
// figures that put models on one axis. Blue is left to the down-sampling
// shading.
func frModelColor(i int) color.Color {
	order := []int{1, 2, 3, 7, 4, 0}
	return Palette(order[i%len(order)])
}

func frModelMarker(i int) draw.GlyphDrawer {
	g := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{},
		draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}}
	return g[i%len(g)]
}

// DepthPalette returns the colour map of Fig. 2a's curves, from depth 0
// (dark purple) to depth 1 (yellow-green): viridis-like, uniform in
// luminance (moreland.NewLuminance), stopping short of viridis' pale
// yellow so that the deepest curves stay visible on white.
func DepthPalette() palette.ColorMap {
	cm := luminance("depth", color.NRGBA{R: 68, G: 1, B: 84, A: 255}, color.NRGBA{R: 59, G: 82, B: 139, A: 255},
		color.NRGBA{R: 33, G: 145, B: 140, A: 255}, color.NRGBA{R: 94, G: 201, B: 98, A: 255},
		color.NRGBA{R: 189, G: 223, B: 38, A: 255})
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}

// frFiniteXY returns the runs of consecutive finite points of (xs, ys): the
// segments a line can be drawn through. Non-finite points break the line.
func frFiniteXY(xs, ys []float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range xs {
		if i < len(ys) && finite(xs[i]) && finite(ys[i]) {
			cur = append(cur, plotter.XY{X: xs[i], Y: ys[i]})
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// frAddSeries adds a line through the finite runs of (xs, ys) with markers
// at every finite point, and returns what the legend shows; drawn reports
// how many points were finite.
func frAddSeries(p *plot.Plot, xs, ys []float64, ls draw.LineStyle, gs *draw.GlyphStyle) (thumbs []plot.Thumbnailer, drawn int, err error) {
	for _, run := range frFiniteXY(xs, ys) {
		drawn += len(run)
		if len(run) > 1 || gs == nil {
			l, err := plotter.NewLine(run)
			if err != nil {
				return nil, 0, err
			}
			l.LineStyle = ls
			p.Add(l)
			if thumbs == nil {
				thumbs = append(thumbs, l)
			}
		}
		if gs != nil {
			s, err := plotter.NewScatter(run)
			if err != nil {
				return nil, 0, err
			}
			s.GlyphStyle = *gs
			p.Add(s)
			if len(thumbs) < 2 {
				thumbs = append(thumbs, s)
			}
		}
	}
	return thumbs, drawn, nil
}

// kindSpans shades, over the plot's whole height, the depth interval of
// each MSA (grey) and down-sampling (blue) block: from the previous
// layer's depth to the block's output depth.
type kindSpans []kindSpan

type kindSpan struct {
	x0, x1 float64
	c      color.Color
}

// frKindColor is the shading of a block kind: msa for MSA blocks, down
// for down-sampling ones, nil for the others.
func frKindColor(kind string, msa, down color.Color) color.Color {
	switch kind {
	case "msa":
		return msa
	case "down":
		return down
	}
	return nil
}

func frSpansOf(layers []FourierLayer) kindSpans {
	var out kindSpans
	for i := 1; i < len(layers); i++ {
		if c := frKindColor(layers[i].Kind, frMSAShade, frDownShade); c != nil {
			out = append(out, kindSpan{x0: layers[i-1].Depth, x1: layers[i].Depth, c: c})
		}
	}
	return out
}

// Plot implements plot.Plotter.
func (k kindSpans) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for _, s := range k {
		if !finite(s.x0) || !finite(s.x1) {
			continue
		}
		// A hairline gap keeps adjacent blocks (three down-sampling blocks
		// in a row) apart.
		gap := vg.Points(0.6)
		x0, x1 := max(trX(s.x0)+gap, c.Min.X), min(trX(s.x1)-gap, c.Max.X)
		if x1 <= x0 {
			continue
		}
		c.FillPolygon(s.c, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// kindSegments underlays, like a highlighter, the segment of a model's
// curve that crosses each MSA (grey) or down-sampling (blue) block: the
// shading used when several models share one axis, where full-height
// bands of different models would overlap.
type kindSegments []kindSegment

type kindSegment struct {
	x0, y0, x1, y1 float64
	c              color.Color
}

func frSegmentsOf(layers []FourierLayer, value func(FourierLayer) float64, logY bool) kindSegments {
	var out kindSegments
	for i := 1; i < len(layers); i++ {
		c := frKindColor(layers[i].Kind, frMSASegment, frDownSegment)
		if c == nil {
			continue
		}
		a, b := layers[i-1], layers[i]
		ya, yb := value(a), value(b)
		if !finite(a.Depth) || !finite(b.Depth) || !finite(ya) || !finite(yb) || logY && (ya <= 0 || yb <= 0) {
			continue
		}
		out = append(out, kindSegment{x0: a.Depth, y0: ya, x1: b.Depth, y1: yb, c: c})
	}
	return out
}

// Plot implements plot.Plotter.
func (k kindSegments) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, s := range k {
		ls := draw.LineStyle{Color: s.c, Width: vg.Points(9)}
		pts := c.ClipLinesXY([]vg.Point{{X: trX(s.x0), Y: trY(s.y0)}, {X: trX(s.x1), Y: trY(s.y1)}})
		for _, seg := range pts {
			c.StrokeLines(ls, seg)
		}
	}
}

// frSwatch is a legend thumbnail filled with one colour.
type frSwatch struct{ c color.Color }

// Thumbnail implements plot.Thumbnailer.
func (s frSwatch) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(s.c, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

func frNewPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.X.Tick.Label.Font.Size = vg.Points(9.5)
	p.Y.Tick.Label.Font.Size = vg.Points(9.5)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 228}
	grid.Horizontal.Color = color.Gray{Y: 228}
	p.Add(grid)
	return p
}

func frNewLegend() plot.Legend {
	leg := plot.NewLegend()
	leg.TextStyle.Font.Size = vg.Points(9.5)
	leg.ThumbnailWidth = vg.Points(26)
	leg.Top, leg.Left = true, true
	return leg
}

// frDrawWithSideLegend draws p into c, leaving a column on the right for
// the legend, whose entries start level with the top of the plot area.
//
// On a logarithmic y axis gonum/plot centres the axis label at the linear
// midpoint of the range, which lies near the top, and shrinks the plot to
// make room for it; the label is then drawn here instead, centred.
func frDrawWithSideLegend(c draw.Canvas, p *plot.Plot, sl *frSideLegend) {
	pc := c
	pc.Max.X -= sl.width()
	if _, isLog := p.Y.Scale.(plot.LogScale); isLog && p.Y.Label.Text != "" {
		label := p.Y.Label
		p.Y.Label.Text = ""
		sty := label.TextStyle
		sty.Rotation = math.Pi / 2
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		h := label.TextStyle.Height(label.Text)
		pc.FillText(sty, vg.Point{X: pc.Min.X, Y: (pc.Min.Y + pc.Max.Y) / 2}, label.Text)
		pc.Min.X += h + label.Padding
		defer func() { p.Y.Label = label }()
	}
	p.Draw(pc)
	lc := c
	lc.Min.X = pc.Max.X + vg.Points(6)
	lc.Max.Y -= p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding + vg.Points(6)
	sl.leg.Draw(lc)
}

// errFrNoData reports a figure with nothing to draw.
var errFrNoData = errors.New("nothing finite to draw")

func frFigureErr(fig string, err error) error {
	return fmt.Errorf("reports: %s: %w", fig, err)
}

// FourierModelOf gathers one model's Fourier, variance and noise results
// (any of them may be nil) into the plain data the reports package draws:
// DLogAmpFigure, HighFreqFigure, VarianceFigure, NoiseFigure and
// WriteFourierReport take a slice of these.
func FourierModelOf(name string, fr *results.FourierResult, vr *results.VarianceResult, nr *results.NoiseResult) FourierModel {
	m := FourierModel{Name: name, Clean: math.NaN()}
	byIndex := map[int]int{}
	add := func(info results.LayerInfo) int {
		if j, ok := byIndex[info.Index]; ok {
			return j
		}
		byIndex[info.Index] = len(m.Layers)
		m.Layers = append(m.Layers, FourierLayer{Index: info.Index, Name: info.Name, Kind: info.Kind.String(),
			Depth: info.Depth, Channels: info.Channels, Size: info.Height, Variance: math.NaN()})
		return len(m.Layers) - 1
	}
	if fr != nil {
		m.Nyquist = fr.Nyquist
		for _, l := range fr.Layers {
			j := add(l.LayerInfo)
			m.Layers[j].PlotFreq, m.Layers[j].Freq, m.Layers[j].DLogAmp = l.PlotFreq, l.Freq, l.DLogAmp
		}
	}
	if vr != nil {
		for _, l := range vr.Layers {
			m.Layers[add(l.LayerInfo)].Variance = l.Variance
		}
	}
	if nr != nil {
		m.Clean = nr.Clean
		for _, b := range nr.Bands {
			m.Noise = append(m.Noise, NoisePoint{Center: b.Center, Accuracy: b.Accuracy, Delta: b.Delta, StdErr: b.StdErr, RMS: b.RMS})
		}
	}
	return m
}

package reports

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// IntervalSeries is one series of an IntervalPlot: points, each with a
// symmetric error bar (an interval over seeds, directions...).
type IntervalSeries struct {
	Label string
	X, Y  []float64
	// Err is the half-width of each point's bar; nil, 0 or NaN: no bar.
	Err []float64
	// Lo and Hi, if not nil, are each point's bar's ends instead (an
	// asymmetric interval); NaN: no bar.
	Lo, Hi []float64
	// Labels, if not nil, are written beside the points.
	Labels []string
	// NoLine draws the points without joining them; Hollow draws hollow
	// markers (a rejected candidate, say); Guide draws a thin dashed line
	// without markers (a reference line, say).
	NoLine, Hollow, Guide bool
	// Color is the index of the series' colour in Palette plus one; 0
	// means the series' position.
	Color int
}

// IntervalPlotOptions configures IntervalPlot. The zero value draws linear
// axes without a title.
type IntervalPlotOptions struct {
	Title, XLabel, YLabel string
	// Note is a line of small text under the plot (the protocol).
	Note string
	// LogX draws the x axis on a log scale (data sizes).
	LogX bool
	// XTicks, if not nil, replaces the x ticks by these values and labels.
	XTicks []plot.Tick
}

// IntervalPlot draws series of points with error bars into a PNG at path:
// accuracy against the share of the data, against the number of MSA
// blocks (Fig. 12a), training NLL against test error (Fig. 5), a
// landscape's mean slice with its spread. Points with a non-finite x or y
// are left out (and counted in the note); it fails, before writing
// anything, on no series or series of unequal lengths.
func IntervalPlot(series []IntervalSeries, opt *IntervalPlotOptions) (*Figure, error) {
	var o IntervalPlotOptions
	if opt != nil {
		o = *opt
	}
	if len(series) == 0 {
		return nil, errors.New("reports: interval plot of no series")
	}
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = o.XLabel, o.YLabel
	p.Add(plotter.NewGrid())
	if o.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = ipLogTicks{}
	}
	if o.XTicks != nil {
		p.X.Tick.Marker = plot.ConstantTicks(o.XTicks)
	}
	legend := frNewSideLegend()
	dropped, drawn := 0, 0
	for i, s := range series {
		if len(s.Y) != len(s.X) || (s.Err != nil && len(s.Err) != len(s.X)) || (s.Labels != nil && len(s.Labels) != len(s.X)) ||
			(s.Lo != nil && len(s.Lo) != len(s.X)) || (s.Hi != nil && len(s.Hi) != len(s.X)) || (s.Lo == nil) != (s.Hi == nil) {
			return nil, fmt.Errorf("reports: interval series %q: %d x, %d y, %d errors, %d lows, %d highs, %d labels",
				s.Label, len(s.X), len(s.Y), len(s.Err), len(s.Lo), len(s.Hi), len(s.Labels))
		}
		col := Palette(i)
		if s.Color > 0 {
			col = Palette(s.Color - 1)
		}
		var xy plotter.XYs
		var bars errXYs
		var labels []string
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (o.LogX && x <= 0) {
				dropped++
				continue
			}
			xy = append(xy, plotter.XY{X: x, Y: y})
			switch {
			case s.Lo != nil:
				if finite(s.Lo[j]) && finite(s.Hi[j]) && s.Hi[j] > s.Lo[j] {
					bars = append(bars, errXY{x, y, y - s.Lo[j], s.Hi[j] - y})
				}
			case s.Err != nil && finite(s.Err[j]) && s.Err[j] > 0:
				bars = append(bars, errXY{x, y, s.Err[j], s.Err[j]})
			}
			if s.Labels != nil {
				labels = append(labels, s.Labels[j])
			}
		}
		if len(xy) == 0 {
			continue
		}
		drawn++
		sc, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("reports: interval series %q: %w", s.Label, err)
		}
		sc.Color, sc.Radius = col, vg.Points(3.5)
		sc.Shape = draw.CircleGlyph{}
		if s.Hollow {
			sc.Shape = draw.RingGlyph{}
		}
		thumbs := []plot.Thumbnailer{sc}
		if s.Guide {
			thumbs = nil
		}
		if !s.NoLine && len(xy) > 1 {
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, fmt.Errorf("reports: interval series %q: %w", s.Label, err)
			}
			l.Color, l.Width = col, vg.Points(1.5)
			if s.Guide {
				l.Width, l.Dashes = vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l)
			thumbs = append([]plot.Thumbnailer{l}, thumbs...)
		}
		if len(bars) > 0 {
			eb, err := plotter.NewYErrorBars(bars)
			if err != nil {
				return nil, fmt.Errorf("reports: interval series %q: %w", s.Label, err)
			}
			eb.Color, eb.Width, eb.CapWidth = col, vg.Points(1.2), vg.Points(6)
			p.Add(eb)
		}
		if !s.Guide {
			p.Add(sc)
		}
		if labels != nil {
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: labels})
			if err != nil {
				return nil, fmt.Errorf("reports: interval series %q: %w", s.Label, err)
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Color = col
				lb.TextStyle[k].Font.Size = vg.Points(8)
			}
			lb.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(3)}
			p.Add(lb)
		}
		if s.Label != "" {
			legend.add(s.Label, thumbs...)
		}
	}
	if drawn == 0 {
		return nil, errors.New("reports: interval plot: no finite point to draw")
	}
	p.Y.Min, p.Y.Max = padRange(p.Y.Min, p.Y.Max)
	switch {
	case o.LogX:
		p.X.Min, p.X.Max = p.X.Min/1.3, p.X.Max*1.3
	case o.XTicks != nil:
		// Categories: half a step of room on each side, for the labels.
		p.X.Min, p.X.Max = p.X.Min-0.5, p.X.Max+0.5
	default:
		p.X.Min, p.X.Max = padRange(p.X.Min, p.X.Max)
	}
	note := o.Note
	if dropped > 0 {
		note = strings.TrimSpace(note + fmt.Sprintf(" (%d non-finite points not drawn)", dropped))
	}
	paint := func(dc draw.Canvas) error {
		if o.Title != "" {
			dc = drawTitle(dc, o.Title)
		}
		if note != "" {
			dc = hsDrawNote(dc, note)
		}
		frDrawWithSideLegend(dc, p, legend)
		return nil
	}
	return newFigure(8*vg.Inch, 4.5*vg.Inch, paint)
}

// ipLogTicks labels a logarithmic axis at 1, 2 and 5 times the powers of
// ten within its range, or, on a range too narrow for two of those, at the
// linear ticks of the range.
type ipLogTicks struct{}

// Ticks implements plot.Ticker.
func (ipLogTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1; m < 10; m++ {
			v := float64(m) * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				labelled++
			}
			out = append(out, t)
		}
	}
	if labelled < 2 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	return out
}

type errXY struct{ x, y, lo, hi float64 }

type errXYs []errXY

func (e errXYs) Len() int                        { return len(e) }
func (e errXYs) XY(i int) (float64, float64)     { return e[i].x, e[i].y }
func (e errXYs) YError(i int) (float64, float64) { return e[i].lo, e[i].hi }

// PolarSeries is one trajectory of a TrajectoryPolar figure: distances
// from the initial weights and angles to them (radians), in step order.
type PolarSeries struct {
	// Label is the legend's entry ("": none, e.g. for further seeds).
	Label    string
	R, Theta []float64
	// Color is the index of the colour in Palette plus one; 0: the
	// series' position. Series of one model share it.
	Color int
	// Dashed draws a dashed line (a second seed, say).
	Dashed bool
}

// PolarOptions configures TrajectoryPolar.
type PolarOptions struct {
	Title string
	// RLabel names the radial coordinate (default "distance from the
	// initial weights").
	RLabel string
	Note   string
}

// TrajectoryPolar draws weight trajectories in polar coordinates, the
// paper's Fig. 1b: the point of a snapshot is at distance r from the
// origin (the initial weights) and at angle θ from the horizontal axis,
// with r and θ to equal scale, so the sector drawn is the one the data
// span (up to a round angle). Arcs of constant r and rays of constant θ
// make the grid. It fails on no series, series of unequal lengths or
// non-finite values.
func TrajectoryPolar(series []PolarSeries, opt *PolarOptions) (*Figure, error) {
	var o PolarOptions
	if opt != nil {
		o = *opt
	}
	if o.RLabel == "" {
		o.RLabel = "distance from the initial weights"
	}
	if len(series) == 0 {
		return nil, errors.New("reports: polar plot of no series")
	}
	rmax, tmax := 0.0, 0.0
	for _, s := range series {
		if len(s.R) != len(s.Theta) || len(s.R) == 0 {
			return nil, fmt.Errorf("reports: polar series %q: %d distances, %d angles", s.Label, len(s.R), len(s.Theta))
		}
		for i := range s.R {
			if !finite(s.R[i]) || !finite(s.Theta[i]) || s.R[i] < 0 || s.Theta[i] < 0 || s.Theta[i] > math.Pi {
				return nil, fmt.Errorf("reports: polar series %q: point %d (r %v, θ %v) out of range", s.Label, i, s.R[i], s.Theta[i])
			}
			rmax, tmax = math.Max(rmax, s.R[i]), math.Max(tmax, s.Theta[i])
		}
	}
	if rmax == 0 {
		rmax = 1
	}
	rticks := plot.DefaultTicks{}.Ticks(0, rmax)
	rlim := rmax
	for _, t := range rticks {
		if t.Label != "" && t.Value >= rmax {
			rlim = t.Value
			break
		}
	}
	// The sector: up to the next multiple of the angle step above the data.
	deg := tmax * 180 / math.Pi
	step := 5.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30} {
		if deg/s <= 6 {
			step = s
			break
		}
	}
	if deg/step > 6 {
		step = 30
	}
	tlimDeg := math.Max(step, math.Ceil(deg*1.05/step)*step)
	tlim := tlimDeg * math.Pi / 180

	// Bounding box of the sector in data units.
	x0, x1 := math.Min(0, rlim*math.Cos(tlim)), rlim
	y1 := rlim * math.Sin(math.Min(tlim, math.Pi/2))
	width := 7 * vg.Inch
	margin := vg.Millimeter * 14
	scale := (width - 2*margin) / vg.Length(x1-x0)
	plotH := vg.Length(y1) * scale
	labelled := 0
	for _, s := range series {
		if s.Label != "" {
			labelled++
		}
	}
	legendH := vg.Length(labelled) * vg.Points(12)
	height := plotH + 2*margin + legendH + vg.Millimeter*14
	if o.Note != "" {
		height += vg.Millimeter * 8
	}
	paint := func(dc draw.Canvas) error {
		top := dc
		if o.Title != "" {
			top = drawTitle(dc, o.Title)
		}
		if o.Note != "" {
			top = hsDrawNote(top, o.Note)
		}
		origin := vg.Point{X: top.Min.X + margin - vg.Length(x0)*scale, Y: top.Min.Y + margin}
		at := func(r, th float64) vg.Point {
			return vg.Point{X: origin.X + vg.Length(r*math.Cos(th))*scale, Y: origin.Y + vg.Length(r*math.Sin(th))*scale}
		}
		grid := draw.LineStyle{Color: color.Gray{Y: 200}, Width: vg.Points(0.6)}
		frame := draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(0.8)}
		small := lsText(vg.Points(8), draw.XCenter, draw.YTop)
		for _, t := range rticks {
			if t.Label == "" || t.Value <= 0 || t.Value > rlim*(1+1e-9) {
				continue
			}
			var arc []vg.Point
			for k := 0; k <= 64; k++ {
				arc = append(arc, at(t.Value, tlim*float64(k)/64))
			}
			sty := grid
			if math.Abs(t.Value-rlim) < 1e-12*rlim {
				sty = frame
			}
			top.StrokeLines(sty, arc)
			top.FillText(small, at(t.Value, 0).Add(vg.Point{Y: -vg.Points(3)}), t.Label)
		}
		angleText := lsText(vg.Points(8), draw.XLeft, draw.YCenter)
		for a := 0.0; a <= tlimDeg+1e-9; a += step {
			th := a * math.Pi / 180
			sty := grid
			if a == 0 || math.Abs(a-tlimDeg) < 1e-9 {
				sty = frame
			}
			top.StrokeLines(sty, []vg.Point{at(0, th), at(rlim, th)})
			top.FillText(angleText, at(rlim*1.02, th), fmt.Sprintf("%g°", a))
		}
		top.FillText(lsText(vg.Points(9), draw.XCenter, draw.YTop), vg.Point{X: (at(0, 0).X + at(rlim, 0).X) / 2, Y: origin.Y - vg.Points(14)}, o.RLabel)
		top.FillText(lsText(vg.Points(9), draw.XRight, draw.YBottom), at(rlim*0.98, tlim).Add(vg.Point{Y: vg.Points(6)}), "angle to the initial weights")
		row := 0
		for i, s := range series {
			col := Palette(i)
			if s.Color > 0 {
				col = Palette(s.Color - 1)
			}
			ls := draw.LineStyle{Color: col, Width: vg.Points(1.6)}
			if s.Dashed {
				ls.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			pts := make([]vg.Point, len(s.R))
			for k := range s.R {
				pts[k] = at(s.R[k], s.Theta[k])
			}
			top.StrokeLines(ls, pts)
			gs := draw.GlyphStyle{Color: col, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			top.DrawGlyph(gs, pts[len(pts)-1])
			if s.Label == "" {
				continue
			}
			// Legend, top left.
			ly := top.Max.Y - vg.Millimeter*2 - vg.Length(row)*vg.Points(12)
			row++
			lx := top.Min.X + margin
			top.StrokeLines(ls, []vg.Point{{X: lx, Y: ly}, {X: lx + vg.Points(22), Y: ly}})
			top.FillText(lsText(vg.Points(9), draw.XLeft, draw.YCenter), vg.Point{X: lx + vg.Points(28), Y: ly}, s.Label)
		}
		return nil
	}
	return newFigure(width, height, paint)
}

package reports

import (
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/landscape"
)

// Sizes of the parts of a map figure.
var (
	lsBarGap   = vg.Points(12) // between the data area and the colour bar
	lsBarWidth = vg.Points(13)
	lsBarSpace = vg.Points(92) // gap, bar, tick labels and the bar's title
)

// LandscapeHeatMap draws a 2-D landscape as a heat map (gonum's HeatMap
// over a LandscapeGrid) with a colour bar. Diverged, missing and clipped
// points are transparent cells, counted in a note under the plot. A result
// with nothing finite to draw is an error.
func LandscapeHeatMap(r *landscape.Result, opt LandscapeOptions) (*Figure, error) {
	f, cm, err := lsFieldAndColors(r, opt)
	if err != nil {
		return nil, err
	}
	return landscapeFigure(f.notDrawn(), 6*vg.Inch, 5*vg.Inch, f.note(), func(c draw.Canvas) { lsDrawHeatMap(c, f, cm) }), nil
}

func lsDrawHeatMap(c draw.Canvas, f *landscapeField, cm palette.ColorMap) {
	p := lsMapPlot(f)
	p.Add(&lsHeatLayer{grid: &LandscapeGrid{Grid: f.grid, Values: f.z}, cm: cm, lo: f.lo, hi: f.hi})
	lsDrawMap(c, p, f, func(c draw.Canvas, strip vg.Rectangle) vg.Length {
		bar := plot.New()
		bar.HideAxes()
		bar.X.Padding, bar.Y.Padding = 0, 0
		bar.BackgroundColor = nil
		cb := &plotter.ColorBar{ColorMap: cm, Vertical: true}
		bar.Add(cb)
		bar.Draw(draw.Canvas{Canvas: c.Canvas, Rectangle: strip})
		lv, step := lsNiceLevels(f.lo, f.hi, 6)
		var ticks []float64
		var labels []string
		for _, v := range lv {
			if v >= f.lo-1e-9*step && v <= f.hi+1e-9*step {
				ticks = append(ticks, v)
				labels = append(labels, lsLevelLabel(v, step))
			}
		}
		return lsBarTicks(c, strip, f.lo, f.hi, ticks, labels)
	})
}

// lsHeatLayer draws a LandscapeGrid with gonum's HeatMap, rasterized: cells
// drawn as vector rectangles leave hairline seams between them, and a
// raster of one pixel per cell is blurred when scaled up, so each cell is
// repeated to about the device's resolution first (lsUpsampled).
type lsHeatLayer struct {
	grid   *LandscapeGrid
	cm     palette.ColorMap
	lo, hi float64
}

// DataRange returns the grid's extent, half a cell beyond the outer points.
func (h *lsHeatLayer) DataRange() (xmin, xmax, ymin, ymax float64) {
	return plotter.NewHeatMap(h.grid, palette.Heat(2, 1)).DataRange()
}

// Plot draws the heat map.
func (h *lsHeatLayer) Plot(c draw.Canvas, plt *plot.Plot) {
	dpi := lsDeviceDPI(c)
	nx, ny := h.grid.Dims()
	kx := int(math.Ceil((c.Max.X - c.Min.X).Dots(dpi) / float64(nx)))
	ky := int(math.Ceil((c.Max.Y - c.Min.Y).Dots(dpi) / float64(ny)))
	h.cm.SetMin(h.lo)
	h.cm.SetMax(h.hi)
	hm := plotter.NewHeatMap(&lsUpsampled{g: h.grid, kx: max(kx, 1), ky: max(ky, 1)}, h.cm.Palette(256))
	hm.Min, hm.Max = h.lo, h.hi
	// Values beyond a fixed range saturate rather than vanish: only NaN
	// cells are gaps.
	pal := hm.Palette.Colors()
	hm.Underflow, hm.Overflow = pal[0], pal[len(pal)-1]
	hm.Rasterized = true
	hm.Plot(c, plt)
}

// lsDeviceDPI returns the resolution of c's device (vgimg's), or 144.
func lsDeviceDPI(c draw.Canvas) float64 {
	if d, ok := c.Canvas.(interface{ DPI() float64 }); ok && d.DPI() > 0 {
		return d.DPI()
	}
	return DPI
}

// lsUpsampled repeats every cell of a uniform grid kx times along x and ky
// times along y, the sub-cells tiling the cell.
type lsUpsampled struct {
	g      *LandscapeGrid
	kx, ky int
}

func (u *lsUpsampled) Dims() (c, r int) {
	nx, ny := u.g.Dims()
	return nx * u.kx, ny * u.ky
}

func (u *lsUpsampled) Z(c, r int) float64 { return u.g.Z(c/u.kx, r/u.ky) }

func (u *lsUpsampled) X(c int) float64 {
	a := u.g.Grid.X
	d := (a.Max - a.Min) / float64(a.N-1)
	return u.g.X(c/u.kx) + d*((float64(c%u.kx)+0.5)/float64(u.kx)-0.5)
}

func (u *lsUpsampled) Y(r int) float64 {
	a := u.g.Grid.Y
	d := (a.Max - a.Min) / float64(a.N-1)
	return u.g.Y(r/u.ky) + d*((float64(r%u.ky)+0.5)/float64(u.ky)-0.5)
}

// LandscapeContour draws a 2-D landscape as filled contours: bands between
// round levels, coloured by level, with the level lines drawn over them,
// the lines labelled in place where there is room, and every level
// labelled on a stepped colour bar. Each grid cell is split into four
// triangles about its centre and the value is linear on each, so bands and
// lines agree exactly. Cells with a diverged, missing or clipped corner
// are left blank and counted in a note.
func LandscapeContour(r *landscape.Result, opt LandscapeOptions) (*Figure, error) {
	f, cm, err := lsFieldAndColors(r, opt)
	if err != nil {
		return nil, err
	}
	n := opt.Levels
	if n <= 0 {
		n = 10
	}
	return landscapeFigure(f.notDrawn(), 6*vg.Inch, 5*vg.Inch, f.note(), func(c draw.Canvas) { lsDrawContour(c, f, cm, n) }), nil
}

func lsDrawContour(c draw.Canvas, f *landscapeField, cm palette.ColorMap, n int) {
	levels, step := lsNiceLevels(f.lo, f.hi, n)
	fc := &lsFilledContour{f: f, levels: levels, step: step, cm: cm}
	p := lsMapPlot(f)
	p.Add(fc)
	p.X.Min, p.X.Max = f.grid.X.Min, f.grid.X.Max
	p.Y.Min, p.Y.Max = f.grid.Y.Min, f.grid.Y.Max
	lsDrawMap(c, p, f, func(c draw.Canvas, strip vg.Rectangle) vg.Length {
		lo, hi := levels[0], levels[len(levels)-1]
		y := func(v float64) vg.Length {
			return strip.Min.Y + vg.Length((v-lo)/(hi-lo))*(strip.Max.Y-strip.Min.Y)
		}
		labels := make([]string, len(levels))
		for k := range levels {
			if k+1 < len(levels) {
				r := vg.Rectangle{Min: vg.Point{X: strip.Min.X, Y: y(levels[k])}, Max: vg.Point{X: strip.Max.X, Y: y(levels[k+1])}}
				c.FillPolygon(fc.bandColor(k), []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
			}
			labels[k] = lsLevelLabel(levels[k], step)
		}
		line := draw.LineStyle{Color: color.NRGBA{A: 110}, Width: vg.Points(0.4)}
		for k := 1; k+1 < len(levels); k++ {
			c.StrokeLine2(line, strip.Min.X, y(levels[k]), strip.Max.X, y(levels[k]))
		}
		return lsBarTicks(c, strip, lo, hi, levels, labels)
	})
}

// lsMapPlot returns the plot of a 2-D map: title and axes.
func lsMapPlot(f *landscapeField) *plot.Plot {
	p := plot.New()
	p.Title.Text = f.title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "x (along direction 1)"
	p.Y.Label.Text = "y (along direction 2)"
	p.BackgroundColor = nil
	// The axes touch the frame drawn around the data area.
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Width, p.Y.Width = 0, 0
	p.X.Tick.Marker, p.Y.Tick.Marker = lsNiceTicker{}, lsNiceTicker{}
	return p
}

// lsDrawMap lays out a map figure on c: the plot on
// a square data area (when x and y span equal ranges), and right of it
// the colour bar drawn by bar into a strip as tall as the data area, then
// the bar's title. bar returns the right edge of what it drew.
func lsDrawMap(c draw.Canvas, p *plot.Plot, f *landscapeField, bar func(c draw.Canvas, strip vg.Rectangle) vg.Length) {
	c = draw.Crop(c, vg.Points(4), -vg.Points(4), vg.Points(2), -vg.Points(6))
	main := c
	main.Max.X -= lsBarSpace
	d := p.DataCanvas(main)
	w, h := d.Max.X-d.Min.X, d.Max.Y-d.Min.Y
	aspect := vg.Length((f.grid.Y.Max - f.grid.Y.Min) / (f.grid.X.Max - f.grid.X.Min))
	if want := w * aspect; want < h {
		extra := h - want
		main.Min.Y += extra / 2
		main.Max.Y -= extra / 2
	} else if want := h / aspect; want < w {
		extra := w - want
		main.Max.X -= extra
		main.Min.X += extra / 2
		main.Max.X += extra / 2
	}
	p.Draw(main)
	d = p.DataCanvas(main)
	// A frame around the data area.
	frame := draw.LineStyle{Color: landscapeInk, Width: vg.Points(0.6)}
	c.StrokeLines(frame, []vg.Point{d.Min, {X: d.Max.X, Y: d.Min.Y}, d.Max, {X: d.Min.X, Y: d.Max.Y}, d.Min})
	strip := vg.Rectangle{Min: vg.Point{X: d.Max.X + lsBarGap, Y: d.Min.Y}, Max: vg.Point{X: d.Max.X + lsBarGap + lsBarWidth, Y: d.Max.Y}}
	right := bar(c, strip)
	// Read from bottom to top, the glyphs' tops face left, so the text
	// hangs right of the point given.
	sty := lsText(11, draw.XCenter, draw.YTop)
	sty.Rotation = math.Pi / 2
	c.FillText(sty, vg.Point{X: right + vg.Points(6), Y: (strip.Min.Y + strip.Max.Y) / 2}, f.zLabel)
}

// lsBarTicks frames a colour bar's strip, spanning values [lo, hi], and
// marks the given values with ticks and labels on its right. Labels that
// would overlap the previous one are left out. It returns the right edge
// of the labels.
func lsBarTicks(c draw.Canvas, strip vg.Rectangle, lo, hi float64, values []float64, labels []string) vg.Length {
	frame := draw.LineStyle{Color: landscapeInk, Width: vg.Points(0.6)}
	c.StrokeLines(frame, []vg.Point{strip.Min, {X: strip.Max.X, Y: strip.Min.Y}, strip.Max, {X: strip.Min.X, Y: strip.Max.Y}, strip.Min})
	sty := lsText(9, draw.XLeft, draw.YCenter)
	right := strip.Max.X
	last := vg.Length(math.Inf(-1))
	for k, v := range values {
		y := strip.Min.Y + vg.Length((v-lo)/(hi-lo))*(strip.Max.Y-strip.Min.Y)
		c.StrokeLine2(frame, strip.Max.X, y, strip.Max.X+vg.Points(3), y)
		if y-last < sty.Height(labels[k])*1.05 {
			continue
		}
		last = y
		x := strip.Max.X + vg.Points(5)
		c.FillText(sty, vg.Point{X: x, Y: y}, labels[k])
		right = max(right, x+sty.Width(labels[k]))
	}
	return right
}

// lsFilledContour is the plotter of LandscapeContour.
type lsFilledContour struct {
	f      *landscapeField
	levels []float64
	step   float64
	cm     palette.ColorMap
}

// bandColor is the colour of the band between levels k and k+1.
func (fc *lsFilledContour) bandColor(k int) color.Color {
	lo, hi := fc.levels[0], fc.levels[len(fc.levels)-1]
	return lsColorAt(fc.cm, lo, hi, (fc.levels[k]+fc.levels[k+1])/2)
}

// lsVtx is a vertex of a triangle: its position in data space and value.
type lsVtx struct{ x, y, z float64 }

// DataRange returns the grid's extent.
func (fc *lsFilledContour) DataRange() (xmin, xmax, ymin, ymax float64) {
	g := fc.f.grid
	return g.X.Min, g.X.Max, g.Y.Min, g.Y.Max
}

// Plot draws the bands, the level lines and their labels.
func (fc *lsFilledContour) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	pt := func(v lsVtx) vg.Point { return vg.Point{X: trX(v.x), Y: trY(v.y)} }
	g := fc.f.grid
	lo, hi := fc.levels[0], fc.levels[len(fc.levels)-1]
	clamp := func(z float64) float64 { return math.Max(lo, math.Min(hi, z)) }
	var tris [][3]lsVtx
	for iy := 0; iy+1 < g.Y.N; iy++ {
		for ix := 0; ix+1 < g.X.N; ix++ {
			x0, x1 := g.X.Coord(ix), g.X.Coord(ix+1)
			y0, y1 := g.Y.Coord(iy), g.Y.Coord(iy+1)
			z00, z10 := fc.f.z[g.Index(ix, iy)], fc.f.z[g.Index(ix+1, iy)]
			z01, z11 := fc.f.z[g.Index(ix, iy+1)], fc.f.z[g.Index(ix+1, iy+1)]
			if math.IsNaN(z00 + z10 + z01 + z11) {
				continue // a gap
			}
			a, b := lsVtx{x0, y0, clamp(z00)}, lsVtx{x1, y0, clamp(z10)}
			cc, d := lsVtx{x1, y1, clamp(z11)}, lsVtx{x0, y1, clamp(z01)}
			m := lsVtx{(x0 + x1) / 2, (y0 + y1) / 2, (a.z + b.z + cc.z + d.z) / 4}
			tris = append(tris, [3]lsVtx{a, b, m}, [3]lsVtx{b, cc, m}, [3]lsVtx{cc, d, m}, [3]lsVtx{d, a, m})
		}
	}
	fc.fill(c, plt)
	// Level lines.
	line := draw.LineStyle{Color: color.NRGBA{A: 150}, Width: vg.Points(0.6)}
	segs := make([][][2]vg.Point, len(fc.levels))
	for k := 1; k < len(fc.levels)-1; k++ {
		l := fc.levels[k]
		for _, t := range tris {
			if s, ok := lsIsoSegment(t, l); ok {
				a, b := pt(s[0]), pt(s[1])
				segs[k] = append(segs[k], [2]vg.Point{a, b})
				c.StrokeLines(line, []vg.Point{a, b})
			}
		}
	}
	fc.labelLines(c, segs)
}

// band returns the index of the band holding z: levels[k] <= z <
// levels[k+1], the top band including its upper level.
func (fc *lsFilledContour) band(z float64) int {
	nb := len(fc.levels) - 1
	for k := range nb {
		if z < fc.levels[k+1] {
			return k
		}
	}
	return nb - 1
}

// fill paints the bands as an image of one pixel per device pixel: the
// value at each pixel centre is the linear interpolant on the cell's
// triangle that holds it (the triangles of Plot), so bands meet the level
// lines exactly and vector polygons' anti-aliasing seams cannot appear.
func (fc *lsFilledContour) fill(c draw.Canvas, plt *plot.Plot) {
	g := fc.f.grid
	dpi := lsDeviceDPI(c)
	w := max(1, int(math.Round((c.Max.X - c.Min.X).Dots(dpi))))
	h := max(1, int(math.Round((c.Max.Y - c.Min.Y).Dots(dpi))))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cols := make([]color.NRGBA, len(fc.levels)-1)
	for k := range cols {
		cols[k] = color.NRGBAModel.Convert(fc.bandColor(k)).(color.NRGBA)
	}
	lo, hi := fc.levels[0], fc.levels[len(fc.levels)-1]
	xmin, xmax, ymin, ymax := plt.X.Min, plt.X.Max, plt.Y.Min, plt.Y.Max
	dx := (g.X.Max - g.X.Min) / float64(g.X.N-1)
	dy := (g.Y.Max - g.Y.Min) / float64(g.Y.N-1)
	for py := range h {
		y := ymax - (float64(py)+0.5)/float64(h)*(ymax-ymin)
		for px := range w {
			x := xmin + (float64(px)+0.5)/float64(w)*(xmax-xmin)
			z, ok := fc.interpolate(x, y, dx, dy)
			if !ok {
				continue
			}
			img.SetNRGBA(px, py, cols[fc.band(math.Max(lo, math.Min(hi, z)))])
		}
	}
	plotter.NewImage(img, xmin, ymin, xmax, ymax).Plot(c, plt)
}

// interpolate returns the value at (x, y): linear on the triangle of the
// grid cell holding the point, the cell being split into four triangles
// about its centre, whose value is the mean of the corners. ok is false
// outside the grid and in cells with a gap at a corner.
func (fc *lsFilledContour) interpolate(x, y, dx, dy float64) (float64, bool) {
	g := fc.f.grid
	fx, fy := (x-g.X.Min)/dx, (y-g.Y.Min)/dy
	if fx < 0 || fy < 0 || fx > float64(g.X.N-1) || fy > float64(g.Y.N-1) {
		return 0, false
	}
	ix, iy := min(int(fx), g.X.N-2), min(int(fy), g.Y.N-2)
	u, v := fx-float64(ix), fy-float64(iy)
	za, zb := fc.f.z[g.Index(ix, iy)], fc.f.z[g.Index(ix+1, iy)]
	zd, zc := fc.f.z[g.Index(ix, iy+1)], fc.f.z[g.Index(ix+1, iy+1)]
	if math.IsNaN(za + zb + zc + zd) {
		return 0, false
	}
	lo, hi := fc.levels[0], fc.levels[len(fc.levels)-1]
	clamp := func(z float64) float64 { return math.Max(lo, math.Min(hi, z)) }
	za, zb, zc, zd = clamp(za), clamp(zb), clamp(zc), clamp(zd)
	zm := (za + zb + zc + zd) / 4
	// In the triangle (P, Q, M) with P, Q adjacent corners and M the
	// centre, a point is P + s(Q-P) + t(M-P); rotating the cell brings
	// each triangle to the bottom one, P = (0,0), Q = (1,0), where
	// t = 2v and s = u - v.
	var zp, zq, s, t float64
	switch {
	case v <= u && v <= 1-u: // bottom: a, b
		zp, zq, s, t = za, zb, u-v, 2*v
	case u >= v && u >= 1-v: // right: b, c
		zp, zq, s, t = zb, zc, v-(1-u), 2*(1-u)
	case v >= u && v >= 1-u: // top: c, d
		zp, zq, s, t = zc, zd, (1-u)-(1-v), 2*(1-v)
	default: // left: d, a
		zp, zq, s, t = zd, za, (1-v)-u, 2*u
	}
	return zp + s*(zq-zp) + t*(zm-zp), true
}

// labelLines writes each level's value on its line where there is room:
// at the middle of a segment far from the plot's edges and from the labels
// already placed, on a pale box so that it stays readable.
func (fc *lsFilledContour) labelLines(c draw.Canvas, segs [][][2]vg.Point) {
	sty := lsText(8, draw.XCenter, draw.YCenter)
	var placed []vg.Point
	for k, ss := range segs {
		if len(ss) == 0 {
			continue
		}
		label := lsLevelLabel(fc.levels[k], fc.step)
		w, h := sty.Width(label), sty.Height(label)
		var total vg.Length
		for _, s := range ss {
			total += lsDist(s[0], s[1])
		}
		if total < 4*w {
			continue // a small blob: the colour bar names it
		}
		best, bestScore := vg.Point{}, vg.Length(-1)
		for _, s := range ss {
			m := vg.Point{X: (s[0].X + s[1].X) / 2, Y: (s[0].Y + s[1].Y) / 2}
			edge := min(m.X-c.Min.X-w, c.Max.X-m.X-w, m.Y-c.Min.Y-2*h, c.Max.Y-m.Y-2*h)
			if edge < 0 {
				continue
			}
			score := min(edge, 4*w)
			for _, q := range placed {
				score = min(score, lsDist(m, q)-2*w)
			}
			if score > bestScore {
				best, bestScore = m, score
			}
		}
		if bestScore < 0 {
			continue
		}
		placed = append(placed, best)
		pad := vg.Points(1.5)
		box := []vg.Point{{X: best.X - w/2 - pad, Y: best.Y - h/2}, {X: best.X + w/2 + pad, Y: best.Y - h/2},
			{X: best.X + w/2 + pad, Y: best.Y + h/2}, {X: best.X - w/2 - pad, Y: best.Y + h/2}}
		c.FillPolygon(color.NRGBA{R: 255, G: 255, B: 255, A: 200}, box)
		c.FillText(sty, best, label)
	}
}

func lsDist(a, b vg.Point) vg.Length {
	return vg.Length(math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)))
}

// lsIsoSegment returns where the linear value on triangle t equals l, when
// that is a segment.
func lsIsoSegment(t [3]lsVtx, l float64) ([2]lsVtx, bool) {
	var pts []lsVtx
	for i := range 3 {
		a, b := t[i], t[(i+1)%3]
		above, bAbove := a.z >= l, b.z >= l
		if above == bAbove {
			continue
		}
		s := (l - a.z) / (b.z - a.z)
		pts = append(pts, lsVtx{a.x + s*(b.x-a.x), a.y + s*(b.y-a.y), l})
	}
	if len(pts) != 2 {
		return [2]lsVtx{}, false
	}
	return [2]lsVtx{pts[0], pts[1]}, true
}

// lsFieldAndColors prepares a landscape for a map or a surface and picks
// its colour map (LandscapePalette unless the options give one).
func lsFieldAndColors(r *landscape.Result, opt LandscapeOptions) (*landscapeField, palette.ColorMap, error) {
	f, err := lsPrepareField(r, opt)
	if err != nil {
		return nil, nil, err
	}
	if opt.ColorMap == nil {
		return f, LandscapePalette(), nil
	}
	return f, opt.ColorMap, nil
}

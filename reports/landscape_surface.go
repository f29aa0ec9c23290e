package reports

import (
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vitprobe/vitprobe/landscape"
)

// Default view of LandscapeSurface, in degrees.
const (
	LandscapeDefaultElevation = 28
	LandscapeDefaultAzimuth   = 35
)

// LandscapeSurface draws a 2-D landscape as a 3-D surface like the paper's
// Fig. 1a: filled quads between grid points, coloured by height with the
// colour map, drawn back to front (painter's algorithm) in an orthographic
// view from opt.Elevation and opt.Azimuth, over a floor and two back walls
// with grid lines, and labelled x, y and z axes. Set opt.Relative and
// opt.Clip for the paper's "loss minus its minimum, clipped". Quads with a
// diverged, missing or clipped corner are left out and counted in a note.
func LandscapeSurface(r *landscape.Result, opt LandscapeOptions) (*LandscapeFigure, error) {
	f, err := lsPrepareField(r, opt)
	if err != nil {
		return nil, err
	}
	cm := opt.ColorMap
	if cm == nil {
		cm = LandscapePalette()
	}
	elev, azim := opt.Elevation, opt.Azimuth
	if elev == 0 {
		elev = LandscapeDefaultElevation
	}
	if azim == 0 {
		azim = LandscapeDefaultAzimuth
	}
	v := lsNewView(elev, azim)
	return &LandscapeFigure{NotDrawn: f.notDrawn(), Width: 6 * vg.Inch, Height: 4.6 * vg.Inch, note: f.note(),
		body: func(c draw.Canvas) { lsDrawSurface(c, f, cm, v) }}, nil
}

// lsBoxHeight is the height of the drawn box relative to its half-width.
const lsBoxHeight = 1.0

// lsView is an orthographic projection of the model box [-1,1]² x [0, H].
type lsView struct {
	cosA, sinA, cosE, sinE float64
}

func lsNewView(elev, azim float64) lsView {
	a, e := azim*math.Pi/180, elev*math.Pi/180
	return lsView{cosA: math.Cos(a), sinA: math.Sin(a), cosE: math.Cos(e), sinE: math.Sin(e)}
}

// project returns the screen position (sx right, sy up, in model units)
// and depth (larger is farther) of model point (u, v, w).
func (vw lsView) project(u, v, w float64) (sx, sy, depth float64) {
	a := u*vw.cosA + v*vw.sinA  // right on screen
	b := -u*vw.sinA + v*vw.cosA // into the screen, horizontally
	return a, w*vw.cosE + b*vw.sinE, b*vw.cosE - w*vw.sinE
}

// lsQuad is one surface patch ready to paint.
type lsQuad struct {
	pts   [4]vg.Point
	depth float64
	col   color.Color
}

func lsDrawSurface(c draw.Canvas, f *landscapeField, cm palette.ColorMap, vw lsView) {
	title := lsText(12, draw.XCenter, draw.YTop)
	title.Color = color.Black
	c.FillText(title, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(6)}, f.title)
	c.Max.Y -= title.Height(f.title) + vg.Points(14)

	g := f.grid
	model := func(ix, iy int, z float64) (float64, float64, float64) {
		u := 2*float64(ix)/float64(g.X.N-1) - 1
		v := 2*float64(iy)/float64(g.Y.N-1) - 1
		w := (math.Max(f.lo, math.Min(f.hi, z)) - f.lo) / (f.hi - f.lo) * lsBoxHeight
		return u, v, w
	}
	// Fit the box's projection into the canvas, leaving room for labels.
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, u := range []float64{-1, 1} {
		for _, v := range []float64{-1, 1} {
			for _, w := range []float64{0, lsBoxHeight} {
				sx, sy, _ := vw.project(u, v, w)
				minX, maxX = math.Min(minX, sx), math.Max(maxX, sx)
				minY, maxY = math.Min(minY, sy), math.Max(maxY, sy)
			}
		}
	}
	left, right := vg.Points(78), vg.Points(54)
	bottom, top := vg.Points(24), vg.Points(4)
	availW := float64(c.Max.X - c.Min.X - left - right)
	availH := float64(c.Max.Y - c.Min.Y - bottom - top)
	scale := math.Min(availW/(maxX-minX), availH/(maxY-minY))
	ox := float64(c.Min.X+left) + (availW-scale*(maxX-minX))/2 - scale*minX
	oy := float64(c.Min.Y+bottom) + (availH-scale*(maxY-minY))/2 - scale*minY
	screen := func(u, v, w float64) (vg.Point, float64) {
		sx, sy, d := vw.project(u, v, w)
		return vg.Point{X: vg.Length(ox + scale*sx), Y: vg.Length(oy + scale*sy)}, d
	}
	pt := func(u, v, w float64) vg.Point { p, _ := screen(u, v, w); return p }

	// The corner farthest from the eye fixes the back walls; the nearest
	// one the front edges that carry the x and y ticks.
	far, near := [2]float64{}, [2]float64{}
	fd, nd := math.Inf(-1), math.Inf(1)
	for _, u := range []float64{-1, 1} {
		for _, v := range []float64{-1, 1} {
			_, d := screen(u, v, 0)
			if d > fd {
				fd, far = d, [2]float64{u, v}
			}
			if d < nd {
				nd, near = d, [2]float64{u, v}
			}
		}
	}
	xt, xstep := lsNiceLevels(g.X.Min, g.X.Max, 4)
	yt, ystep := lsNiceLevels(g.Y.Min, g.Y.Max, 4)
	zt, zstep := lsNiceLevels(f.lo, f.hi, 4)
	inside := func(vals []float64, lo, hi, step float64) []float64 {
		var out []float64
		for _, v := range vals {
			if v >= lo-1e-9*step && v <= hi+1e-9*step {
				out = append(out, v)
			}
		}
		return out
	}
	xt, yt, zt = inside(xt, g.X.Min, g.X.Max, xstep), inside(yt, g.Y.Min, g.Y.Max, ystep), inside(zt, f.lo, f.hi, zstep)
	uOf := func(x float64) float64 { return 2*(x-g.X.Min)/(g.X.Max-g.X.Min) - 1 }
	vOf := func(y float64) float64 { return 2*(y-g.Y.Min)/(g.Y.Max-g.Y.Min) - 1 }
	wOf := func(z float64) float64 { return (z - f.lo) / (f.hi - f.lo) * lsBoxHeight }

	// Floor and back walls, light, with grid lines at the ticks.
	pane := color.NRGBA{R: 246, G: 246, B: 248, A: 255}
	grid := draw.LineStyle{Color: color.NRGBA{R: 200, G: 200, B: 206, A: 255}, Width: vg.Points(0.5)}
	edge := draw.LineStyle{Color: color.NRGBA{R: 150, G: 150, B: 158, A: 255}, Width: vg.Points(0.6)}
	uf, vf := far[0], far[1]
	floor := []vg.Point{pt(-1, -1, 0), pt(1, -1, 0), pt(1, 1, 0), pt(-1, 1, 0)}
	wallU := []vg.Point{pt(uf, -1, 0), pt(uf, 1, 0), pt(uf, 1, lsBoxHeight), pt(uf, -1, lsBoxHeight)}
	wallV := []vg.Point{pt(-1, vf, 0), pt(1, vf, 0), pt(1, vf, lsBoxHeight), pt(-1, vf, lsBoxHeight)}
	for _, p := range [][]vg.Point{floor, wallU, wallV} {
		c.FillPolygon(pane, p)
	}
	for _, x := range xt {
		u := uOf(x)
		c.StrokeLines(grid, []vg.Point{pt(u, -vf, 0), pt(u, vf, 0), pt(u, vf, lsBoxHeight)})
	}
	for _, y := range yt {
		v := vOf(y)
		c.StrokeLines(grid, []vg.Point{pt(-uf, v, 0), pt(uf, v, 0), pt(uf, v, lsBoxHeight)})
	}
	for _, z := range zt {
		w := wOf(z)
		c.StrokeLines(grid, []vg.Point{pt(-uf, vf, w), pt(uf, vf, w), pt(uf, -vf, w)})
	}
	for _, p := range [][]vg.Point{floor, wallU, wallV} {
		c.StrokeLines(edge, append(p, p[0]))
	}

	// The surface, back to front.
	var quads []lsQuad
	for iy := 0; iy+1 < g.Y.N; iy++ {
		for ix := 0; ix+1 < g.X.N; ix++ {
			zs := [4]float64{f.z[g.Index(ix, iy)], f.z[g.Index(ix+1, iy)], f.z[g.Index(ix+1, iy+1)], f.z[g.Index(ix, iy+1)]}
			if math.IsNaN(zs[0] + zs[1] + zs[2] + zs[3]) {
				continue
			}
			var q lsQuad
			corner := [4][2]int{{ix, iy}, {ix + 1, iy}, {ix + 1, iy + 1}, {ix, iy + 1}}
			for k, cr := range corner {
				u, v, w := model(cr[0], cr[1], zs[k])
				p, d := screen(u, v, w)
				q.pts[k] = p
				q.depth += d / 4
			}
			q.col = lsColorAt(cm, f.lo, f.hi, (zs[0]+zs[1]+zs[2]+zs[3])/4)
			quads = append(quads, q)
		}
	}
	slices.SortStableFunc(quads, func(a, b lsQuad) int {
		switch {
		case a.depth > b.depth:
			return -1
		case a.depth < b.depth:
			return 1
		}
		return 0
	})
	mesh := draw.LineStyle{Color: color.NRGBA{A: 70}, Width: vg.Points(0.3)}
	if g.X.N > 41 || g.Y.N > 41 {
		mesh.Color = color.NRGBA{A: 0} // a dense mesh would only darken the surface
	}
	for _, q := range quads {
		c.FillPolygon(q.col, q.pts[:])
		c.StrokeLines(draw.LineStyle{Color: q.col, Width: vg.Points(0.3)}, append(q.pts[:], q.pts[0]))
		if mesh.Color.(color.NRGBA).A > 0 {
			c.StrokeLines(mesh, append(q.pts[:], q.pts[0]))
		}
	}

	// Axes: x and y ticks on the front floor edges, z on the leftmost
	// vertical edge, labels outside the box.
	axis := draw.LineStyle{Color: landscapeInk, Width: vg.Points(0.6)}
	tickSty := lsText(9, draw.XCenter, draw.YCenter)
	labelSty := lsText(11, draw.XCenter, draw.YCenter)
	un, vn := near[0], near[1]
	centre := pt(0, 0, 0)
	outward := func(p vg.Point, dir vg.Point, by vg.Length) vg.Point {
		n := math.Hypot(float64(dir.X), float64(dir.Y))
		if n == 0 {
			return p
		}
		return vg.Point{X: p.X + vg.Length(float64(dir.X)/n)*by, Y: p.Y + vg.Length(float64(dir.Y)/n)*by}
	}
	// x ticks on the edge v = vn, pointing away from the box.
	xdir := pt(0, vn, 0).Sub(centre)
	c.StrokeLines(axis, []vg.Point{pt(-1, vn, 0), pt(1, vn, 0)})
	for _, x := range xt {
		p := pt(uOf(x), vn, 0)
		c.StrokeLines(axis, []vg.Point{p, outward(p, xdir, vg.Points(4))})
		c.FillText(lsAlignAway(tickSty, xdir), outward(p, xdir, vg.Points(7)), lsLevelLabel(x, xstep))
	}
	mid := pt(0, vn, 0)
	c.FillText(lsAlignAway(labelSty, xdir), outward(mid, xdir, vg.Points(24)), "x (direction 1)")
	ydir := pt(un, 0, 0).Sub(centre)
	c.StrokeLines(axis, []vg.Point{pt(un, -1, 0), pt(un, 1, 0)})
	for _, y := range yt {
		p := pt(un, vOf(y), 0)
		c.StrokeLines(axis, []vg.Point{p, outward(p, ydir, vg.Points(4))})
		c.FillText(lsAlignAway(tickSty, ydir), outward(p, ydir, vg.Points(7)), lsLevelLabel(y, ystep))
	}
	mid = pt(un, 0, 0)
	c.FillText(lsAlignAway(labelSty, ydir), outward(mid, ydir, vg.Points(24)), "y (direction 2)")
	// z on the corner leftmost on screen.
	zc := [2]float64{-1, -1}
	for _, u := range []float64{-1, 1} {
		for _, v := range []float64{-1, 1} {
			if pt(u, v, 0).X < pt(zc[0], zc[1], 0).X {
				zc = [2]float64{u, v}
			}
		}
	}
	base, topP := pt(zc[0], zc[1], 0), pt(zc[0], zc[1], lsBoxHeight)
	c.StrokeLines(axis, []vg.Point{base, topP})
	zl := lsText(9, draw.XRight, draw.YCenter)
	var widest vg.Length
	for _, z := range zt {
		p := pt(zc[0], zc[1], wOf(z))
		c.StrokeLine2(axis, p.X, p.Y, p.X-vg.Points(4), p.Y)
		s := lsLevelLabel(z, zstep)
		c.FillText(zl, vg.Point{X: p.X - vg.Points(6), Y: p.Y}, s)
		widest = max(widest, zl.Width(s))
	}
	zs := lsText(11, draw.XCenter, draw.YBottom)
	zs.Rotation = math.Pi / 2
	c.FillText(zs, vg.Point{X: base.X - vg.Points(12) - widest, Y: (base.Y + topP.Y) / 2}, f.zLabel)
}

// lsAlignAway aligns text so that it sits on the side of its point that dir
// points to.
func lsAlignAway(sty text.Style, dir vg.Point) text.Style {
	n := math.Hypot(float64(dir.X), float64(dir.Y))
	dx, dy := float64(dir.X)/n, float64(dir.Y)/n
	switch {
	case dx > 0.4:
		sty.XAlign = draw.XLeft
	case dx < -0.4:
		sty.XAlign = draw.XRight
	default:
		sty.XAlign = draw.XCenter
	}
	switch {
	case dy > 0.4:
		sty.YAlign = draw.YBottom
	case dy < -0.4:
		sty.YAlign = draw.YTop
	default:
		sty.YAlign = draw.YCenter
	}
	return sty
}

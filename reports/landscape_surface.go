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
func LandscapeSurface(r *landscape.Result, opt LandscapeOptions) (*Figure, error) {
	f, cm, err := lsFieldAndColors(r, opt)
	if err != nil {
		return nil, err
	}
	elev, azim := opt.Elevation, opt.Azimuth
	if elev == 0 {
		elev = LandscapeDefaultElevation
	}
	if azim == 0 {
		azim = LandscapeDefaultAzimuth
	}
	v := lsNewView(elev, azim)
	return landscapeFigure(f.notDrawn(), 6*vg.Inch, 4.6*vg.Inch, f.note(), func(c draw.Canvas) { lsDrawSurface(c, f, cm, v) }), nil
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

// lsDrawSurface draws a landscape as a 3-D surface in its box: the title,
// the floor and back walls with grid lines, the surface back to front, the
// axes.
func lsDrawSurface(c draw.Canvas, f *landscapeField, cm palette.ColorMap, vw lsView) {
	title := lsText(12, draw.XCenter, draw.YTop)
	title.Color = color.Black
	c.FillText(title, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(6)}, f.title)
	c.Max.Y -= title.Height(f.title) + vg.Points(14)
	sc := newLsScene(c, f, vw)
	sc.walls()
	sc.surface(cm)
	sc.xyAxes()
	sc.zAxis()
}

// lsScene is a surface figure's projection fitted into its canvas, with the
// box's far and near corners and the ticks of the three axes.
type lsScene struct {
	c                   draw.Canvas
	f                   *landscapeField
	vw                  lsView
	scale, ox, oy       float64
	far, near           [2]float64
	xt, yt, zt          []float64
	xstep, ystep, zstep float64
}

func newLsScene(c draw.Canvas, f *landscapeField, vw lsView) *lsScene {
	sc := &lsScene{c: c, f: f, vw: vw}
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
	sc.scale = math.Min(availW/(maxX-minX), availH/(maxY-minY))
	sc.ox = float64(c.Min.X+left) + (availW-sc.scale*(maxX-minX))/2 - sc.scale*minX
	sc.oy = float64(c.Min.Y+bottom) + (availH-sc.scale*(maxY-minY))/2 - sc.scale*minY
	// The corner farthest from the eye fixes the back walls; the nearest
	// one the front edges that carry the x and y ticks.
	fd, nd := math.Inf(-1), math.Inf(1)
	for _, u := range []float64{-1, 1} {
		for _, v := range []float64{-1, 1} {
			_, d := sc.screen(u, v, 0)
			if d > fd {
				fd, sc.far = d, [2]float64{u, v}
			}
			if d < nd {
				nd, sc.near = d, [2]float64{u, v}
			}
		}
	}
	g := f.grid
	sc.xt, sc.xstep = lsTicksInside(g.X.Min, g.X.Max)
	sc.yt, sc.ystep = lsTicksInside(g.Y.Min, g.Y.Max)
	sc.zt, sc.zstep = lsTicksInside(f.lo, f.hi)
	return sc
}

// lsTicksInside returns about four nice levels in [lo, hi] and their step.
func lsTicksInside(lo, hi float64) ([]float64, float64) {
	vals, step := lsNiceLevels(lo, hi, 4)
	var out []float64
	for _, v := range vals {
		if v >= lo-1e-9*step && v <= hi+1e-9*step {
			out = append(out, v)
		}
	}
	return out, step
}

// screen returns the canvas point and depth of model point (u, v, w).
func (sc *lsScene) screen(u, v, w float64) (vg.Point, float64) {
	sx, sy, d := sc.vw.project(u, v, w)
	return vg.Point{X: vg.Length(sc.ox + sc.scale*sx), Y: vg.Length(sc.oy + sc.scale*sy)}, d
}

func (sc *lsScene) pt(u, v, w float64) vg.Point { p, _ := sc.screen(u, v, w); return p }

// Model coordinates of grid values.
func (sc *lsScene) uOf(x float64) float64 {
	g := sc.f.grid
	return 2*(x-g.X.Min)/(g.X.Max-g.X.Min) - 1
}

func (sc *lsScene) vOf(y float64) float64 {
	g := sc.f.grid
	return 2*(y-g.Y.Min)/(g.Y.Max-g.Y.Min) - 1
}

func (sc *lsScene) wOf(z float64) float64 { return (z - sc.f.lo) / (sc.f.hi - sc.f.lo) * lsBoxHeight }

// walls draws the floor and back walls, light, with grid lines at the
// ticks.
func (sc *lsScene) walls() {
	c, pt := sc.c, sc.pt
	pane := color.NRGBA{R: 246, G: 246, B: 248, A: 255}
	grid := draw.LineStyle{Color: color.NRGBA{R: 200, G: 200, B: 206, A: 255}, Width: vg.Points(0.5)}
	edge := draw.LineStyle{Color: color.NRGBA{R: 150, G: 150, B: 158, A: 255}, Width: vg.Points(0.6)}
	uf, vf := sc.far[0], sc.far[1]
	floor := []vg.Point{pt(-1, -1, 0), pt(1, -1, 0), pt(1, 1, 0), pt(-1, 1, 0)}
	wallU := []vg.Point{pt(uf, -1, 0), pt(uf, 1, 0), pt(uf, 1, lsBoxHeight), pt(uf, -1, lsBoxHeight)}
	wallV := []vg.Point{pt(-1, vf, 0), pt(1, vf, 0), pt(1, vf, lsBoxHeight), pt(-1, vf, lsBoxHeight)}
	for _, p := range [][]vg.Point{floor, wallU, wallV} {
		c.FillPolygon(pane, p)
	}
	for _, x := range sc.xt {
		u := sc.uOf(x)
		c.StrokeLines(grid, []vg.Point{pt(u, -vf, 0), pt(u, vf, 0), pt(u, vf, lsBoxHeight)})
	}
	for _, y := range sc.yt {
		v := sc.vOf(y)
		c.StrokeLines(grid, []vg.Point{pt(-uf, v, 0), pt(uf, v, 0), pt(uf, v, lsBoxHeight)})
	}
	for _, z := range sc.zt {
		w := sc.wOf(z)
		c.StrokeLines(grid, []vg.Point{pt(-uf, vf, w), pt(uf, vf, w), pt(uf, -vf, w)})
	}
	for _, p := range [][]vg.Point{floor, wallU, wallV} {
		c.StrokeLines(edge, append(p, p[0]))
	}
}

// surface paints the surface's patches back to front.
func (sc *lsScene) surface(cm palette.ColorMap) {
	f, g := sc.f, sc.f.grid
	model := func(ix, iy int, z float64) (float64, float64, float64) {
		u := 2*float64(ix)/float64(g.X.N-1) - 1
		v := 2*float64(iy)/float64(g.Y.N-1) - 1
		w := (math.Max(f.lo, math.Min(f.hi, z)) - f.lo) / (f.hi - f.lo) * lsBoxHeight
		return u, v, w
	}
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
				p, d := sc.screen(u, v, w)
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
		sc.c.FillPolygon(q.col, q.pts[:])
		sc.c.StrokeLines(draw.LineStyle{Color: q.col, Width: vg.Points(0.3)}, append(q.pts[:], q.pts[0]))
		if mesh.Color.(color.NRGBA).A > 0 {
			sc.c.StrokeLines(mesh, append(q.pts[:], q.pts[0]))
		}
	}
}

// outward moves p by `by` in direction dir.
func outward(p vg.Point, dir vg.Point, by vg.Length) vg.Point {
	n := math.Hypot(float64(dir.X), float64(dir.Y))
	if n == 0 {
		return p
	}
	return vg.Point{X: p.X + vg.Length(float64(dir.X)/n)*by, Y: p.Y + vg.Length(float64(dir.Y)/n)*by}
}

// xyAxes draws the x and y ticks and labels on the front floor edges,
// outside the box.
func (sc *lsScene) xyAxes() {
	c, pt := sc.c, sc.pt
	axis := draw.LineStyle{Color: landscapeInk, Width: vg.Points(0.6)}
	tickSty := lsText(9, draw.XCenter, draw.YCenter)
	labelSty := lsText(11, draw.XCenter, draw.YCenter)
	un, vn := sc.near[0], sc.near[1]
	centre := pt(0, 0, 0)
	// x ticks on the edge v = vn, pointing away from the box.
	xdir := pt(0, vn, 0).Sub(centre)
	c.StrokeLines(axis, []vg.Point{pt(-1, vn, 0), pt(1, vn, 0)})
	for _, x := range sc.xt {
		p := pt(sc.uOf(x), vn, 0)
		c.StrokeLines(axis, []vg.Point{p, outward(p, xdir, vg.Points(4))})
		c.FillText(lsAlignAway(tickSty, xdir), outward(p, xdir, vg.Points(7)), lsLevelLabel(x, sc.xstep))
	}
	c.FillText(lsAlignAway(labelSty, xdir), outward(pt(0, vn, 0), xdir, vg.Points(24)), "x (direction 1)")
	ydir := pt(un, 0, 0).Sub(centre)
	c.StrokeLines(axis, []vg.Point{pt(un, -1, 0), pt(un, 1, 0)})
	for _, y := range sc.yt {
		p := pt(un, sc.vOf(y), 0)
		c.StrokeLines(axis, []vg.Point{p, outward(p, ydir, vg.Points(4))})
		c.FillText(lsAlignAway(tickSty, ydir), outward(p, ydir, vg.Points(7)), lsLevelLabel(y, sc.ystep))
	}
	c.FillText(lsAlignAway(labelSty, ydir), outward(pt(un, 0, 0), ydir, vg.Points(24)), "y (direction 2)")
}

// zAxis draws the z axis on the box's vertical edge leftmost on screen,
// with its ticks and label.
func (sc *lsScene) zAxis() {
	c, pt := sc.c, sc.pt
	axis := draw.LineStyle{Color: landscapeInk, Width: vg.Points(0.6)}
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
	for _, z := range sc.zt {
		p := pt(zc[0], zc[1], sc.wOf(z))
		c.StrokeLine2(axis, p.X, p.Y, p.X-vg.Points(4), p.Y)
		s := lsLevelLabel(z, sc.zstep)
		c.FillText(zl, vg.Point{X: p.X - vg.Points(6), Y: p.Y}, s)
		widest = max(widest, zl.Width(s))
	}
	zs := lsText(11, draw.XCenter, draw.YBottom)
	zs.Rotation = math.Pi / 2
	c.FillText(zs, vg.Point{X: base.X - vg.Points(12) - widest, Y: (base.Y + topP.Y) / 2}, sc.f.zLabel)
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

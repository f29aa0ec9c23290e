package reports

import (
	"flag"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/vitprobe/vitprobe/landscape"
)

// lsKeepPNG writes the test figures to this folder to look at them
// (go test ./reports -run Landscape -landscape.out=/tmp/plots).
var lsKeepPNG = flag.String("landscape.out", "", "write the landscape test figures to this folder")

// lsUpdate rewrites the golden images (go test ./reports -run Landscape
// -landscape.update), after looking at the new ones.
var lsUpdate = flag.Bool("landscape.update", false, "rewrite reports/testdata/landscape_*_golden.png")

// lsGolden compares img with testdata/landscape_<name>_golden.png. Font
// rasterisation and anti-aliasing may move a few pixels between versions
// of the libraries, so the test allows a small mean difference (1% of the
// range) and a few strongly different pixels (0.5%); a moved axis, a
// changed palette or a missing surface exceeds both by far.
func lsGolden(t *testing.T, img image.Image, name string) {
	t.Helper()
	path := filepath.Join("testdata", "landscape_"+name+"_golden.png")
	if *lsUpdate {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run with -landscape.update to create it)", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != want.Bounds() {
		t.Fatalf("%s: size %v, golden %v", name, img.Bounds().Size(), want.Bounds().Size())
	}
	b := img.Bounds()
	var sum float64
	far := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			d := max(absDiff(r1, r2), absDiff(g1, g2), absDiff(b1, b2)) / 0xffff
			sum += d
			if d > 0.25 {
				far++
			}
		}
	}
	n := float64(b.Dx() * b.Dy())
	if mean, share := sum/n, float64(far)/n; mean > 0.01 || share > 0.005 {
		t.Errorf("%s differs from %s: mean difference %.2f%%, %.2f%% of pixels far off (look at it with -landscape.out, then -landscape.update)",
			name, path, 100*mean, 100*share)
	}
}

func absDiff(a, b uint32) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

// lsSynth returns a 2-D result of nll(x, y) on an n x n grid over [-1, 1]^2,
// with l2 = 100 + 20(x²+y²) and Σ‖w‖² = 200 + 40(x²+y²), so that loss =
// NLL + 0.025·Σ‖w‖² (the official NLL + 0.05·l2 alike) differs from NLL.
func lsSynth(n int, nll func(x, y float64) float64) *landscape.Result {
	g, err := landscape.NewGrid2(-1, 1, n, -1, 1, n)
	if err != nil {
		panic(err)
	}
	r := &landscape.Result{Spec: landscape.Spec{Grid: g, WeightDecay: 0.05}}
	for i := range g.Len() {
		x, y := g.Point(i)
		v := nll(x, y)
		acc := 0.95 * math.Exp(-v/3)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			acc = math.NaN()
		}
		r.Points = append(r.Points, landscape.Point{Index: i, X: x, Y: y, Metrics: landscape.Metrics{
			NLL: v, Acc: acc, L1: 3000 + 10*(x*x+y*y), L2: 100 + 20*(x*x+y*y), SqNorm: 200 + 40*(x*x+y*y)}})
	}
	return r
}

// lsBowl is z = x² + 3y² with three diverged points.
func lsBowl(n int) *landscape.Result {
	return lsSynth(n, func(x, y float64) float64 {
		switch {
		case x == 1 && y == 1, x == -1 && y == 0.5:
			return math.NaN()
		case x == 0.5 && y == -1:
			return math.Inf(1)
		}
		return 0.5 + x*x + 3*y*y
	})
}

// lsSaddle is z = x² - y² shifted to be positive.
func lsSaddle(n int) *landscape.Result {
	return lsSynth(n, func(x, y float64) float64 { return 2 + x*x - y*y })
}

// lsRender saves fig as a PNG in a temporary (or the -landscape.out) folder
// and returns the decoded image.
func lsRender(t *testing.T, fig *Figure, name string) image.Image {
	t.Helper()
	dir := *lsKeepPNG
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := fig.Save(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// lsInkStats returns the share of pixels that are not white and the number
// of distinct colours (quantised to 4 bits per channel).
func lsInkStats(img image.Image) (ink float64, colours int) {
	b := img.Bounds()
	seen := map[uint32]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				n++
			}
			seen[(r>>12)<<8|(g>>12)<<4|bl>>12] = true
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), len(seen)
}

// lsCheckImage asserts a figure is neither blank nor a single blot: a
// colour map over most of the canvas leaves 15-90% ink and many colours.
func lsCheckImage(t *testing.T, img image.Image, name string, minColours int) {
	t.Helper()
	ink, colours := lsInkStats(img)
	if ink < 0.10 || ink > 0.90 {
		t.Errorf("%s: %.0f%% of the pixels are inked, want 10-90%%", name, 100*ink)
	}
	if colours < minColours {
		t.Errorf("%s: %d distinct colours, want at least %d", name, colours, minColours)
	}
}

// lsCheckCurves asserts a line figure is drawn: lines, axes and text ink
// 2-30% of the canvas.
func lsCheckCurves(t *testing.T, img image.Image, name string) {
	t.Helper()
	if ink, _ := lsInkStats(img); ink < 0.02 || ink > 0.30 {
		t.Errorf("%s: %.1f%% of the pixels are inked, want 2-30%%", name, 100*ink)
	}
}

func TestLandscapeMaps(t *testing.T) {
	for _, c := range []struct {
		name string
		r    *landscape.Result
		opt  LandscapeOptions
	}{
		{"bowl_loss", lsBowl(21), LandscapeOptions{}},
		{"bowl_nll_rel", lsBowl(21), LandscapeOptions{Quantity: landscape.QuantityNLL, Relative: true, Clip: 3}},
		{"saddle", lsSaddle(21), LandscapeOptions{Quantity: landscape.QuantityNLL}},
	} {
		heat, err := LandscapeHeatMap(c.r, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		img := lsRender(t, heat, "heat_"+c.name)
		lsCheckImage(t, img, "heat_"+c.name, 40)
		if c.name == "saddle" {
			lsGolden(t, img, "heat_saddle")
		}
		cont, err := LandscapeContour(c.r, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		img = lsRender(t, cont, "contour_"+c.name)
		lsCheckImage(t, img, "contour_"+c.name, 20)
		if c.name == "bowl_loss" {
			lsGolden(t, img, "contour_bowl")
		}
		surf, err := LandscapeSurface(c.r, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		img = lsRender(t, surf, "surface_"+c.name)
		lsCheckImage(t, img, "surface_"+c.name, 40)
		if c.name == "bowl_nll_rel" {
			lsGolden(t, img, "surface_bowl_clipped")
		}
	}
}

// lsLine returns a 1-D result of nll(x) on n points over [-1, 1].
func lsLine(n int, kind string, nll func(x float64) float64) *landscape.Result {
	g, err := landscape.NewGrid1(-1, 1, n)
	if err != nil {
		panic(err)
	}
	r := &landscape.Result{Spec: landscape.Spec{Grid: g, WeightDecay: 0.05, Directions: landscape.DirSpec{Kind: kind}}}
	for i := range g.Len() {
		x, _ := g.Point(i)
		v := nll(x)
		r.Points = append(r.Points, landscape.Point{Index: i, X: x, Metrics: landscape.Metrics{
			NLL: v, Acc: 0.95 * math.Exp(-v/3), L1: 3000, L2: 100 + 20*x*x}})
	}
	return r
}

func TestLandscapeCurves(t *testing.T) {
	a := lsLine(41, "random", func(x float64) float64 {
		if x > 0.6 && x < 0.75 || x == -0.95 {
			return math.NaN() // a broken stretch and an isolated gap
		}
		return 0.4 + 2*x*x
	})
	b := lsLine(41, "random", func(x float64) float64 { return 0.8 + 3*x*x*x*x + 0.3*x })
	fig, err := LandscapeCurves([]LandscapeSeries{{Name: "ViT-Ti", Result: a}, {Name: "ResNet-18", Result: b}}, LandscapeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fig.Skipped != 3 {
		t.Errorf("Skipped = %d, want 3", fig.Skipped)
	}
	img := lsRender(t, fig, "curves")
	lsCheckCurves(t, img, "curves")
	lsGolden(t, img, "curves")
	between := lsLine(21, "between", func(x float64) float64 { return 2.3 - 1.8*x + 0.5*x*x })
	fig, err = LandscapeCurves([]LandscapeSeries{{Result: between}}, LandscapeOptions{Quantity: landscape.QuantityNLL})
	if err != nil {
		t.Fatal(err)
	}
	lsCheckCurves(t, lsRender(t, fig, "curves_between"), "curves_between")
	if _, err := LandscapeCurves([]LandscapeSeries{{Result: lsBowl(5)}}, LandscapeOptions{}); err == nil || !strings.Contains(err.Error(), "2-D") {
		t.Errorf("2-D series: err = %v", err)
	}
	allNaN := lsLine(5, "random", func(float64) float64 { return math.NaN() })
	if _, err := LandscapeCurves([]LandscapeSeries{{Result: allNaN}}, LandscapeOptions{}); err == nil || !strings.Contains(err.Error(), "nothing to draw") {
		t.Errorf("all NaN: err = %v", err)
	}
}

func TestLandscapeSideBySide(t *testing.T) {
	panels := []LandscapePanel{{Title: "ViT-Ti (bowl)", Result: lsBowl(21)}, {Title: "ResNet-18 (saddle)", Result: lsSaddle(21)}}
	for _, kind := range []LandscapeKind{LandscapeKindContour, LandscapeKindSurface, LandscapeKindHeatMap} {
		fig, err := LandscapeSideBySide(kind, panels, LandscapeOptions{Quantity: landscape.QuantityNLL, Relative: true, Clip: 2.5})
		if err != nil {
			t.Fatal(err)
		}
		lsCheckImage(t, lsRender(t, fig, "side_"+string(kind)), "side_"+string(kind), 20)
	}
	if _, err := LandscapeSideBySide("pie", panels, LandscapeOptions{}); err == nil {
		t.Error("unknown kind: no error")
	}
	bad := append(panels, LandscapePanel{Title: "dead", Result: lsSynth(5, func(x, y float64) float64 { return math.NaN() })})
	if _, err := LandscapeSideBySide(LandscapeKindContour, bad, LandscapeOptions{}); err == nil || !strings.Contains(err.Error(), `panel 3, "dead"`) {
		t.Errorf("all-NaN panel: err = %v", err)
	}
}

func TestLandscapeAllNaNIsAnError(t *testing.T) {
	r := lsSynth(5, func(x, y float64) float64 { return math.NaN() })
	if _, err := LandscapeHeatMap(r, LandscapeOptions{}); err == nil || !strings.Contains(err.Error(), "all 25 points are diverged") {
		t.Errorf("heat map: err = %v", err)
	}
	if _, err := LandscapeContour(r, LandscapeOptions{}); err == nil {
		t.Error("contour: no error")
	}
	if _, err := LandscapeSurface(r, LandscapeOptions{}); err == nil {
		t.Error("surface: no error")
	}
	// Clipping everything away is an error too, and a flat field is not.
	if _, err := LandscapeHeatMap(lsBowl(5), LandscapeOptions{Clip: 0.1}); err == nil || !strings.Contains(err.Error(), "clip") {
		t.Errorf("all clipped: err = %v", err)
	}
	flat := lsSynth(5, func(x, y float64) float64 { return 1 })
	for _, kind := range []LandscapeKind{LandscapeKindContour, LandscapeKindSurface, LandscapeKindHeatMap} {
		fig, err := LandscapeFigureOf(kind, flat, LandscapeOptions{Quantity: landscape.QuantityNLL})
		if err != nil {
			t.Fatalf("flat %s: %v", kind, err)
		}
		lsRender(t, fig, "flat_"+string(kind))
	}
}

// LandscapeGrid is column-first like every plotter.GridXYZ: Z(c, r) is the
// value at (X(c), Y(r)).
var _ plotter.GridXYZ = (*LandscapeGrid)(nil)

func TestLandscapeGridOrientation(t *testing.T) {
	r := lsSynth(5, func(x, y float64) float64 { return 10*x + y })
	g, err := NewLandscapeGrid(r, landscape.QuantityNLL)
	if err != nil {
		t.Fatal(err)
	}
	if c, rows := g.Dims(); c != 5 || rows != 5 {
		t.Fatalf("Dims = %d, %d", c, rows)
	}
	for c := range 5 {
		for row := range 5 {
			if want := 10*g.X(c) + g.Y(row); g.Z(c, row) != want {
				t.Errorf("Z(%d, %d) = %g, want %g", c, row, g.Z(c, row), want)
			}
		}
	}
	// gonum's own heat map draws it, NaN cells included.
	r.Points[7].NLL = math.NaN()
	g, _ = NewLandscapeGrid(r, landscape.QuantityNLL)
	p := plot.New()
	p.Add(plotter.NewHeatMap(g, LandscapePalette().Palette(16)))
	p.Draw(draw.New(vgimg.New(2*vg.Inch, 2*vg.Inch)))
	if _, err := NewLandscapeGrid(lsLine(5, "random", func(x float64) float64 { return x }), landscape.QuantityNLL); err == nil {
		t.Error("1-D result: no error")
	}
}

func TestLandscapeLevels(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		n      int
		step   float64
		first  float64
		last   float64
		labels string
	}{
		{0, 2.5, 10, 0.25, 0, 2.5, "0.00 0.25"},
		{5.3, 11.8, 10, 0.5, 5, 12, "5.0 5.5"},
		{1, 3, 10, 0.2, 1, 3, "1.0 1.2"},
		{-0.013, 0.021, 5, 0.005, -0.015, 0.025, "-0.015 -0.010"},
		{0, 1000, 4, 250, 0, 1000, "0 250"},
	} {
		lv, step := lsNiceLevels(c.lo, c.hi, c.n)
		if math.Abs(step-c.step) > 1e-12 || math.Abs(lv[0]-c.first) > 1e-12 || math.Abs(lv[len(lv)-1]-c.last) > 1e-12 {
			t.Errorf("[%g, %g] in ~%d: step %g, levels %v", c.lo, c.hi, c.n, step, lv)
		}
		if got := lsLevelLabel(lv[0], step) + " " + lsLevelLabel(lv[1], step); got != c.labels {
			t.Errorf("[%g, %g]: labels %q, want %q", c.lo, c.hi, got, c.labels)
		}
	}
}

// The filled bands and the level lines come from one interpolant: the
// value at every point of every level segment is the level. 1e-9 is
// rounding on values of order 1.
func TestLandscapeContourBandsMeetLines(t *testing.T) {
	r := lsSaddle(9)
	f, err := lsPrepareField(r, LandscapeOptions{Quantity: landscape.QuantityNLL})
	if err != nil {
		t.Fatal(err)
	}
	levels, step := lsNiceLevels(f.lo, f.hi, 10)
	fc := &lsFilledContour{f: f, levels: levels, step: step, cm: LandscapePalette()}
	g := f.grid
	dx := (g.X.Max - g.X.Min) / float64(g.X.N-1)
	dy := (g.Y.Max - g.Y.Min) / float64(g.Y.N-1)
	checked := 0
	for iy := 0; iy+1 < g.Y.N; iy++ {
		for ix := 0; ix+1 < g.X.N; ix++ {
			x0, x1, y0, y1 := g.X.Coord(ix), g.X.Coord(ix+1), g.Y.Coord(iy), g.Y.Coord(iy+1)
			a := lsVtx{x0, y0, f.z[g.Index(ix, iy)]}
			b := lsVtx{x1, y0, f.z[g.Index(ix+1, iy)]}
			c := lsVtx{x1, y1, f.z[g.Index(ix+1, iy+1)]}
			d := lsVtx{x0, y1, f.z[g.Index(ix, iy+1)]}
			m := lsVtx{(x0 + x1) / 2, (y0 + y1) / 2, (a.z + b.z + c.z + d.z) / 4}
			for _, tri := range [][3]lsVtx{{a, b, m}, {b, c, m}, {c, d, m}, {d, a, m}} {
				for _, l := range levels[1 : len(levels)-1] {
					s, ok := lsIsoSegment(tri, l)
					if !ok {
						continue
					}
					for _, w := range []float64{0.25, 0.5, 0.75} {
						x, y := s[0].x+w*(s[1].x-s[0].x), s[0].y+w*(s[1].y-s[0].y)
						z, ok := fc.interpolate(x, y, dx, dy)
						if !ok || math.Abs(z-l) > 1e-9 {
							t.Fatalf("cell (%d, %d) level %g: interpolant %g at (%g, %g)", ix, iy, l, z, x, y)
						}
						checked++
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d points checked", checked)
	}
}

// Only points whose drawn value is not finite count as not drawn.
func TestLandscapeCountsWhatIsNotDrawn(t *testing.T) {
	r := lsSynth(5, func(x, y float64) float64 { return x*x + y*y })
	r.Points[3].Acc = math.NaN() // NLL still finite
	r.Points[4].NLL = math.Inf(1)
	r.Points = append(r.Points[:10], r.Points[11:]...) // point 10 missing
	fig, err := LandscapeHeatMap(r, LandscapeOptions{Quantity: landscape.QuantityNLL})
	if err != nil {
		t.Fatal(err)
	}
	if fig.Skipped != 2 || fig.note != "1 diverged point (NaN/Inf), 1 missing point not drawn" {
		t.Errorf("NLL: Skipped %d, note %q", fig.Skipped, fig.note)
	}
	fig, err = LandscapeHeatMap(r, LandscapeOptions{Quantity: landscape.QuantityAcc})
	if err != nil {
		t.Fatal(err)
	}
	if fig.Skipped != 2 {
		t.Errorf("Acc: Skipped %d, want 2 (the NaN accuracy and the missing point)", fig.Skipped)
	}
}

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

	"gonum.org/v1/plot/vg"

	"github.com/vitprobe/vitprobe/landscape"
)

// lsKeepPNG writes the test figures to this folder to look at them
// (go test ./reports -run Landscape -landscape.out=/tmp/plots).
var lsKeepPNG = flag.String("landscape.out", "", "write the landscape test figures to this folder")

// lsSynth returns a 2-D result of nll(x, y) on an n x n grid over [-1, 1]^2,
// with l2 = 100 + 20(x²+y²) so that loss = NLL + 0.05*l2 differs from NLL.
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
			NLL: v, Acc: acc, L1: 3000 + 10*(x*x+y*y), L2: 100 + 20*(x*x+y*y)}})
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
func lsRender(t *testing.T, fig *LandscapeFigure, name string) image.Image {
	t.Helper()
	dir := *lsKeepPNG
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := fig.Save(path, 0, 0); err != nil {
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
		lsCheckImage(t, lsRender(t, heat, "heat_"+c.name), "heat_"+c.name, 40)
		cont, err := LandscapeContour(c.r, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		lsCheckImage(t, lsRender(t, cont, "contour_"+c.name), "contour_"+c.name, 20)
		surf, err := LandscapeSurface(c.r, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		lsCheckImage(t, lsRender(t, surf, "surface_"+c.name), "surface_"+c.name, 40)
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
	if fig.NotDrawn != 3 {
		t.Errorf("NotDrawn = %d, want 3", fig.NotDrawn)
	}
	lsCheckCurves(t, lsRender(t, fig, "curves"), "curves")
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
	_ = vg.Inch
}

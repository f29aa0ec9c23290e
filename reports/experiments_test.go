package reports

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// box returns the bounding box of the pixels close to colour c.
func box(img image.Image, c color.Color) (image.Rectangle, int) {
	cr, cg, cb, _ := c.RGBA()
	near := func(a, b uint32) bool { return math.Abs(float64(a)-float64(b)) < 0x1800 }
	var r image.Rectangle
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, cr) && near(pg, cg) && near(pb, cb) {
				p := image.Rect(x, y, x+1, y+1)
				if n == 0 {
					r = p
				} else {
					r = r.Union(p)
				}
				n++
			}
		}
	}
	return r, n
}

func TestIntervalPlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "iv.png")
	s := []IntervalSeries{
		{Label: "a", X: []float64{2, 6, 20, 100}, Y: []float64{90, 95, 98, 99}, Err: []float64{1, 0.5, math.NaN(), 0}, Labels: []string{"2%", "6%", "20%", "100%"}},
		{Label: "b", X: []float64{2, 6, 20, 100}, Y: []float64{80, 90, math.NaN(), 99.5}, Lo: []float64{78, 89, 0, math.NaN()}, Hi: []float64{83, 91, 0, math.NaN()}, Hollow: true, NoLine: true},
	}
	if err := saved(path)(IntervalPlot(s, &IntervalPlotOptions{Title: "accuracy", XLabel: "share", YLabel: "%", LogX: true})); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	img := decodePNG(t, path)
	if _, n := box(img, Palette(0)); n < 200 {
		t.Errorf("series a: %d pixels of its colour", n)
	}
	if _, n := box(img, Palette(1)); n < 30 {
		t.Errorf("series b: %d pixels of its colour", n)
	}
	for _, bad := range [][]IntervalSeries{nil, {{X: []float64{1}, Y: []float64{1, 2}}}, {{X: []float64{1}, Y: []float64{1}, Lo: []float64{0}}},
		{{X: []float64{math.NaN()}, Y: []float64{1}}}} {
		if _, err := IntervalPlot(bad, nil); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestTrajectoryPolar: distance and angle are drawn to one scale: a ray
// at 45° spans as many pixels up as across, one at 0° lies flat.
func TestTrajectoryPolar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "polar.png")
	var flat, diag PolarSeries
	for i := 0; i <= 10; i++ {
		r := float64(i) / 10
		flat.R, flat.Theta = append(flat.R, r), append(flat.Theta, 0)
		diag.R, diag.Theta = append(diag.R, r), append(diag.Theta, math.Pi/4)
	}
	flat.Color, diag.Color = 2, 3 // no labels: no legend swatches in the colours
	if err := saved(path)(TrajectoryPolar([]PolarSeries{flat, diag}, &PolarOptions{Title: "trajectories", Note: "a test"})); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Errorf("%dx%d pixels", b.Dx(), b.Dy())
	}
	db, n := box(img, Palette(2))
	if n < 100 {
		t.Fatalf("the diagonal has %d pixels", n)
	}
	fb, _ := box(img, Palette(1))
	if ratio := float64(db.Dy()) / float64(db.Dx()); ratio < 0.6 || ratio > 1.6 {
		t.Errorf("the 45° ray spans %dx%d pixels, not about square", db.Dx(), db.Dy())
	}
	if fb.Dy() > 12 || fb.Dx() < db.Dx()*12/10 {
		t.Errorf("the 0° ray spans %dx%d pixels, want flat and longer than the 45° ray's width %d (r cos 45°)", fb.Dx(), fb.Dy(), db.Dx())
	}
	for _, bad := range [][]PolarSeries{nil, {{R: []float64{1}, Theta: nil}}, {{R: []float64{-1}, Theta: []float64{0}}},
		{{R: []float64{1}, Theta: []float64{math.NaN()}}}} {
		_, err := TrajectoryPolar(bad, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "reports:") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

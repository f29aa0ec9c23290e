package reports

import (
	"flag"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

var hessianPNGDir = flag.String("hessian.png", "", "keep the Hessian test figures in this folder (to look at them)")

func hsOut(t *testing.T, name string) string {
	t.Helper()
	if *hessianPNGDir != "" {
		if err := os.MkdirAll(*hessianPNGDir, 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(*hessianPNGDir, name)
	}
	return filepath.Join(t.TempDir(), name)
}

func TestSymLogIsMonotoneAndInvertible(t *testing.T) {
	s := SymLog{C: 10}
	prev := math.Inf(-1)
	for x := -1e4; x <= 1e4; x += 7.3 {
		f := s.Forward(x)
		if f <= prev {
			t.Fatalf("not increasing at %v", x)
		}
		prev = f
		if back := s.Inverse(f); math.Abs(back-x) > 1e-9*math.Max(1, math.Abs(x)) {
			t.Fatalf("Inverse(Forward(%v)) = %v", x, back)
		}
	}
	if s.Forward(0) != 0 || s.Forward(-30) != -s.Forward(30) {
		t.Error("not odd")
	}
	// Far above C one decade is one unit; near 0 the scale is linear with
	// slope 1/(C ln 10).
	if d := s.Forward(1e4) - s.Forward(1e3); math.Abs(d-1) > 0.01 {
		t.Errorf("decade 1e3..1e4 spans %v units, want about 1", d)
	}
	if g := s.Forward(1e-6) / 1e-6; math.Abs(g-1/(10*math.Ln10)) > 1e-6 {
		t.Errorf("slope at 0 = %v, want %v", g, 1/(10*math.Ln10))
	}
	if n := s.Normalize(-100, 100, 0); math.Abs(n-0.5) > 1e-12 {
		t.Errorf("Normalize(-100, 100, 0) = %v, want 0.5", n)
	}
	if n := s.Normalize(-100, 100, 100); n != 1 {
		t.Errorf("Normalize(-100, 100, 100) = %v, want 1", n)
	}
}

func TestSymLogTicks(t *testing.T) {
	ticks := SymLogTicks{C: 1}.Ticks(-150, 2000)
	labels := map[string]bool{}
	for _, tk := range ticks {
		if tk.Value < -150 || tk.Value > 2000 {
			t.Errorf("tick %v outside the range", tk.Value)
		}
		if tk.Label != "" {
			labels[tk.Label] = true
		}
	}
	for _, want := range []string{"0", "1", "10", "100", "1000", "\u22121", "\u221210", "\u2212100"} {
		if !labels[want] {
			t.Errorf("no tick labelled %q (labels %v)", want, labels)
		}
	}
	// Ten decades on each side: 0 keeps its label, ±C (which would touch
	// it) do not, and the labels further out remain.
	labels = map[string]bool{}
	for _, tk := range (SymLogTicks{C: 0.001}).Ticks(-30, 30) {
		if tk.Label != "" {
			labels[tk.Label] = true
		}
	}
	if !labels["0"] || labels["0.001"] || labels["\u22120.001"] || !labels["0.1"] || !labels["\u221210"] {
		t.Errorf("crowded axis: labels %v", labels)
	}
	if SymLogLabel(1e5) != "1e5" || SymLogLabel(0.01) != "0.01" || SymLogLabel(-2500) != "\u22122500" {
		t.Errorf("labels %q %q %q", SymLogLabel(1e5), SymLogLabel(0.01), SymLogLabel(-2500))
	}
	if got := SymLogThreshold([]float64{-0.3, 5, 50, 200, 300, 400, 500, 600, 700, 800, 900}); got != 1 {
		t.Errorf("threshold %v, want 1 (10th percentile 5 rounds down to 1)", got)
	}
	if got := SymLogThreshold([]float64{0, 0}); got != 1 {
		t.Errorf("threshold of zeros %v, want 1", got)
	}
}

// syntheticSpectra imitates docs/methods.md §2's shapes: ResNet positive and
// spread over 200..1000, ViT with many negatives down to -100 and small
// positives near 30-60, AlterNet small positives with few negatives.
func syntheticSpectra() []HessianSpectrumSeries {
	r := rand.New(rand.NewPCG(1, 2))
	var resnet, vit, alter []float64
	for range 200 {
		resnet = append(resnet, math.Exp(5.9+0.45*r.NormFloat64()))
		if r.Float64() < 0.35 {
			vit = append(vit, -math.Exp(3+0.9*r.NormFloat64()))
		} else {
			vit = append(vit, math.Exp(3.8+0.3*r.NormFloat64()))
		}
		if r.Float64() < 0.05 {
			alter = append(alter, -math.Exp(1.5+r.NormFloat64()))
		} else {
			alter = append(alter, math.Exp(3.4+0.4*r.NormFloat64()))
		}
	}
	return []HessianSpectrumSeries{{"ResNet", resnet}, {"ViT", vit}, {"AlterNet", alter}}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 400 {
		t.Errorf("%s: %dx%d pixels, too small", path, b.Dx(), b.Dy())
	}
	// Not blank: a good share of pixels differ from white.
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r < 0xf000 || g < 0xf000 || bb < 0xf000 {
				ink++
			}
		}
	}
	if ink < 500 {
		t.Errorf("%s: only %d inked sample pixels: blank?", path, ink)
	}
}

func TestHessianSpectrumPlot(t *testing.T) {
	path := hsOut(t, "hessian_spectrum.png")
	err := saved(path)(HessianSpectrum(syntheticSpectra(), &HessianSpectrumOptions{
		Note: "synthetic data shaped like the paper's: top-5 eigenvalues of 40 minibatches of 16"}))
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	// One value, equal values, and zeros must still draw.
	path2 := hsOut(t, "hessian_spectrum_degenerate.png")
	if err := saved(path2)(HessianSpectrum([]HessianSpectrumSeries{{"one", []float64{3}}, {"same", []float64{-2, -2}}, {"zero", []float64{0, 0, 1e-3}}}, nil)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path2)
}

func TestHessianSpectrumRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string][]HessianSpectrumSeries{
		"none":  nil,
		"empty": {{"a", nil}},
		"nan":   {{"a", []float64{1, math.NaN()}}},
	} {
		path := filepath.Join(dir, name+".png")
		if err := saved(path)(HessianSpectrum(s, nil)); err == nil {
			t.Errorf("%s: want an error", name)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was written", name)
		}
	}
}

func TestHessianDensityPlot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mk := func(scale float64, neg float64) HessianDensitySeries {
		var s HessianDensitySeries
		s.Label = "model"
		for range 2 {
			var nodes, w []float64
			for j := range 60 {
				x := scale * math.Pow(10, -4+4*float64(j)/59) * (1 + 0.1*r.NormFloat64())
				if r.Float64() < neg {
					x = -x / 10
				}
				nodes = append(nodes, x)
				w = append(w, math.Exp(-float64(j)/6))
			}
			var sum float64
			for _, v := range w {
				sum += v
			}
			for j := range w {
				w[j] /= sum
			}
			s.Nodes, s.Weights = append(s.Nodes, nodes), append(s.Weights, w)
		}
		return s
	}
	a, b := mk(800, 0.05), mk(60, 0.4)
	a.Label, b.Label = "ResNet-like", "ViT-like"
	path := hsOut(t, "hessian_density.png")
	if err := saved(path)(HessianDensity([]HessianDensitySeries{a, b}, &HessianDensityOptions{Note: "synthetic quadratures"})); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	if err := saved(path)(HessianDensity([]HessianDensitySeries{{Label: "bad", Nodes: [][]float64{{1}}, Weights: [][]float64{{math.NaN()}}}}, nil)); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("non-finite weight: error %v", err)
	}
}

// TestWrapText: a note wider than the figure is broken at spaces into
// lines that fit, keeping every word in order.
func TestWrapText(t *testing.T) {
	sty := text.Style{Font: font.From(plot.DefaultFont, vg.Points(9)), Handler: &text.Plain{Fonts: font.DefaultCache}}
	note := "stochastic Lanczos quadrature, 40 steps × 1 vector(s), Hessian of the mean loss over 2 minibatches of 16, L2 term wd = 0.05 included (+0.05 on every eigenvalue)"
	width := sty.Width(note) / 2.5
	lines := wrapText(sty, note, width)
	if len(lines) < 3 {
		t.Fatalf("%d lines for a note 2.5 times too wide: %q", len(lines), lines)
	}
	for _, l := range lines {
		if sty.Width(l) > width {
			t.Errorf("line %q is %v wide, more than %v", l, sty.Width(l), width)
		}
	}
	if got := strings.Join(lines, " "); got != note {
		t.Errorf("rejoined %q, want %q", got, note)
	}
	if got := wrapText(sty, "short", width); len(got) != 1 || got[0] != "short" {
		t.Errorf("a short note: %q", got)
	}
}

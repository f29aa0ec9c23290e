package reports

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// fourierFigDir returns where the figures of a test go: $VITPROBE_FIGS
// (to look at them) or a temporary folder.
func fourierFigDir(t *testing.T, name string) string {
	if d := os.Getenv("VITPROBE_FIGS"); d != "" {
		dir := filepath.Join(d, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// fourierSynthLayer makes a layer whose profile falls linearly to hf at the
// highest of ⌈size/2⌉ points.
func fourierSynthLayer(i, last int, name, kind string, size int, hf, variance float64) FourierLayer {
	k := size - size/2
	l := FourierLayer{Index: i, Name: name, Kind: kind, Depth: float64(i) / float64(last), Channels: 16, Size: size,
		PlotFreq: make([]float64, k), Freq: make([]float64, k), DLogAmp: make([]float64, k), Variance: variance}
	for j := range k {
		l.Freq[j] = 2 * math.Pi * float64(j) / float64(size)
		if k > 1 {
			l.PlotFreq[j] = float64(j) / float64(k-1)
		}
		l.DLogAmp[j] = hf * l.PlotFreq[j] * (2 - l.PlotFreq[j])
	}
	return l
}

// fourierSynthModels returns a ResNet-like model whose high-frequency amplitude
// and variance rise with depth, and a ViT-like one whose MSA layers lower
// both and MLP layers raise them.
func fourierSynthModels() []FourierModel {
	res := FourierModel{Name: "resnet-like", Clean: 0.99}
	kinds := []string{"stem", "conv", "down", "down", "down"}
	sizes := []int{32, 32, 16, 8, 4}
	for i := range kinds {
		res.Layers = append(res.Layers, fourierSynthLayer(i, 4, "layer"+string(rune('0'+i)), kinds[i], sizes[i], -6+1.2*float64(i), 0.1+0.2*float64(i)))
	}
	vit := FourierModel{Name: "vit-like", Clean: 0.97}
	vit.Layers = append(vit.Layers, fourierSynthLayer(0, 12, "patch_embed", "stem", 8, -2.5, 0.02))
	hf, v := -2.5, 0.02
	for b := range 6 {
		hf, v = hf-0.3, v*0.8
		vit.Layers = append(vit.Layers, fourierSynthLayer(1+2*b, 12, "blocks.x.attn", "msa", 8, hf, v))
		hf, v = hf+0.4, v*1.6
		vit.Layers = append(vit.Layers, fourierSynthLayer(2+2*b, 12, "blocks.x.mlp", "mlp", 8, hf, v))
	}
	for i := range 9 {
		f := float64(i+1) / 10
		res.Noise = append(res.Noise, NoisePoint{Center: f, Delta: -0.15 * f * f, StdErr: 0.01, RMS: 0.1 * f, Accuracy: res.Clean - 0.15*f*f})
		vit.Noise = append(vit.Noise, NoisePoint{Center: f, Delta: -0.12 * (1 - f), StdErr: 0.012, RMS: 0.1 * f, Accuracy: vit.Clean - 0.12*(1-f)})
	}
	return []FourierModel{res, vit}
}

// fourierSynthAlter adds an AlterNet-like third model: conv blocks raise
// the high-frequency value, MSA blocks at the ends of stages 2-4 lower it.
func fourierSynthAlter(ms []FourierModel) []FourierModel {
	alt := FourierModel{Name: "alternet-like", Clean: 0.98}
	kinds := []string{"stem", "conv", "down", "msa", "down", "msa", "down", "msa"}
	sizes := []int{32, 32, 16, 16, 8, 8, 4, 4}
	hf, v := -5.0, 0.05
	for i, k := range kinds {
		if k == "msa" {
			hf, v = hf-0.5, v*0.7
		} else if i > 0 {
			hf, v = hf+1.2, v*1.5
		}
		alt.Layers = append(alt.Layers, fourierSynthLayer(i, 7, k+string(rune('0'+i)), k, sizes[i], hf, v))
	}
	for i := range 9 {
		f := float64(i+1) / 10
		alt.Noise = append(alt.Noise, NoisePoint{Center: f, Delta: -0.05, StdErr: 0.01, Accuracy: 0.93})
	}
	return append(ms, alt)
}

func fourierCheckPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 300 {
		t.Errorf("%s: %v is too small", path, r)
	}
}

func TestFourierReport(t *testing.T) {
	dir := fourierFigDir(t, "synthetic")
	ms := fourierSynthAlter(fourierSynthModels())
	files, err := WriteFourierReport(dir, FourierReport{Models: ms, Dataset: "synthetic", Images: 100, NoiseLevel: 0.5,
		NoiseWidth: 0.1, NoiseMetric: "chebyshev", Seed: 3, Command: "fourier a=b.json",
		Checkpoints: []FourierCheckpoint{{Name: "resnet-like", Path: "x/final.json", WeightsSHA256: "ab12"}},
		DataLinks:   []Link{{Href: "results.json", Text: "results.json"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{FourierDLogAmpPNG, FourierHighFreqPNG, FourierVariancePNG, FourierNoisePNG,
		FourierLayersCSV, FourierProfilesCSV, FourierNoiseCSV, FourierKindsCSV, FourierPage}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", files, want)
	}
	for _, f := range want[:4] {
		fourierCheckPNG(t, filepath.Join(dir, f))
	}
	n, err := CheckPageImages(filepath.Join(dir, FourierPage))
	if err != nil || n != 4 {
		t.Errorf("page images: %d, %v; want 4 good ones", n, err)
	}
	page, err := os.ReadFile(filepath.Join(dir, FourierPage))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Fig. 2a", "Fig. 8", "Fig. 9", "Fig. 2b", "fourier a=b.json", "ab12", "results.json",
		"π − 2π/n", "resnet-like", "vit-like", "<details>"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("page lacks %q", s)
		}
	}
	// Every plotted number is in the CSVs: 5 + 13 + 8 layers, 9 bands per
	// model, Σ⌈n/2⌉ profile points.
	points := 16 + 16 + 8 + 4 + 2 + 13*4 + 16 + 16 + 8 + 8 + 4 + 4 + 2 + 2
	for f, rows := range map[string]int{FourierLayersCSV: 26, FourierNoiseCSV: 27, FourierProfilesCSV: points} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(b), "\n") - 1; got != rows {
			t.Errorf("%s: %d rows, want %d", f, got, rows)
		}
	}
}

// TestFourierReportParts: a report without noise and variance has only
// the Fourier figures; one with neither profiles nor variance only the
// noise figure.
func TestFourierReportParts(t *testing.T) {
	ms := fourierSynthModels()
	for i := range ms {
		ms[i].Noise, ms[i].Clean = nil, math.NaN()
		for j := range ms[i].Layers {
			ms[i].Layers[j].Variance = math.NaN()
		}
	}
	dir := t.TempDir()
	files, err := WriteFourierReport(dir, FourierReport{Models: ms, Dataset: "d", Images: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files, " "); strings.Contains(got, FourierNoisePNG) || strings.Contains(got, FourierVariancePNG) ||
		!strings.Contains(got, FourierDLogAmpPNG) {
		t.Errorf("files %s", got)
	}
	if _, err := CheckPageImages(filepath.Join(dir, FourierPage)); err != nil {
		t.Error(err)
	}
	if _, err := WriteFourierReport(t.TempDir(), FourierReport{}); err == nil {
		t.Error("report of no model accepted")
	}
}

// TestFiguresNonFinite: NaN and ±Inf anywhere are left out and counted,
// never a panic; a figure with nothing finite is an error.
func TestFiguresNonFinite(t *testing.T) {
	ms := fourierSynthModels()
	nan, inf := math.NaN(), math.Inf(1)
	ms[0].Layers[1].DLogAmp[3] = nan
	ms[0].Layers[2].DLogAmp[7] = inf // last point: also the Fig. 8 value
	ms[0].Layers[3].Variance = -inf
	ms[1].Layers[4].Depth = nan
	ms[1].Noise[2].Delta = nan
	ms[1].Noise[3].StdErr = inf
	dir := fourierFigDir(t, "nonfinite")
	if n, err := save(filepath.Join(dir, "a.png"))(DLogAmpFigure(ms)); err != nil || n != 2 {
		t.Errorf("Fig. 2a: skipped %d, %v; want 2", n, err)
	}
	// Fig. 8: the Inf last point and the NaN depth.
	if n, err := save(filepath.Join(dir, "b.png"))(HighFreqFigure(ms)); err != nil || n != 2 {
		t.Errorf("Fig. 8: skipped %d, %v; want 2", n, err)
	}
	if n, err := save(filepath.Join(dir, "c.png"))(VarianceFigure(ms, true)); err != nil || n != 2 {
		t.Errorf("Fig. 9: skipped %d, %v; want 2", n, err)
	}
	if n, err := save(filepath.Join(dir, "d.png"))(NoiseFigure(ms)); err != nil || n != 1 {
		t.Errorf("Fig. 2b: skipped %d, %v; want 1", n, err)
	}
	for _, m := range ms {
		for i := range m.Layers {
			for k := range m.Layers[i].DLogAmp {
				m.Layers[i].DLogAmp[k] = nan
			}
			m.Layers[i].Variance = inf
		}
		for i := range m.Noise {
			m.Noise[i].Delta = nan
		}
	}
	for name, f := range map[string]func() (int, error){
		"2a": func() (int, error) { return save(filepath.Join(dir, "e.png"))(DLogAmpFigure(ms)) },
		"8":  func() (int, error) { return save(filepath.Join(dir, "f.png"))(HighFreqFigure(ms)) },
		"9":  func() (int, error) { return save(filepath.Join(dir, "g.png"))(VarianceFigure(ms, false)) },
		"2b": func() (int, error) { return save(filepath.Join(dir, "h.png"))(NoiseFigure(ms)) },
	} {
		if _, err := f(); !errors.Is(err, errFrNoData) {
			t.Errorf("Fig. %s of nothing finite: error %v, want errFrNoData", name, err)
		}
	}
}

func TestVarianceLogScale(t *testing.T) {
	ms := fourierSynthModels() // 0.02·0.8 ... 0.9: more than a factor 30
	if !VarianceLogScale(ms) {
		t.Error("a factor > 30 between variances should read on a log axis")
	}
	if VarianceLogScale(ms[:1]) { // 0.1 .. 0.9
		t.Error("a factor 9 should stay linear")
	}
	ms[0].Layers[0].Variance = 0
	if VarianceLogScale(ms) {
		t.Error("a zero variance cannot go on a log axis")
	}
}

// TestKindEffects checks the summary against the synthetic models' known
// steps: the ViT-like model's MSA blocks lower the high-frequency value by
// 0.3 and multiply the variance by 0.8; its MLP blocks raise them by 0.4
// and ×1.6; the ResNet-like one rises by 1.2 per block.
func TestKindEffects(t *testing.T) {
	got := KindEffects(fourierSynthModels())
	want := []KindEffect{
		{Model: "resnet-like", Kind: "conv", Blocks: 1, HighFreqChange: 1.2, VarianceFactor: 3},
		{Model: "resnet-like", Kind: "down", Blocks: 3, HighFreqChange: 1.2, VarianceFactor: math.Cbrt(5.0 / 3 * 7 / 5 * 9 / 7)},
		{Model: "vit-like", Kind: "msa", Blocks: 6, HighFreqChange: -0.3, Lowered: 6, VarianceFactor: 0.8, Reduced: 6},
		{Model: "vit-like", Kind: "mlp", Blocks: 6, HighFreqChange: 0.4, VarianceFactor: 1.6},
	}
	if len(got) != len(want) {
		t.Fatalf("%d effects, want %d: %+v", len(got), len(want), got)
	}
	// ViT-like maps are 8×8: π/2 is point 2 of 4, plotted at 2/3, where
	// the synthetic profile is (2/3)(2 − 2/3) = 8/9 of its last value.
	if g := got[2].HalfPiChange; math.Abs(g-(-0.3*8/9)) > 1e-12 || got[2].LoweredHalfPi != 6 {
		t.Errorf("MSA change at π/2 = %v (%d lowering), want %v (6)", g, got[2].LoweredHalfPi, -0.3*8/9)
	}
	if g := got[3].HalfPiChange; math.Abs(g-0.4*8/9) > 1e-12 {
		t.Errorf("MLP change at π/2 = %v, want %v", g, 0.4*8/9)
	}
	if l := fourierSynthLayer(0, 1, "x", "conv", 2, -1, 1); !math.IsNaN(l.AtFreq(math.Pi / 2)) {
		t.Error("a 2×2 map has no point at π/2")
	}
	for i, w := range want {
		g := got[i]
		if g.Model != w.Model || g.Kind != w.Kind || g.Blocks != w.Blocks || g.Lowered != w.Lowered || g.Reduced != w.Reduced ||
			math.Abs(g.HighFreqChange-w.HighFreqChange) > 1e-12 || math.Abs(g.VarianceFactor-w.VarianceFactor) > 1e-12 {
			t.Errorf("effect %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestNoiseSummary: the ResNet-like model's Δ = −0.15 f² averages −0.7 pp
// over 0.1-0.3π and −9.7 pp over 0.7-0.9π, worst at 0.9π (−12.15 pp); the
// ViT-like one's Δ = −0.12 (1 − f) is worst at 0.1π (−10.8 pp).
func TestNoiseSummary(t *testing.T) {
	got := FourierNoiseSummaryTable(fourierSynthModels(), true).Rows
	want := [][]string{
		{"resnet-like", "99", "-0.7", "-9.7", "0.9", "-12.15"},
		{"vit-like", "97", "-9.6", "-2.4", "0.1", "-10.8"},
	}
	if len(got) != 2 {
		t.Fatalf("%d rows", len(got))
	}
	for i := range want {
		if strings.Join(got[i], " ") != strings.Join(want[i], " ") {
			t.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func fourierTickLabels(ts []plot.Tick) []string {
	var out []string
	for _, t := range ts {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

func TestFourierTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   string
	}{
		{-6.3, 0.2, 6, "−6 −4 −2 0"},
		{-5.3, 0.2, 6, "−5 −4 −3 −2 −1 0"},
		{0, 1, 5, "0.0 0.2 0.4 0.6 0.8 1.0"},
		{0, 1, 10, "0.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"},
		{-27, 1, 6, "−25 −20 −15 −10 −5 0"},
		{-0.3, 0.3, 6, "−0.3 −0.2 −0.1 0.0 0.1 0.2 0.3"},
		{0, 2.6, 6, "0.0 0.5 1.0 1.5 2.0 2.5"},
	}
	for _, c := range cases {
		got := strings.Join(fourierTickLabels(frTicks{Target: c.n}.Ticks(c.lo, c.hi)), " ")
		if got != c.want {
			t.Errorf("ticks(%v, %v, %d) = %q, want %q", c.lo, c.hi, c.n, got, c.want)
		}
	}
	if got := strings.Join(fourierTickLabels(frLogTicks{}.Ticks(0.016, 0.9)), " "); got != "0.02 0.05 0.1 0.2 0.5" {
		t.Errorf("log ticks = %q", got)
	}
	if got := strings.Join(fourierTickLabels(frLogTicks{}.Ticks(0.001, 900)), " "); got != "0.001 0.01 0.1 1 10 100" {
		t.Errorf("log ticks over 6 decades = %q", got)
	}
	// Degenerate ranges fall back to gonum's tickers without panicking.
	for _, r := range [][2]float64{{1, 1}, {math.NaN(), 1}, {0, math.Inf(1)}} {
		_ = frTicks{}.Ticks(r[0], r[1])
		_ = frLogTicks{}.Ticks(r[0], r[1])
	}
	_ = frLogTicks{}.Ticks(0, 1)
	_ = frLogTicks{}.Ticks(-1, 1)
}

package reports

import (
	"math"
	"path/filepath"
	"testing"
)

func TestLesionFigure(t *testing.T) {
	m := LesionModel{Name: "alternet-mini", Intact: 0.99}
	kinds := []string{"stem", "conv", "down", "msa", "down", "msa", "down", "msa"}
	for i, k := range kinds {
		d := float64(i) / 7
		m.Layers = append(m.Layers, FourierLayer{Kind: k, Depth: d})
		if i > 0 {
			m.Points = append(m.Points, LesionPoint{Name: k, Kind: k, Depth: d, Identity: k == "msa",
				AccuracyDrop: 0.01 * float64(i), AccuracyDropSE: 0.002, NLLIncrease: 0.05 * float64(i), NLLIncreaseSE: 0.01})
		}
	}
	m.Points[2].NLLIncrease = math.NaN() // left out, not a failure
	one := LesionModel{Name: "resnet-mini", Intact: 0.98, Layers: []FourierLayer{{Kind: "stem"}, {Kind: "conv", Depth: 1}},
		Points: []LesionPoint{{Name: "layer1.0", Kind: "conv", Depth: 1, Identity: true, AccuracyDrop: -0.001}}}
	path := filepath.Join(t.TempDir(), "lesion.png")
	if err := saved(path)(LesionFigure([]LesionModel{one, m})); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	if _, err := LesionFigure(nil); err == nil {
		t.Error("no model: want an error")
	}
}

func TestCorruptionFigure(t *testing.T) {
	names := []string{"gaussian_noise", "contrast", "pixelate"}
	var ms []CorruptionCurves
	for i, n := range []string{"a", "b"} {
		c := CorruptionCurves{Name: n, Clean: 0.99}
		for range names {
			c.Accuracy = append(c.Accuracy, []float64{0.98, 0.95 - 0.1*float64(i), 0.9, 0.8, 0.7})
		}
		ms = append(ms, c)
	}
	path := filepath.Join(t.TempDir(), "corrupt.png")
	if err := saved(path)(CorruptionFigure(names, ms)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	ms[1].Accuracy = ms[1].Accuracy[:1]
	if _, err := CorruptionFigure(names, ms); err == nil {
		t.Error("a model with fewer curves than corruptions: want an error")
	}
}

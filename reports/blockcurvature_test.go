package reports

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// synthBlocks returns a model of n blocks with kinds cycling as given and
// pooled values with a few negatives.
func synthBlocks(name string, kinds []string, seed uint64) BlockCurvatureModel {
	r := rand.New(rand.NewPCG(seed, 2))
	m := BlockCurvatureModel{Name: name}
	for i, k := range kinds {
		b := BlockCurvature{Name: k, Kind: k, Depth: float64(i) / float64(len(kinds)-1), Size: 1000 * (i + 1),
			Trace: 50 * r.Float64(), TraceErr: 5 * r.Float64()}
		for range 10 {
			v := 100 * math.Exp(-3*r.Float64())
			if r.Float64() < 0.2 {
				v = -v / 20
			}
			b.Values = append(b.Values, v)
		}
		m.Blocks = append(m.Blocks, b)
	}
	return m
}

func TestBlockCurvatureFigure(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("VITPROBE_KEEP_FIGURES"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, "block-curvature.png")
	ms := []BlockCurvatureModel{
		synthBlocks("resnet", []string{"stem", "conv", "down", "down", "down", "head"}, 1),
		synthBlocks("vit", []string{"stem", "msa", "mlp", "msa", "mlp", "msa", "mlp", "head"}, 2),
		synthBlocks("alternet", []string{"stem", "conv", "down", "msa", "down", "msa", "down", "msa", "head"}, 3),
	}
	if err := saved(path)(BlockCurvatureFigure(ms, &BlockCurvatureOptions{Note: "synthetic values"})); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	bad := []BlockCurvatureModel{{Name: "empty"}}
	if _, err := BlockCurvatureFigure(bad, nil); err == nil {
		t.Error("a model without blocks accepted")
	}
	nan := synthBlocks("nan", []string{"stem", "head"}, 4)
	nan.Blocks[1].Values[0] = math.NaN()
	if _, err := BlockCurvatureFigure([]BlockCurvatureModel{nan}, nil); err == nil {
		t.Error("a NaN eigenvalue accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "nan.png")); err == nil {
		t.Error("a figure was written for bad input")
	}
}

// TestHessianDensityBand draws two series of three start vectors each with
// the spread band.
func TestHessianDensityBand(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func(label string, scale float64) HessianDensitySeries {
		s := HessianDensitySeries{Label: label}
		for range 3 {
			var nodes, w []float64
			var sum float64
			for j := range 40 {
				x := scale * math.Pow(10, -4+4*float64(j)/39) * (1 + 0.3*r.NormFloat64())
				if r.Float64() < 0.2 {
					x = -x / 10
				}
				nodes = append(nodes, x)
				w = append(w, math.Exp(-float64(j)/6)*(0.5+r.Float64()))
				sum += w[j]
			}
			for j := range w {
				w[j] /= sum
			}
			s.Nodes, s.Weights = append(s.Nodes, nodes), append(s.Weights, w)
		}
		return s
	}
	path := hsOut(t, "hessian_density_band.png")
	if err := saved(path)(HessianDensity([]HessianDensitySeries{mk("Hessian", 300), mk("GGN", 200)},
		&HessianDensityOptions{Note: "synthetic quadratures, three start vectors each", Band: true})); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
}

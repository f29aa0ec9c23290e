package reports

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
)

func TestCKAHeatmap(t *testing.T) {
	layers := func(n int, kinds ...string) []CKAAxisLayer {
		out := make([]CKAAxisLayer, n)
		for i := range out {
			out[i] = CKAAxisLayer{Name: fmt.Sprintf("blocks.%d.attn", i), Kind: kinds[i%len(kinds)]}
		}
		return out
	}
	for _, s := range []struct{ r, c int }{{6, 6}, {14, 9}, {40, 40}} {
		m := CKAMap{A: "vit-mini", B: "alternet-mini", Rows: layers(s.r, "stem", "msa", "mlp"), Cols: layers(s.c, "conv", "down", "msa"),
			Note: "1,000 test images, minibatches of 100, unbiased HSIC"}
		for i := range s.r {
			row := make([]float64, s.c)
			for j := range row {
				row[j] = math.Exp(-math.Abs(float64(i)/float64(s.r)-float64(j)/float64(s.c)) * 3)
			}
			m.Values = append(m.Values, row)
		}
		m.Values[1][2] = math.NaN()
		m.Values[0][0] = -0.01
		path := filepath.Join(t.TempDir(), "cka.png")
		if err := saved(path)(CKAHeatmap(m)); err != nil {
			t.Fatal(err)
		}
		checkPNG(t, path)
	}
	if _, err := CKAHeatmap(CKAMap{Rows: layers(2, "conv"), Cols: layers(2, "conv"), Values: [][]float64{{1}}}); err == nil {
		t.Error("ragged values: want an error")
	}
}

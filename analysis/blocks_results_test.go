package analysis

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
)

func TestSelectGroups(t *testing.T) {
	groups := []ParamGroup{{Name: "patch_embed", Kind: models.KindStem}, {Name: "blocks.0.attn", Kind: models.KindMSA},
		{Name: "blocks.0.mlp", Kind: models.KindMLP}, {Name: "blocks.1.attn", Kind: models.KindMSA}, {Name: "head", Kind: models.KindHead}}
	got, err := SelectGroups(groups, `attn`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "blocks.0.attn" || got[1].Name != "blocks.1.attn" {
		t.Errorf("attn: %+v", got)
	}
	if got, _ := SelectGroups(groups, `^(patch_embed|head)$`); len(got) != 2 || got[1].Name != "head" {
		t.Errorf("stem and head: %+v", got)
	}
	if _, err := SelectGroups(groups, `^layer`); err == nil || !strings.Contains(err.Error(), "blocks.0.mlp") {
		t.Errorf("no match: error %v, want one listing the blocks", err)
	}
	if _, err := SelectGroups(groups, `(`); err == nil {
		t.Error("bad pattern: want an error")
	}
}

// TestBlockResultRoundTrip: a block's estimates survive the journal's
// form, and its summaries are those of BlockSpectrum and SummarizeKinds.
func TestBlockResultRoundTrip(t *testing.T) {
	g := ParamGroup{Name: "blocks.0.attn", Kind: models.KindMSA, Index: 1, Depth: 0.25, Params: []string{"a", "b"}, Size: 12}
	bs := BlockSpectrum{Group: g, Batches: []BlockBatch{
		{Batch: 0, Values: []float64{3, -1}, Residuals: []float64{1e-5, 2e-5}, Converged: true, Loss: 2.1, Products: 40,
			Trace: &hessian.Trace{Mean: 5, StdErr: 0.5}, Density: &hessian.Quadrature{Nodes: [][]float64{{-1, 3}}, Weights: [][]float64{{0.5, 0.5}}, Products: 2}},
		{Batch: 1, Values: []float64{4, 2}, Residuals: []float64{1e-5, 1e-5}, Converged: false, Loss: 2.3, Products: 50,
			Trace: &hessian.Trace{Mean: 7, StdErr: 0.4}},
	}}
	back, err := GroupOf(g.Info())
	if err != nil || !reflect.DeepEqual(back, g) {
		t.Errorf("GroupOf(Info) = %+v, %v; want %+v", back, err, g)
	}
	for _, b := range bs.Batches {
		got := BlockBatchOf(b.Result())
		want := b
		want.Trace = &hessian.Trace{Mean: b.Trace.Mean, StdErr: b.Trace.StdErr}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("batch %d: %+v, want %+v", b.Batch, got, want)
		}
	}
	r, err := bs.Result()
	if err != nil {
		t.Fatal(err)
	}
	// Pooled 3, -1, 4, 2: one negative of four, positives average 3.
	if r.Summary.N != 4 || r.Summary.NEP != 0.25 || r.Summary.APE != 3 || r.Products != 90 || r.Unconverged != 1 {
		t.Errorf("summary %+v, products %d, unconverged %d", r.Summary, r.Products, r.Unconverged)
	}
	// Trace: mean 6, standard error sd/sqrt(2) = sqrt(2)/sqrt(2) = 1.
	if r.Trace == nil || r.Trace.Mean != 6 || math.Abs(r.Trace.StdErr-1) > 1e-12 {
		t.Errorf("trace %+v, want 6 ± 1", r.Trace)
	}
	other := BlockSpectrum{Group: ParamGroup{Name: "blocks.1.attn", Kind: models.KindMSA, Size: 12},
		Batches: []BlockBatch{{Values: []float64{-2, 1}}}}
	ks, err := KindResults([]BlockSpectrum{bs, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || ks[0].Kind != "msa" || ks[0].Blocks != 2 || ks[0].N != 6 || ks[0].NEP != 2.0/6 || ks[0].APE != 10.0/4 {
		t.Errorf("kinds %+v", ks)
	}
}

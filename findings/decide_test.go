package findings

import (
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// TestDecideByRecordedFamily: the family a claim compares is the one the
// checkpoint records, not a guess from the model's name: a model called
// "vit-lookalike" recorded as a ResNet is the ResNet of the comparison,
// and a checkpoint of no recorded family takes no part.
func TestDecideByRecordedFamily(t *testing.T) {
	batches := func(v float64) []results.HessianBatch {
		var bs []results.HessianBatch
		for i := range 8 {
			bs = append(bs, results.HessianBatch{Batch: i, Values: []float64{v, -v / 10}})
		}
		return bs
	}
	model := func(label, weights string, v float64) results.HessianModel {
		return results.HessianModel{HessianCheckpoint: results.HessianCheckpoint{Label: label, Model: label, WeightsSHA256: weights},
			Batches: batches(v)}
	}
	h := &results.Hessian{Models: []results.HessianModel{
		model("unknown-net", "w0", 9),
		model("vit-lookalike", "w1", 5),
		model("plain-net", "w2", 2),
	}}
	fam := map[string]meta.Family{"w1": meta.ResNet, "w2": meta.ViT}
	out := Decide(h, nil, fam)
	first := out[0] // ViT vs ResNet spectra
	if !strings.HasPrefix(first.Claim, "ViT has") {
		t.Fatalf("first finding %q", first.Claim)
	}
	if len(first.Measured) < 2 || !strings.Contains(first.Measured[0], "ViT (plain-net)") ||
		!strings.Contains(first.Measured[1], "ResNet (vit-lookalike)") {
		t.Errorf("measured %q: want plain-net as the ViT and vit-lookalike as the ResNet", first.Measured)
	}
	for _, f := range out[1:] {
		for _, m := range f.Measured {
			if strings.Contains(m, "unknown-net") {
				t.Errorf("%q uses the checkpoint of no recorded family: %q", f.Claim, m)
			}
		}
	}
}

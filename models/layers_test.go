package models_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/models"
)

// kinds renders a layer list as one letter per layer: S stem, C conv,
// D down-sampling, M MSA, P MLP, H head.
func kinds(ls []models.Layer) string {
	letter := map[models.LayerKind]string{models.KindStem: "S", models.KindConv: "C", models.KindDown: "D",
		models.KindMSA: "M", models.KindMLP: "P", models.KindHead: "H"}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(letter[l.Kind])
	}
	return b.String()
}

func TestViTTiLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("paper-sized model")
	}
	m := build(t, "vit-ti", nil)
	ls := m.Layers()
	// Embedding, then 12 pairs of MSA and MLP residual sub-blocks, then the head.
	if got, want := kinds(ls), "S"+strings.Repeat("MP", 12)+"H"; got != want {
		t.Fatalf("vit-ti layers %s, want %s", got, want)
	}
	for i := 0; i < 12; i++ {
		a, p := ls[1+2*i], ls[2+2*i]
		if a.Name != fmt.Sprintf("blocks.%d.attn", i) || p.Name != fmt.Sprintf("blocks.%d.mlp", i) || !a.Tokens || !a.CLS {
			t.Errorf("block %d: %+v %+v", i, a, p)
		}
	}
	if !ls[0].Tokens || !ls[0].CLS || ls[0].Name != "patch_embed" {
		t.Errorf("embedding layer %+v", ls[0])
	}
}

func TestAlterNet50Layers(t *testing.T) {
	if testing.Short() {
		t.Skip("paper-sized model")
	}
	m := build(t, "alternet50", nil)
	// docs/methods.md §1's table: stage 1 C C C; stage 2 C C C M; stage 3
	// C C C C C M; stage 4 C M C M. Stages 2-4 start with a down-sampling
	// conv block.
	if got, want := kinds(m.Layers()), "S"+"CCC"+"DCCM"+"DCCCCM"+"DMCM"+"H"; got != want {
		t.Fatalf("alternet50 layers %s, want %s", got, want)
	}
	names := map[string]bool{}
	for _, l := range m.Layers() {
		if l.Kind == models.KindMSA {
			names[l.Name] = true
		}
	}
	for _, n := range []string{"layer2.3", "layer3.5", "layer4.1", "layer4.3"} {
		if !names[n] {
			t.Errorf("no MSA block at %s (MSA blocks: %v)", n, names)
		}
	}
	// Heads per stage: 6, 12, 24 of 64 dimensions: the qkv projection of
	// an MSA block has 3·heads·64 output channels.
	heads := map[string]int64{"layer2.3": 6, "layer3.5": 12, "layer4.1": 24, "layer4.3": 24}
	for _, p := range m.Params() {
		for blk, h := range heads {
			if p.Name == blk+".attn.qkv.weight" && p.Shape[0] != 3*h*64 {
				t.Errorf("%s has shape %v, want %d output channels (%d heads of 64)", p.Name, p.Shape, 3*h*64, h)
			}
			if p.Name == blk+".attn.rel_pos" && (p.Kind != models.ParamRelPos || p.Shape[0] != 7 || p.Shape[1] != 7) {
				t.Errorf("%s: kind %v shape %v, want a 7x7 relative-position table (window 4)", p.Name, p.Kind, p.Shape)
			}
		}
	}
}

func TestMiniLayers(t *testing.T) {
	for name, want := range map[string]string{
		"resnet-mini":   "SCDDDH",
		"alternet-mini": "SC" + "DM" + "DM" + "DM" + "H",
		"vit-mini":      "S" + strings.Repeat("MP", 6) + "H",
	} {
		if got := kinds(build(t, name, nil).Layers()); got != want {
			t.Errorf("%s layers %s, want %s", name, got, want)
		}
	}
}

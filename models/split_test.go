package models_test

import (
	"math"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestForwardTrainRowsMatchesOnePass: vit-mini's training pass (drop path
// 0.3) over 7 images, split into rows 0..3 on the model and 3..7 on a copy
// with the masks drawn ahead, gives the logits of the one-graph pass from
// the same generator state, within float32 rounding; a pass drawing its
// own masks (another generator state) differs by far more, so the test
// sees the masks. The convolutional presets refuse to split.
func TestForwardTrainRowsMatchesOnePass(t *testing.T) {
	m := build(t, "vit-mini", func(c *models.Config) { c.DropPath = 0.3 })
	x := input(t, m.Spec().Config, 7)
	onePass := func(seed uint64) []float32 {
		torchx.Seed(seed)
		out := must(m.Forward(x, models.Train, nil))
		defer out.MustDrop()
		return must(torchx.Values[float32](out))
	}
	want := onePass(5)
	other := onePass(6)
	r := must(models.Replicate(m, nil))
	defer r.Close()
	torchx.Seed(5)
	d := must(models.DrawDropPath(m, 7))
	defer d.Close()
	var got []float32
	for _, part := range []struct {
		m          models.Model
		start, len int64
	}{{m, 0, 3}, {r, 3, 4}} {
		rows := must(x.Narrow(0, part.start, part.len, false))
		out := must(models.ForwardTrainRows(part.m, rows, d, part.start))
		got = append(got, must(torchx.Values[float32](out))...)
		out.MustDrop()
		rows.MustDrop()
	}
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	var diff, masks, scale float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		masks = math.Max(masks, math.Abs(float64(other[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	t.Logf("largest difference %.3g; another seed's masks %.3g; largest logit %.3g", diff, masks, scale)
	if diff > 1e-5*scale {
		t.Errorf("split pass differs from the one-graph pass by %.3g (largest logit %.3g)", diff, scale)
	}
	if masks < 1e-2*scale {
		t.Errorf("another seed's masks change the logits by only %.3g: the test cannot see the masks", masks)
	}
	rows := must(x.Narrow(0, 4, 3, false))
	defer rows.MustDrop()
	if _, err := models.ForwardTrainRows(m, rows, d, 5); err == nil || !strings.Contains(err.Error(), "rows 5..8") {
		t.Errorf("rows past the batch: error %v", err)
	}
	for _, name := range []string{"resnet-mini", "alternet-mini"} {
		c := build(t, name, nil)
		if models.SplitsTraining(c) {
			t.Errorf("%s: SplitsTraining true with batch norm", name)
		}
		if _, err := models.DrawDropPath(c, 4); err == nil || !strings.Contains(err.Error(), "cannot be split") {
			t.Errorf("%s: DrawDropPath error %v", name, err)
		}
	}
	if !models.SplitsTraining(m) {
		t.Error("vit-mini: SplitsTraining false")
	}
}

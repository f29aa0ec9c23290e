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
// sees the masks.
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
		out := must(models.ForwardTrainRows(part.m, rows, d, models.Part{Start: part.start}))
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
	if _, err := models.ForwardTrainRows(m, rows, d, models.Part{Start: 5}); err == nil || !strings.Contains(err.Error(), "rows 5..8") {
		t.Errorf("rows past the batch: error %v", err)
	}
	if !models.SplitsTraining(m) || models.SharesStats(m) {
		t.Error("vit-mini: SplitsTraining false or SharesStats true")
	}
}

// TestForwardTrainRowsSharesStats: the ResNets' and AlterNets' training
// pass (drop path 0.3) over 7 images split over two workers sharing batch
// norm's statistics (rows 0..3 on the model, 3..7 on a copy) gives the
// one-graph pass's logits and running statistics within float32 rounding
// (1e-5 of the largest); without a statistics group the split is refused,
// and the whole batch on one worker needs none.
func TestForwardTrainRowsSharesStats(t *testing.T) {
	for _, name := range []string{"resnet-mini", "alternet-mini"} {
		t.Run(name, func(t *testing.T) {
			m := build(t, name, func(c *models.Config) { c.DropPath = 0.3 })
			if !models.SplitsTraining(m) || !models.SharesStats(m) {
				t.Fatal("SplitsTraining or SharesStats false")
			}
			x := input(t, m.Spec().Config, 7)
			r := must(models.Replicate(m, nil))
			defer r.Close()
			stats := func(m models.Model) []float32 {
				var out []float32
				for _, p := range m.Params() {
					if !p.Trainable() {
						out = append(out, must(torchx.Values[float32](p.Tensor))...)
					}
				}
				return out
			}
			before := stats(m)
			torchx.Seed(5)
			out := must(r.Forward(x, models.Train, nil))
			want := must(torchx.Values[float32](out))
			out.MustDrop()
			wantStats := stats(r)

			torchx.Seed(5)
			d := must(models.DrawDropPath(m, 7))
			defer d.Close()
			w := must(torchx.StartWorkers(2))
			defer w.Close(nil)
			g := must(torchx.NewStatsGroup(2))
			defer g.Close()
			copies := []models.Model{m, must(models.Replicate(m, nil))}
			defer copies[1].Close()
			starts, lens := []int64{0, 3}, []int64{3, 4}
			parts := make([][]float32, 2)
			if err := w.All(func(i int) error {
				rows := must(x.Narrow(0, starts[i], lens[i], false))
				defer rows.MustDrop()
				out, err := models.ForwardTrainRows(copies[i], rows, d, models.Part{Start: starts[i], Stats: g, Rank: i})
				if err != nil {
					g.Abort()
					return err
				}
				defer out.MustDrop()
				parts[i], err = torchx.Values[float32](out)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			got := append(parts[0], parts[1]...)
			diff, scale := maxDiff(got, want)
			sd, ss := maxDiff(stats(m), wantStats)
			t.Logf("logits: largest difference %.3g (largest %.3g); running statistics %.3g (largest %.3g)", diff, scale, sd, ss)
			if diff > 1e-5*scale || sd > 1e-5*ss {
				t.Errorf("split pass: logits off by %.3g (largest %.3g), running statistics by %.3g (largest %.3g)", diff, scale, sd, ss)
			}
			if bd, _ := maxDiff(before, wantStats); bd < 1e-3 {
				t.Errorf("the pass moved the running statistics by only %.3g: the test cannot see them", bd)
			}

			rows := must(x.Narrow(0, 3, 4, false))
			defer rows.MustDrop()
			if _, err := models.ForwardTrainRows(r, rows, d, models.Part{Start: 3}); err == nil || !strings.Contains(err.Error(), "shared statistics") {
				t.Errorf("rows 3..7 without a statistics group: error %v", err)
			}
			all := must(models.ForwardTrainRows(r, x, d, models.Part{}))
			all.MustDrop()
		})
	}
}

// maxDiff returns the largest |got − want| and the largest |want|.
func maxDiff(got, want []float32) (diff, scale float64) {
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return diff, scale
}

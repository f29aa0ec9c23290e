package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/cka"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// goFeatures runs m on the images of d at idx and returns every layer's
// output flattened per example as float64, the class token dropped, in
// Layers() order (the head included): the pure-Go side of the reference.
func goFeatures(t *testing.T, m models.Model, d *data.Dataset, idx []int) []cka.Features {
	t.Helper()
	var out []cka.Features
	probe := models.ProbeFunc(func(l models.Layer, x *ts.Tensor) error {
		shape, err := x.Size()
		if err != nil {
			return err
		}
		v, err := torchx.Values[float64](x)
		if err != nil {
			return err
		}
		n := int(shape[0])
		per := len(v) / n
		if l.Tokens && l.CLS { // drop token 0 of every example
			c := int(shape[2])
			var kept []float64
			for i := range n {
				kept = append(kept, v[i*per+c:(i+1)*per]...)
			}
			v, per = kept, per-c
		}
		out = append(out, cka.Features{N: n, D: per, Data: v})
		return nil
	})
	var hb data.HostBatch
	if err := d.Fill(&hb, idx, data.Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := torchx.NoGrad(func() error { return forwardImages(m, hb.Images, len(idx), hb.Channels, probe) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCKAAgainstPureGo checks the adapter (libtorch's float64 Gram
// matrices, minibatching with a merged tail, pairs of models) against the
// pure package fed with the features copied out of the same forward
// passes.
func TestCKAAgainstPureGo(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(35) // minibatches of 16 and 19: the tail of 3 joins the second
	res1 := preset(t, "resnet-mini", 11)
	vit := preset(t, "vit-mini", 12)
	ms := []CKAModel{{"R", res1}, {"V", vit}}
	got, err := CKA(context.Background(), ms, d, idx, CKAOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got.Batches != 2 || got.Images != 35 {
		t.Fatalf("%d minibatches of %d images, want 2 of 35", got.Batches, got.Images)
	}
	nr, nv := len(res1.Layers()), len(vit.Layers())
	acc := cka.NewAccumulator(nr+nv, cka.Unbiased)
	for _, b := range [][]int{idx[:16], idx[16:]} {
		xs := append(goFeatures(t, res1, d, b), goFeatures(t, vit, d, b)...)
		if _, err := acc.Add(xs); err != nil {
			t.Fatal(err)
		}
		if b[0] == idx[0] {
			for i, l := range got.Models[1].Layers {
				if l.Features != xs[nr+i].D {
					t.Errorf("vit-mini layer %s: %d features, want %d", l.Name, l.Features, xs[nr+i].D)
				}
			}
		}
	}
	want, err := acc.Result()
	if err != nil {
		t.Fatal(err)
	}
	span := func(lo, n int) []int {
		var s []int
		for i := range n {
			s = append(s, lo+i)
		}
		return s
	}
	blocks := map[[2]string][2][]int{{"R", "R"}: {span(0, nr), span(0, nr)}, {"R", "V"}: {span(0, nr), span(nr, nv)}, {"V", "V"}: {span(nr, nv), span(nr, nv)}}
	if len(got.Pairs) != 3 {
		t.Fatalf("%d pairs, want 3", len(got.Pairs))
	}
	for _, p := range got.Pairs {
		rc := blocks[[2]string{p.A, p.B}]
		w, wse := want.Sub(rc[0], rc[1])
		for i := range w {
			for j := range w[i] {
				// Gram matrices from libtorch's dgemm and gonum's dsyrk
				// agree to ~1e-13 relative; the ratios to 1e-9.
				if math.Abs(p.CKA[i][j]-w[i][j]) > 1e-9 || math.Abs(p.StdErr[i][j]-wse[i][j]) > 1e-9 {
					t.Errorf("%s×%s (%d,%d): CKA %v ± %v, pure Go %v ± %v", p.A, p.B, i, j, p.CKA[i][j], p.StdErr[i][j], w[i][j], wse[i][j])
				}
			}
		}
	}
	rv, ok := got.Pair("V", "R")
	if !ok || rv.CKA[2][1] != got.Pairs[1].CKA[1][2] {
		t.Error("Pair(V, R) is not the transpose of (R, V)")
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("the result does not marshal: %v", err)
	}
}

// TestCKASameModelTwice: a model against itself under another name has
// CKA 1 on the diagonal of the cross block.
func TestCKASameModelTwice(t *testing.T) {
	lockThread(t)
	m := preset(t, "alternet-mini", 13)
	got, err := CKA(context.Background(), []CKAModel{{"a", m}, {"b", m}}, mnist(t), firstN(24), CKAOptions{Batch: 12, NoHead: true})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := got.Pair("a", "b")
	if len(p.CKA) != len(m.Layers())-1 {
		t.Fatalf("%d layers without the head, want %d", len(p.CKA), len(m.Layers())-1)
	}
	for i := range p.CKA {
		if math.Abs(p.CKA[i][i]-1) > 1e-12 {
			t.Errorf("layer %d against itself: %v", i, p.CKA[i][i])
		}
	}
	self, _ := got.Pair("a", "a")
	for i := range self.CKA {
		for j := range self.CKA {
			if self.CKA[i][j] != self.CKA[j][i] {
				t.Errorf("self-similarity not symmetric at (%d,%d)", i, j)
			}
		}
	}
}

func TestCKAResumes(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(48)
	m := preset(t, "resnet-mini", 14)
	ms := []CKAModel{{"r", m}}
	want, err := CKA(context.Background(), ms, d, idx, CKAOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cka.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	_, err = CKA(ctx, ms, d, idx, CKAOptions{Batch: 16, Journal: path, Progress: func(done, total int) {
		if done == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	var first int
	got, err := CKA(context.Background(), ms, d, idx, CKAOptions{Batch: 16, Journal: path, Progress: func(done, total int) {
		if first == 0 {
			first = done
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if first != 3 {
		t.Errorf("the resumed run's first minibatch was number %d, want 3 (two journalled)", first)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Error("the resumed result differs from the uninterrupted one")
	}
	if _, err := CKA(context.Background(), ms, d, idx, CKAOptions{Batch: 16, Journal: path, Estimator: cka.Biased}); err == nil {
		t.Error("resuming with another estimator: want an error")
	}
	if _, err := CKA(context.Background(), ms, d, idx, CKAOptions{Batch: 3}); err == nil {
		t.Error("minibatches of 3: want an error")
	}
	if _, err := CKA(context.Background(), []CKAModel{{"r", m}, {"r", m}}, d, idx, CKAOptions{Batch: 16}); err == nil {
		t.Error("two models of one name: want an error")
	}
}

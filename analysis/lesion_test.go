package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// preset builds a mini preset with weights drawn from seed.
func preset(t testing.TB, name string, seed uint64) models.Model {
	t.Helper()
	cfg := must(models.Defaults(name))
	torchx.Seed(seed)
	m, err := models.New(name, cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = 3 * i
	}
	return idx
}

// zeroBranch zeroes the parameters that end the branch of the basic
// block or ViT sub-block named name, so that it contributes zeros: the
// independent construction of a lesion.
func zeroBranch(t *testing.T, m models.Model, suffixes ...string) {
	t.Helper()
	n := 0
	for _, p := range m.Params() {
		for _, s := range suffixes {
			if p.Name == s {
				k := 1
				for _, d := range p.Shape {
					k *= int(d)
				}
				if err := torchx.CopyIn(p.Tensor, make([]float32, k)); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
	}
	if n != len(suffixes) {
		t.Fatalf("zeroed %d of %v", n, suffixes)
	}
}

// TestLesionAgainstZeroedWeights checks every number of a lesion study of
// vit-mini against train.Evaluate (libtorch's cross-entropy) on copies of
// the model whose branch ends in zeroed weights.
func TestLesionAgainstZeroedWeights(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(40)
	m := preset(t, "vit-mini", 3)
	res, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 12 || res.Images != 40 {
		t.Fatalf("%d blocks lesioned over %d images, want 12 over 40", len(res.Blocks), res.Images)
	}
	ref := func(zero ...string) train.Eval {
		c := preset(t, "vit-mini", 3)
		if len(zero) > 0 {
			zeroBranch(t, c, zero...)
		}
		e, err := train.Evaluate(c, d, idx, 16)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// NLL: this package's float64 log-softmax of float32 logits, stored as
	// float32 per image, against libtorch's float32 cross-entropy.
	const tol = 2e-5
	check := func(what string, got LesionScore, want train.Eval) {
		if math.Abs(got.Accuracy-want.Accuracy) > 1e-12 || math.Abs(got.NLL-want.NLL) > tol*math.Max(1, want.NLL) {
			t.Errorf("%s: accuracy %v NLL %v, train.Evaluate %v %v", what, got.Accuracy, got.NLL, want.Accuracy, want.NLL)
		}
	}
	check("intact", res.Intact, ref())
	for i, b := range res.Blocks[:4] { // the first two ViT blocks: MSA and MLP sub-blocks
		var zero []string
		if b.Kind == models.KindMSA {
			zero = []string{b.Name + ".proj.weight", b.Name + ".proj.bias"}
		} else {
			zero = []string{b.Name + ".fc2.weight", b.Name + ".fc2.bias"}
		}
		check(b.Name, b.LesionScore, ref(zero...))
		if want := res.Intact.Accuracy - b.Accuracy; math.Abs(b.AccuracyDrop-want) > 1e-12 {
			t.Errorf("block %d: accuracy drop %v, want %v", i, b.AccuracyDrop, want)
		}
		if math.Abs(b.NLLIncrease-(b.NLL-res.Intact.NLL)) > 1e-9 || !(b.NLLIncreaseSE > 0) {
			t.Errorf("block %d: NLL increase %v ± %v, NLLs %v and %v", i, b.NLLIncrease, b.NLLIncreaseSE, b.NLL, res.Intact.NLL)
		}
	}
	if got := m.(models.Lesioner).Lesioned(); len(got) != 0 {
		t.Errorf("the model is left lesioned at %v", got)
	}
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Name)
	}
	if strings.Join(skipped, ",") != "patch_embed,head" {
		t.Errorf("skipped %v, want the embedding and the head", skipped)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not marshal: %v", err)
	}
}

// TestLesionSkipsProjections: resnet-mini's down-sampling blocks have
// projection shortcuts; they are skipped unless asked for, and then their
// lesion matches zeroing their last batch norm.
func TestLesionSkipsProjections(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(24)
	m := preset(t, "resnet-mini", 5)
	res, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Blocks) != 1 || res.Blocks[0].Name != "layer1.0" || !res.Blocks[0].Identity {
		t.Fatalf("lesioned %+v, want layer1.0 only", res.Blocks)
	}
	reasons := map[string]string{}
	for _, s := range res.Skipped {
		reasons[s.Name] = s.Reason
	}
	for _, n := range []string{"layer2.0", "layer3.0", "layer4.0"} {
		if !strings.Contains(reasons[n], "projection") {
			t.Errorf("%s skipped for %q, want the projection shortcut named", n, reasons[n])
		}
	}
	if len(reasons) != 5 {
		t.Errorf("skipped %v, want the stem, three down-sampling blocks and the head", reasons)
	}
	all, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 24, Projection: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Blocks) != 4 || all.Blocks[3].Name != "layer4.0" || all.Blocks[3].Identity {
		t.Fatalf("with projections: %d blocks", len(all.Blocks))
	}
	c := preset(t, "resnet-mini", 5)
	zeroBranch(t, c, "layer4.0.bn2.weight", "layer4.0.bn2.bias")
	want, err := train.Evaluate(c, d, idx, 24)
	if err != nil {
		t.Fatal(err)
	}
	if got := all.Blocks[3]; math.Abs(got.Accuracy-want.Accuracy) > 1e-12 || math.Abs(got.NLL-want.NLL) > 2e-5*math.Max(1, want.NLL) {
		t.Errorf("layer4.0 lesioned: %v %v, zeroed model %v %v", got.Accuracy, got.NLL, want.Accuracy, want.NLL)
	}
	if all.Intact.NLL != res.Intact.NLL {
		t.Error("the intact model's NLL changed between runs")
	}
}

// TestLesionResumes interrupts a study after its first evaluations, then
// reruns it: the journal's records are reused and the result is the same,
// bit for bit, as an uninterrupted run's.
func TestLesionResumes(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(32)
	m := preset(t, "alternet-mini", 7)
	want, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lesion.jsonl")
	inputs := map[string]string{"weights": "test"}
	ctx, cancel := context.WithCancel(context.Background())
	passes := 0
	_, err = Lesion(ctx, m, d, idx, LesionOptions{Batch: 16, Journal: path, Inputs: inputs, Progress: func(done, total int) {
		passes++
		if done == 5 { // the intact model and one and a half lesions
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want context.Canceled", err)
	}
	calls := 0
	got, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 16, Journal: path, Inputs: inputs,
		Progress: func(done, total int) { calls = total }})
	if err != nil {
		t.Fatal(err)
	}
	// 4 evaluations of 2 passes: the intact model and 3 MSA blocks; two
	// were journalled before the interruption.
	if calls != 4 {
		t.Errorf("resumed run did %d passes, want 4 (2 of 4 evaluations left)", calls)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Error("the resumed result differs from the uninterrupted one")
	}
	// alternet-mini's identity blocks are its three MSA blocks, each at
	// the end of a stage (before layer3.0, layer4.0 and the head).
	st := findings.LesionStudyOf(got)
	if len(st.Units) != 3 || len(st.Intact) != 32 {
		t.Fatalf("study of %d units on %d images", len(st.Units), len(st.Intact))
	}
	for _, u := range st.Units {
		if u.Kind != "msa" || !u.StageEnd || !u.Identity || len(u.Correct) != 32 {
			t.Errorf("unit %+v: want an identity MSA block ending a stage", u)
		}
	}
	if _, err := Lesion(context.Background(), m, d, idx, LesionOptions{Batch: 16, Journal: path, Inputs: map[string]string{"weights": "other"}}); err == nil {
		t.Error("a journal of other weights: want an error")
	}
	if _, err := Lesion(context.Background(), &tinyNet{}, d, idx, LesionOptions{Batch: 16}); err == nil {
		t.Error("a model without the lesion hook: want an error")
	}
}

package train

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/safetensors"
	"github.com/vitprobe/vitprobe/torchx"
)

func TestSplitValidation(t *testing.T) {
	d, err := data.Load("mnist", "", data.Train)
	if err != nil {
		t.Fatalf("%v (run `make setup` to copy MNIST)", err)
	}
	c := Config{Fraction: 0.02, Seed: 1, Validation: 0.1}
	tr, val, err := Split(d, c)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(val); n < 5990 || n > 6010 {
		t.Errorf("validation holds %d examples, want about 6000", n)
	}
	if n := len(tr); n < 1070 || n > 1090 {
		t.Errorf("training holds %d examples, want about 2%% of 54000", n)
	}
	held := map[int]bool{}
	for _, i := range val {
		held[i] = true
	}
	for _, i := range tr {
		if held[i] {
			t.Fatalf("example %d is trained on and held out", i)
		}
	}
	c.Seed = 2
	tr2, val2, _ := Split(d, c)
	if !slices.Equal(val, val2) || slices.Equal(tr, tr2) {
		t.Error("the validation split must not depend on the seed, the training subset must")
	}
	// Without validation, the training subset is Dataset.Subset's, as before.
	c.Validation = 0
	tr3, val3, _ := Split(d, c)
	want, _ := d.Subset(0.02, 2)
	if val3 != nil || !slices.Equal(tr3, want) {
		t.Error("without validation the subset differs from Dataset.Subset")
	}
}

// tinyConfig is a run of a few steps on 0.5% of the digits of ds.
func tinyConfig(t *testing.T, model, ds string) Config {
	t.Helper()
	c, err := Recipe("mini", model, ds)
	if err != nil {
		t.Fatal(err)
	}
	c.Fraction, c.Epochs, c.BatchSize, c.WarmupEpochs, c.SaveEvery = 0.005, 1, 32, 0.5, 0
	return c
}

func weights(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	ck, err := models.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(filepath.Join(filepath.Dir(path), ck.Weights))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, tn := range f.Tensors {
		out[tn.Name], _ = tn.Float32s()
	}
	return out
}

// TestInitAndNewHead: a run started from another run's checkpoint begins
// with its weights; with a new head, the classifier keeps the fresh
// initialisation of the run's own seed (for its own number of classes).
func TestInitAndNewHead(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three tiny runs")
	}
	torchx.SetThreads(1)
	ctx := context.Background()
	root := t.TempDir()
	pre := tinyConfig(t, "resnet-mini", "mnist:0-4")
	if _, err := Run(ctx, pre, Options{Out: filepath.Join(root, "pre"), Threads: 1, Device: gotch.CPU, TestFraction: 0.05}); err != nil {
		t.Fatal(err)
	}
	preFinal := filepath.Join(root, "pre", "final.json")
	preW := weights(t, preFinal)

	// Digits 5-9 relabelled 0-4: the same number of classes, so the
	// classifier may be kept or made afresh.
	for _, newHead := range []bool{false, true} {
		ft := tinyConfig(t, "resnet-mini", "mnist:5-9")
		ft.Init, ft.NewHead, ft.Seed = preFinal, newHead, 3
		dir := filepath.Join(root, "ft-"+map[bool]string{false: "keep", true: "new"}[newHead])
		res, err := Run(ctx, ft, Options{Out: dir, Threads: 1, Device: gotch.CPU, TestFraction: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Metrics) != 1 || res.Metrics[0].TestAcc < 0.2 {
			t.Errorf("fine-tuning: metrics %+v", res.Metrics)
		}
		initW := weights(t, filepath.Join(dir, "init.json"))
		for name, v := range preW {
			head := strings.HasPrefix(name, "fc.")
			same := slices.Equal(v, initW[name])
			if same == (head && newHead) {
				t.Errorf("new head %v: %s %s the pre-trained tensor", newHead, name, map[bool]string{true: "equals", false: "differs from"}[same])
			}
		}
	}
	// A fresh model of the run's seed has the new head's values.
	torchx.Seed(3)
	cfg, _ := models.Defaults("resnet-mini")
	cfg.Classes = 5
	fresh, err := models.New("resnet-mini", cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	initW := weights(t, filepath.Join(root, "ft-new", "init.json"))
	for _, p := range fresh.Params() {
		if !strings.HasPrefix(p.Name, "fc.") {
			continue
		}
		v, _ := torchx.Values[float32](p.Tensor)
		if !slices.Equal(v, initW[p.Name]) {
			t.Errorf("the new head's %s is not the fresh initialisation of seed 3", p.Name)
		}
	}

	// Errors: ten classes from a five-class checkpoint without a new head,
	// another architecture, a replaced checkpoint on resume.
	bad := tinyConfig(t, "resnet-mini", "mnist")
	bad.Init = preFinal
	if _, err := Run(ctx, bad, Options{Out: filepath.Join(root, "bad1"), Threads: 1}); err == nil || !strings.Contains(err.Error(), "--new-head") {
		t.Errorf("10 classes from a 5-class checkpoint: %v", err)
	}
	other := tinyConfig(t, "alternet-mini", "mnist:5-9")
	other.Init = preFinal
	if _, err := Run(ctx, other, Options{Out: filepath.Join(root, "bad2"), Threads: 1}); err == nil || !strings.Contains(err.Error(), "is a resnet-mini") {
		t.Errorf("an init checkpoint of another model: %v", err)
	}
	head := tinyConfig(t, "resnet-mini", "mnist")
	head.NewHead = true
	if err := head.Validate(); err == nil {
		t.Error("a new head without init: no error")
	}
	ft := tinyConfig(t, "resnet-mini", "mnist:5-9")
	ft.Init, ft.Seed = preFinal, 3
	if err := os.Rename(filepath.Join(root, "pre", "final.json"), filepath.Join(root, "pre", "old.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "pre", "init.json"), filepath.Join(root, "pre", "final.json")); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, ft, Options{Out: filepath.Join(root, "ft-keep"), Threads: 1, Device: gotch.CPU, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "init_sha256") {
		t.Errorf("resuming after the init checkpoint was replaced: %v", err)
	}
}

// TestSnapshots: snapshots every 2 steps (and at 0) hold the trainable
// weights, the last one those of the final checkpoint; they change
// nothing in the weights.
func TestSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two tiny runs")
	}
	torchx.SetThreads(1)
	c := tinyConfig(t, "resnet-mini", "mnist")
	c.Fraction = 0.002 // 120 images: 3 steps of 32 (the last smaller batch dropped)
	root := t.TempDir()
	plain, err := Run(context.Background(), c, Options{Out: filepath.Join(root, "plain"), Threads: 1, Device: gotch.CPU, TestFraction: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "snap")
	snap, err := Run(context.Background(), c, Options{Out: dir, Threads: 1, Device: gotch.CPU, SnapshotEvery: 2, TestFraction: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := models.ReadCheckpoint(plain.Final)
	b, _ := models.ReadCheckpoint(snap.Final)
	if a.WeightsSHA256 != b.WeightsSHA256 {
		t.Error("snapshots changed the weights")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, SnapshotDir))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"step-0000000.safetensors", "step-0000002.safetensors"}; !slices.Equal(names, want) {
		t.Fatalf("snapshots %v, want %v (steps 0 and 2 of 3)", names, want)
	}
	for _, s := range []struct {
		step int64
		ckpt string
	}{{0, "init.json"}} {
		f, err := safetensors.ReadFile(SnapshotPath(dir, s.step))
		if err != nil {
			t.Fatal(err)
		}
		tn, _ := f.Lookup(SnapshotTensor)
		flat, _ := tn.Float32s()
		w := weights(t, filepath.Join(dir, s.ckpt))
		m, err := models.New("resnet-mini", c.ModelConfig, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		var want []float32
		for _, p := range m.Params() {
			if p.Trainable() {
				want = append(want, w[p.Name]...)
			}
		}
		m.Close()
		if !slices.Equal(flat, want) || f.Metadata["step"] != "0" {
			t.Errorf("snapshot of step %d is not the %s weights in name order (metadata %v)", s.step, s.ckpt, f.Metadata)
		}
	}
}

// TestMaxSteps: a run capped at 12 steps of epochs of 9 (300 images in
// batches of 32) stops after 12 steps, in its second epoch, with the
// learning rate's cosine at 0.
func TestMaxSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny run")
	}
	torchx.SetThreads(1)
	c := tinyConfig(t, "resnet-mini", "mnist")
	c.Epochs, c.MaxSteps, c.WarmupEpochs = 3, 12, 0.5
	res, err := Run(context.Background(), c, Options{Out: t.TempDir(), Threads: 1, Device: gotch.CPU, TestFraction: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := models.ReadCheckpoint(res.Final)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 12 || ck.Phase != "final" || len(res.Metrics) != 2 || res.Metrics[1].Step != 12 || res.Metrics[1].LR != 0 {
		t.Errorf("final at step %d (%s), %d epochs of metrics %+v; want step 12, two epochs, lr 0 at the end", ck.Step, ck.Phase, len(res.Metrics), res.Metrics)
	}
}

package models_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

func TestCheckpointRoundTrip(t *testing.T) {
	m := build(t, "alternet-mini", nil)
	dir := t.TempDir()
	ck, err := models.Save(filepath.Join(dir, "init"), m, models.Checkpoint{Phase: "init", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Params != models.NumParams(m) || ck.WeightsSHA256 == "" || ck.Weights != "init.safetensors" {
		t.Fatalf("sidecar %+v", ck)
	}
	m2, ck2, err := models.Load(filepath.Join(dir, "init.json"), gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if ck2.Phase != "init" || ck2.Spec.Name != "alternet-mini" {
		t.Fatalf("loaded sidecar %+v", ck2)
	}
	a, b := m.Params(), m2.Params()
	for i := range a {
		va := must(torchx.Values[float32](a[i].Tensor))
		vb := must(torchx.Values[float32](b[i].Tensor))
		for j := range va {
			if va[j] != vb[j] {
				t.Fatalf("%s[%d]: %v != %v", a[i].Name, j, va[j], vb[j])
			}
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	vit := build(t, "vit-mini", nil)
	if _, err := models.Save(filepath.Join(dir, "vit"), vit, models.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	// Weights of another architecture.
	res := build(t, "resnet-mini", nil)
	err := models.LoadWeightsFile(res, filepath.Join(dir, "vit.safetensors"))
	var inc *errs.IncompatibleError
	if !errors.As(err, &inc) || !strings.Contains(err.Error(), "do not fit model resnet-mini") || strings.Contains(err.Error(), "\n") {
		t.Errorf("other architecture: %v, want an *errs.IncompatibleError", err)
	}
	// Truncated weights.
	w := filepath.Join(dir, "vit.safetensors")
	b, _ := os.ReadFile(w)
	os.WriteFile(w, b[:len(b)/2], 0o644)
	if _, _, err := models.Load(filepath.Join(dir, "vit"), gotch.CPU); err == nil || !strings.Contains(err.Error(), "vit.safetensors") {
		t.Errorf("truncated: %v", err)
	}
	// Missing and corrupt sidecars.
	if _, _, err := models.Load(filepath.Join(dir, "nothing.json"), gotch.CPU); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o644)
	if _, _, err := models.Load(filepath.Join(dir, "bad.json"), gotch.CPU); err == nil || !strings.Contains(err.Error(), "not a vitprobe checkpoint") {
		t.Errorf("corrupt sidecar: %v", err)
	}
}

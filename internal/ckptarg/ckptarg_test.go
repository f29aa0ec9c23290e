package ckptarg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// save writes a freshly initialised resnet-mini as dir/phase.json.
func save(t *testing.T, dir, phase, dataset string) string {
	t.Helper()
	torchx.Seed(1)
	cfg, _ := models.Defaults("resnet-mini")
	m, err := models.New("resnet-mini", cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, phase+".json")
	if _, err := models.Save(path, m, models.Checkpoint{Phase: phase, Dataset: dataset}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	save(t, run, "final", "mnist")
	warm := save(t, run, "warmup", "mnist")
	cks, err := Resolve([]string{run, strings.TrimSuffix(warm, ".json") + ".safetensors", "mine=" + warm})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cks {
		names = append(names, c.Name)
	}
	// A folder means its final checkpoint; two unlabelled checkpoints of
	// one preset get their phase.
	if got := strings.Join(names, ","); got != "resnet-mini-final,resnet-mini-warmup,mine" {
		t.Errorf("names %s", got)
	}
	if cks[0].Path != filepath.Join(run, "final.json") || len(cks[0].SidecarSHA256) != 64 {
		t.Errorf("first checkpoint %+v", cks[0])
	}
	if ds, err := Dataset(cks, ""); err != nil || ds != "mnist" {
		t.Errorf("dataset %q, %v", ds, err)
	}
	other := save(t, filepath.Join(dir, "other"), "final", "cifar10")
	both, err := Resolve([]string{warm, other})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dataset(both, ""); err == nil {
		t.Error("checkpoints of two datasets without --dataset: want an error")
	}
	if ds, _ := Dataset(both, "cifar10"); ds != "cifar10" {
		t.Errorf("the flag should win: %q", ds)
	}
	for _, bad := range [][]string{{}, {"a=" + warm, "a=" + warm}, {dir}, {filepath.Join(dir, "none.json")}, {"x="}} {
		if _, err := Resolve(bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
	if got := FileName("a/b c:d"); got != "a_b_c_d" {
		t.Errorf("FileName %q", got)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// saveInit writes a freshly initialised preset as a checkpoint in dir and
// returns its sidecar's path.
func saveInit(t *testing.T, dir, name string) string {
	t.Helper()
	torchx.Seed(1)
	cfg, err := models.Defaults(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.New(name, cfg, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(dir, name, "final.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Save(path, m, models.Checkpoint{Phase: "final", Dataset: "mnist"}); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	err := run(ctx, args, &o, &e)
	code = cli.Exit("cka", err, &e)
	return code, o.String(), e.String()
}

func TestCKACommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two models")
	}
	dir := t.TempDir()
	res := saveInit(t, dir, "resnet-mini")
	saveInit(t, dir, "vit-mini")
	out := filepath.Join(dir, "cka")
	args := []string{"--images", "24", "--batch", "8", "--threads", "1", "--out", out, "R=" + res, filepath.Join(dir, "vit-mini")}
	code, stdout, stderr := runCmd(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "3 pairs of models, 24 images in 3 minibatches") {
		t.Errorf("stdout %q", stdout)
	}
	for _, f := range []string{"cka.json", "cka.csv", "cka.journal.jsonl", "cka-R-R.png", "cka-R-vit-mini.png", "cka-vit-mini-vit-mini.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "cka.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Provenance struct{ Tool string } `json:"provenance"`
		Pairs      []struct {
			A, B string
			CKA  [][]*float64 `json:"cka"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Provenance.Tool != "cka" || len(got.Pairs) != 3 || got.Pairs[0].A != "R" || len(got.Pairs[1].CKA) != 6 || len(got.Pairs[1].CKA[0]) != 14 {
		t.Errorf("cka.json: %+v", got.Provenance)
	}
	// CSV: a header and one row per pair of layers (6·6 + 6·14 + 14·14).
	csv, _ := os.ReadFile(filepath.Join(out, "cka.csv"))
	if n := strings.Count(string(csv), "\n"); n != 1+36+84+196 {
		t.Errorf("cka.csv has %d lines", n)
	}
	// A rerun finds every minibatch in the journal.
	code, stdout2, stderr := runCmd(context.Background(), args...)
	if code != 0 || strings.Contains(stderr, "minibatches") {
		t.Errorf("rerun: exit %d, stderr %q", code, stderr)
	}
	b2, _ := os.ReadFile(filepath.Join(out, "cka.csv"))
	if !bytes.Equal(csv, b2) || !strings.Contains(stdout2, "3 pairs") {
		t.Error("the rerun changed cka.csv")
	}
}

func TestCKAUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--out", dir},
		{"x.json"},
		{"--out", dir, "--batch", "3", "x.json"},
		{"--out", dir, "--estimator", "wrong", "x.json"},
		{"--out", dir, "--images", "10", "--batch", "20", "x.json"},
		{"--out", dir, filepath.Join(dir, "missing.json")},
	} {
		code, _, stderr := runCmd(context.Background(), args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line", args, code, stderr)
		}
	}
}

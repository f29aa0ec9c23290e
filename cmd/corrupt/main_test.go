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

	"github.com/vitprobe/vitprobe/findings"
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
	code = cli.Exit("corrupt", err, &e)
	return code, o.String(), e.String()
}

func TestCorruptCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two models")
	}
	dir := t.TempDir()
	saveInit(t, dir, "resnet-mini")
	saveInit(t, dir, "alternet-mini")
	out := filepath.Join(dir, "c")
	args := []string{"--images", "20", "--batch", "10", "--threads", "1", "--corruptions", "contrast,pixelate", "--severities", "2,5",
		"--out", out, "A=" + filepath.Join(dir, "alternet-mini"), filepath.Join(dir, "resnet-mini")}
	code, stdout, stderr := runCmd(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "(CE against resnet-mini)") || !strings.Contains(stdout, "AlterNet is more robust") {
		t.Errorf("stdout %q", stdout)
	}
	for _, f := range []string{"corrupt.json", "corrupt.csv", "mce.csv", "corrupt.png", "sheet.png", "findings.json", "journals/A.jsonl", "journals/resnet-mini.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var got struct {
		Summary struct {
			Baseline string
			Models   []struct {
				Name string
				MCE  *float64 `json:"mce"`
			}
		}
		Models []struct {
			Name       string
			Conditions []struct{ Accuracy float64 }
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "corrupt.json"))
	if err := json.Unmarshal(b, &got); err != nil || got.Summary.Baseline != "resnet-mini" || len(got.Models) != 2 || len(got.Models[0].Conditions) != 4 {
		t.Errorf("corrupt.json: %v %+v", err, got)
	}
	if m := got.Summary.Models[1]; m.Name != "resnet-mini" || m.MCE == nil || *m.MCE != 1 {
		t.Errorf("the baseline's own mCE: %+v", m)
	}
	var fs []findings.Finding
	b, _ = os.ReadFile(filepath.Join(out, "findings.json"))
	if err := json.Unmarshal(b, &fs); err != nil || len(fs) != 1 {
		t.Errorf("findings.json: %v %+v", err, fs)
	}
	code, _, stderr = runCmd(context.Background(), args...)
	if code != 0 || strings.Contains(stderr, "passes") {
		t.Errorf("rerun: exit %d, stderr %q (want every condition from the journals)", code, stderr)
	}
}

func TestCorruptUsage(t *testing.T) {
	dir := t.TempDir()
	path := saveInit(t, dir, "resnet-mini")
	for _, args := range [][]string{
		{"--out", dir},
		{path},
		{"--out", dir, "--corruptions", "fog", path},
		{"--out", dir, "--severities", "0", path},
		{"--out", dir, "--baseline", "nobody", path},
		{"--out", dir, "--images", "20000", path},
	} {
		code, _, stderr := runCmd(context.Background(), args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line", args, code, stderr)
		}
	}
}

// TestCorruptShards runs two shards, then assembles them: the assembly
// evaluates nothing and gives the same table as one process.
func TestCorruptShards(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a model")
	}
	dir := t.TempDir()
	ck := saveInit(t, dir, "resnet-mini")
	common := []string{"--images", "20", "--batch", "10", "--threads", "1", "--corruptions", "contrast,motion_blur", "--severities", "1,4", "--sheet", "-1"}
	one := filepath.Join(dir, "one")
	if code, _, stderr := runCmd(context.Background(), append(common, "--out", one, ck)...); code != 0 {
		t.Fatalf("one process: exit %d: %s", code, stderr)
	}
	sharded := filepath.Join(dir, "sharded")
	for _, s := range []string{"0/2", "1/2"} {
		code, stdout, stderr := runCmd(context.Background(), append(common, "--out", sharded, "--shard", s, ck)...)
		if code != 0 || !strings.Contains(stdout, "shard "+s+" done") {
			t.Fatalf("shard %s: exit %d: %s %s", s, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(sharded, "corrupt.json")); err == nil {
		t.Error("a shard wrote corrupt.json")
	}
	code, _, stderr := runCmd(context.Background(), append(common, "--out", sharded, ck)...)
	if code != 0 || strings.Contains(stderr, "passes") {
		t.Fatalf("assembly: exit %d, stderr %q (want nothing evaluated)", code, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(one, "corrupt.csv"))
	b, _ := os.ReadFile(filepath.Join(sharded, "corrupt.csv"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("the assembled shards' table differs from one process's")
	}
	if code, _, _ := runCmd(context.Background(), append(common, "--out", sharded, "--shard", "2/2", ck)...); code != 2 {
		t.Errorf("--shard 2/2: exit %d, want 2", code)
	}
}

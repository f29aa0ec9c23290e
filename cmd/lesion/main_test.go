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
	code = cli.Exit("lesion", err, &e)
	return code, o.String(), e.String()
}

func TestLesionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two models")
	}
	dir := t.TempDir()
	saveInit(t, dir, "resnet-mini")
	saveInit(t, dir, "alternet-mini")
	out := filepath.Join(dir, "lesion")
	args := []string{"--images", "20", "--batch", "10", "--threads", "1", "--out", out, filepath.Join(dir, "resnet-mini"), "A=" + filepath.Join(dir, "alternet-mini")}
	code, stdout, stderr := runCmd(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "resnet-mini: intact") || !strings.Contains(stdout, "A: intact") || !strings.Contains(stdout, "MSA vs Conv: inconclusive") {
		t.Errorf("stdout %q", stdout)
	}
	for _, f := range []string{"lesion.json", "lesion.csv", "lesion.png", "findings.json", "journals/resnet-mini.jsonl", "journals/A.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var fs []findings.Finding
	b, _ := os.ReadFile(filepath.Join(out, "findings.json"))
	if err := json.Unmarshal(b, &fs); err != nil || len(fs) != 1 || fs[0].Verdict != findings.Inconclusive {
		t.Errorf("findings.json: %v %+v (want one inconclusive finding: alternet-mini has no identity Conv block)", err, fs)
	}
	var res struct {
		Models []struct {
			Name    string
			Blocks  []struct{ Name string }
			Skipped []struct{ Name, Reason string }
		}
	}
	b, _ = os.ReadFile(filepath.Join(out, "lesion.json"))
	if err := json.Unmarshal(b, &res); err != nil || len(res.Models) != 2 || len(res.Models[1].Blocks) != 3 || len(res.Models[0].Skipped) != 5 {
		t.Errorf("lesion.json: %v %+v", err, res)
	}
	code, _, stderr = runCmd(context.Background(), args...)
	if code != 0 || strings.Contains(stderr, "passes") {
		t.Errorf("rerun: exit %d, stderr %q (want every evaluation from the journals)", code, stderr)
	}
	code, stdout, _ = runCmd(context.Background(), append([]string{"--projection"}, args...)...)
	if code != 0 || !strings.Contains(stdout, "layer4.0") {
		t.Errorf("--projection: exit %d, stdout %q", code, stdout)
	}
}

func TestLesionUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--out", dir}, {"x.json"}, {"--out", dir, "--images", "0", "x.json"}, {"--out", dir, filepath.Join(dir, "missing")}} {
		code, _, stderr := runCmd(context.Background(), args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want 2 and one line", args, code, stderr)
		}
	}
}

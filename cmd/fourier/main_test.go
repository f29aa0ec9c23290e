package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/testdep"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
)

// staleEnv makes the test binary a process that starts writing the file
// it names atomically and waits to be killed (a run killed while writing
// its outputs).
const staleEnv = "FOURIER_TEST_KILLED_WRITER"

func TestMain(m *testing.M) {
	if p := os.Getenv(staleEnv); p != "" {
		f, err := atomicfile.Create(p)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		_, _ = f.WriteString("half a table")
		fmt.Println("writing")
		select {} // until killed
	}
	os.Exit(m.Run())
}

// killedWriter leaves in dir the temporary file of a process killed while
// writing name, and returns its path.
func killedWriter(t *testing.T, dir, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), staleEnv+"="+filepath.Join(dir, name))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "writing\n" {
		t.Fatalf("writer: %q", line)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	tmps, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
	if len(tmps) != 1 {
		t.Fatalf("the killed writer left %d temporary files", len(tmps))
	}
	return tmps[0]
}

// TestOutputsManifestLast: results.json, which lists the report's files,
// is written after them. A failure between two outputs (here kinds.csv
// cannot replace a folder of that name; a kill at that moment is the same)
// leaves no results.json describing a report that is not there; before
// issue 14 results.json was written first. The next run, once the folder
// is gone, completes the outputs and removes the temporary file a killed
// writer left.
func TestOutputsManifestLast(t *testing.T) {
	dir := t.TempDir()
	good := saveInit(t, dir, "resnet-mini")
	out := filepath.Join(dir, "rep")
	if err := os.MkdirAll(filepath.Join(out, "kinds.csv", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--images", "20", "--batch", "10", "--bands", "0.5", "--threads", "1", "--out", out, good}
	if code, _, stderr := runCmd(context.Background(), args...); code != 1 || !strings.Contains(stderr, "kinds.csv") {
		t.Fatalf("exit %d, stderr %q; want 1 naming kinds.csv", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "layers.csv")); err != nil {
		t.Fatalf("the outputs before kinds.csv were not written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("results.json written although the report is incomplete")
	}
	if err := os.RemoveAll(filepath.Join(out, "kinds.csv")); err != nil {
		t.Fatal(err)
	}
	stale := killedWriter(t, out, "noise.csv")
	if code, _, stderr := runCmd(context.Background(), args...); code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, stderr)
	}
	for _, f := range []string{"kinds.csv", "results.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("rerun: %v", err)
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed writer's %s is still there", filepath.Base(stale))
	}
}

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

// runCmd runs the command and returns its exit status and output.
func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	err := run(ctx, args, &o, &e)
	code = cli.Exit("fourier", err, &e)
	return code, o.String(), e.String()
}

func TestReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two models")
	}
	dir := t.TempDir()
	res := saveInit(t, dir, "resnet-mini")
	saveInit(t, dir, "vit-mini")
	out := filepath.Join(dir, "rep")
	args := []string{"--images", "24", "--batch", "10", "--bands", "0.2,0.8", "--threads", "1", "--out", out,
		"ResNet=" + res, filepath.Join(dir, "vit-mini")}
	code, stdout, stderr := runCmd(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "4 figure(s)") {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "ResNet features") || !strings.Contains(stderr, "vit-mini noise") {
		t.Errorf("no progress lines in stderr:\n%s", stderr)
	}
	for _, f := range []string{"report.html", "results.json", "fig2a-dlogamp.png", "fig8-highfreq.png", "fig9-variance.png",
		"fig2b-noise.png", "layers.csv", "profiles.csv", "noise.csv", "kinds.csv", "models/ResNet.jsonl", "models/vit-mini.jsonl"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n, err := reports.CheckPageImages(filepath.Join(out, "report.html")); err != nil || n != 4 {
		t.Errorf("page images: %d, %v", n, err)
	}
	// The browser's view: every image decodes (natural size > 0).
	if n, _ := testdep.RenderPage(t, filepath.Join(out, "report.html")); n != 4 {
		t.Errorf("Chromium found %d images in report.html, want 4", n)
	}
	var r results.Fourier
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Models) != 2 || r.Models[0].Name != "ResNet" || r.Models[1].Name != "vit-mini" || r.Images != 24 {
		t.Fatalf("results: %d models, images %d", len(r.Models), r.Images)
	}
	vit := r.Models[1]
	if vit.Fourier == nil || vit.Variance == nil || vit.Noise == nil || len(vit.Noise.Bands) != 2 ||
		len(vit.Fourier.Layers) != 13 || vit.Fourier.Layers[1].Kind != models.KindMSA || vit.Fourier.Images != 24 {
		t.Errorf("vit-mini results incomplete: %+v", vit)
	}
	if r.Provenance.Seed != 0 || len(r.Provenance.Inputs) != 2 || r.Provenance.Inputs[0].SHA256 == "" {
		t.Errorf("provenance %+v", r.Provenance)
	}
	page, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !bytes.Contains(page, []byte(vit.Weights)) {
		t.Error("report lacks the weights hash")
	}

	// A rerun reuses both models' results and gives the same numbers.
	code, _, stderr = runCmd(context.Background(), args...)
	if code != 0 || strings.Count(stderr, "reusing") != 2 {
		t.Errorf("rerun: exit %d, stderr:\n%s", code, stderr)
	}
	b2, _ := os.ReadFile(filepath.Join(out, "results.json"))
	var again results.Fourier
	if err := json.Unmarshal(b2, &again); err != nil || again.Models[1].Noise.Clean != vit.Noise.Clean || !again.Models[1].Reused {
		t.Errorf("reused result differs or is not marked reused: %v", err)
	}
	// Another setting is another key: --nyquist recomputes.
	code, _, stderr = runCmd(context.Background(), append([]string{"--nyquist", "--no-noise"}, args...)...)
	if code != 0 || strings.Contains(stderr, "reusing") {
		t.Errorf("--nyquist rerun: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestInterrupt(t *testing.T) {
	dir := t.TempDir()
	res := saveInit(t, dir, "resnet-mini")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, stderr := runCmd(ctx, "--images", "10", "--out", filepath.Join(dir, "rep"), res)
	if code != 130 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want 130", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rep", "report.html")); err == nil {
		t.Error("an interrupted run wrote a report")
	}
}

// TestBadInput: every mistake is one line on stderr and the right status,
// before any long work.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := saveInit(t, dir, "resnet-mini")
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.json")
	ck, err := models.ReadCheckpoint(good)
	if err != nil {
		t.Fatal(err)
	}
	ck.Spec.Name = "no-such-model"
	ck.Weights = "resnet-mini/final.safetensors"
	js, _ := json.Marshal(ck)
	if err := os.WriteFile(unknown, js, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no checkpoint", []string{"--out", out}, 2, "no checkpoint given"},
		{"no out", []string{good}, 2, "--out is required"},
		{"batch 0", []string{"--batch", "0", "--out", out, good}, 2, "--batch 0"},
		{"images 0", []string{"--images", "0", "--out", out, good}, 2, "--images 0"},
		{"band above π", []string{"--bands", "0.5,1.2", "--out", out, good}, 2, "outside (0, π)"},
		{"band at 0", []string{"--bands", "0", "--out", out, good}, 2, "outside (0, π)"},
		{"band reaching 0", []string{"--bands", "0.04", "--out", out, good}, 2, "not inside (0, π]"},
		{"band not a number", []string{"--bands", "low", "--out", out, good}, 2, "not a number"},
		{"negative noise", []string{"--noise", "-1", "--out", out, good}, 2, "noise level -1"},
		{"width", []string{"--band-width", "2", "--out", out, good}, 2, "band width"},
		{"metric", []string{"--metric", "manhattan", "--out", out, good}, 2, "--metric"},
		{"variance scale", []string{"--variance-scale", "cubic", "--out", out, good}, 2, "--variance-scale"},
		{"nothing to do", []string{"--no-noise", "--no-variance", "--no-fourier", "--out", out, good}, 2, "nothing to do"},
		{"duplicate label", []string{"--out", out, "a=" + good, "a=" + good}, 2, "labelled \"a\""},
		{"missing checkpoint", []string{"--out", out, filepath.Join(dir, "nope.json")}, 1, "does not exist"},
		{"folder without final", []string{"--out", out, empty}, 1, "without final.json"},
		{"corrupt sidecar", []string{"--out", out, corrupt}, 1, "not a vitprobe checkpoint"},
		{"unknown model", []string{"--out", out, unknown}, 1, "unknown model"},
		{"too many images", []string{"--images", "20000", "--out", out, good}, 2, "has 10000 images"},
		{"unknown flag", []string{"--frequency", "3", "--out", out, good}, 2, "frequency"},
	}
	for _, c := range cases {
		code, _, stderr := runCmd(context.Background(), c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, code, stderr, c.code, c.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
			t.Errorf("%s: %d lines of error:\n%s", c.name, n+1, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err == nil {
		t.Error("a failed run wrote a report")
	}
}

// TestShardsMerge: two shards, each measuring one of two checkpoints, then
// --merge, write the tables of one process byte for byte.
func TestShardsMerge(t *testing.T) {
	dir := t.TempDir()
	a, b := saveInit(t, dir, "resnet-mini"), saveInit(t, dir, "vit-mini")
	common := []string{"--images", "20", "--batch", "10", "--bands", "0.3,0.7", "--threads", "1"}
	one := filepath.Join(dir, "one")
	if code, _, stderr := runCmd(context.Background(), append(common, "--out", one, a, b)...); code != 0 {
		t.Fatalf("one process: exit %d: %s", code, stderr)
	}
	sharded := filepath.Join(dir, "sharded")
	for i := range 2 {
		args := append(common, "--out", sharded, "--shard", fmt.Sprintf("%d/2", i), a, b)
		code, stdout, stderr := runCmd(context.Background(), args...)
		if code != 0 || !strings.Contains(stdout, "--merge") {
			t.Fatalf("shard %d: exit %d: %s%s", i, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(sharded, "results.json")); err == nil {
		t.Fatal("a shard wrote results.json")
	}
	if code, _, stderr := runCmd(context.Background(), "--merge", "--out", sharded, a, b); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	for _, f := range []string{"layers.csv", "profiles.csv", "noise.csv", "kinds.csv"} {
		x, err1 := os.ReadFile(filepath.Join(one, f))
		y, err2 := os.ReadFile(filepath.Join(sharded, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between one process and the merged shards (%v, %v)", f, err1, err2)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/testdep"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/torchx"
)

var (
	binPath  string // the command, built by TestMain
	fixture  string // folder of the test checkpoints
	mnistErr error  // why MNIST could not be loaded, if it could not
)

// needMNIST stops t when MNIST is missing: every test here evaluates the
// checkpoints on it.
func needMNIST(t *testing.T) {
	t.Helper()
	if mnistErr != nil {
		testdep.Missing(t, "MNIST: %v (make setup copies it)", mnistErr)
	}
}

// TestMain builds the command and writes the test checkpoints: two
// resnet-mini weight sets (an "init" and a "final", different seeds; the
// final records a training weight decay of 0.1) and a vit-mini. Untrained
// weights are enough here: these tests are about the command's plumbing;
// analysis's tests check the numbers on a trained model.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "landscape-cmd-test")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "landscape")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	fixture = filepath.Join(dir, "ckpt")
	if err := os.MkdirAll(fixture, 0o755); err != nil {
		panic(err)
	}
	if _, err := data.Load("mnist", "", data.Train); err != nil {
		mnistErr = err // each test reports it (testdep: a failure in CI)
		return m.Run()
	}
	mini := models.Config{Classes: 10, InChannels: 1, ImageSize: 32}
	for _, c := range []struct {
		name, model string
		seed        uint64
		train       string
	}{
		{"init", "resnet-mini", 1, ""},
		{"final", "resnet-mini", 2, `{"config":{"weight_decay":0.1,"dataset":"mnist","augment":{"crop_pad":4}}}`},
		{"vit", "vit-mini", 3, ""},
	} {
		torchx.Seed(c.seed)
		md, err := models.New(c.model, mini, gotch.CPU)
		if err != nil {
			panic(err)
		}
		ck := models.Checkpoint{Phase: c.name, Dataset: "mnist", Seed: c.seed}
		if c.train != "" {
			ck.Train = json.RawMessage(c.train)
		}
		if _, err := models.Save(filepath.Join(fixture, c.name), md, ck); err != nil {
			panic(err)
		}
		md.Close()
	}
	return m.Run()
}

func ckpt(name string) string { return filepath.Join(fixture, name+".json") }

// base is a small grid: 11 x 11 points over 100 images in batches of 50.
func base(out string, extra ...string) []string {
	return append([]string{"--grid", "-1:1:11", "--images", "100", "--batch", "50", "--out", out, "--plots=false"}, extra...)
}

// runIn runs the command in this process and returns its exit status and
// output.
func runIn(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code := cli.Exit("landscape", err, &errb)
	return code, out.String() + errb.String()
}

// reference is the CSV of the uninterrupted single-process run of base()
// with two workers, made once.
var reference = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "landscape-ref")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out, err := exec.Command(binPath, append(base(dir), "--threads", "2", ckpt("final"))...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "landscape.csv"))
})

func refCSV(t *testing.T) []byte {
	t.Helper()
	b, err := reference()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// journalIndices returns the point indices recorded in a journal.
func journalIndices(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var idx []int
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		var r struct{ I int }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		idx = append(idx, r.I)
	}
	return idx
}

// countRecords counts the complete records of a journal (lines after the
// header), 0 if it does not exist yet.
func countRecords(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return max(0, bytes.Count(b, []byte("\n"))-1)
}

func TestLandscapeKillAndResume(t *testing.T) {
	needMNIST(t)
	want := refCSV(t)
	dir := t.TempDir()
	args := append(base(dir), "--threads", "1", ckpt("final"))
	cmd := exec.Command(binPath, args...)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	journal := filepath.Join(dir, "landscape.journal.jsonl")
	deadline := time.Now().Add(3 * time.Minute)
	for countRecords(journal) < 30 {
		select {
		case err := <-done:
			t.Fatalf("the run ended before it was killed (%v): the test needs a longer grid\n%s", err, log.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	killedAt := countRecords(journal)
	if killedAt >= 121 {
		t.Fatal("the run finished before the kill landed")
	}
	if _, err := os.Stat(filepath.Join(dir, "landscape.csv")); err == nil {
		t.Fatal("a killed run left a CSV")
	}
	out, err := exec.Command(binPath, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	idx := journalIndices(t, journal)
	seen := map[int]bool{}
	for _, i := range idx {
		if seen[i] {
			t.Errorf("point %d computed twice", i)
		}
		seen[i] = true
	}
	if len(idx) != 121 {
		t.Errorf("the journal holds %d records, the grid 121 points", len(idx))
	}
	got, err := os.ReadFile(filepath.Join(dir, "landscape.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the CSV after kill (at %d points) and resume differs from the uninterrupted run's", killedAt)
	}
	// A rerun of a finished run computes nothing.
	out, err = exec.Command(binPath, args...).CombinedOutput()
	if err != nil || countRecords(journal) != 121 {
		t.Errorf("rerun of a finished run: %v, %d records\n%s", err, countRecords(journal), out)
	}
}

func TestLandscapeShardsMergeToTheSingleRun(t *testing.T) {
	needMNIST(t)
	want := refCSV(t)
	dir := t.TempDir()
	args := append(base(dir), "--threads", "1", ckpt("final"))
	// Four processes at once: two by flag, one as a Slurm array task, one
	// as a Kubernetes indexed-job pod.
	type proc struct {
		cmd *exec.Cmd
		log bytes.Buffer
	}
	var ps []*proc
	for i := range 4 {
		p := &proc{}
		switch i {
		case 2:
			p.cmd = exec.Command(binPath, args...)
			p.cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=12", "SLURM_ARRAY_TASK_MIN=10", "SLURM_ARRAY_TASK_COUNT=4")
		case 3:
			p.cmd = exec.Command(binPath, args...)
			p.cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX=3", "VITPROBE_SHARD_COUNT=4")
		default:
			p.cmd = exec.Command(binPath, append([]string{"--shard", fmt.Sprintf("%d/4", i)}, args...)...)
		}
		p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, p.log.String())
		}
	}
	for i := range 4 {
		j := filepath.Join(dir, fmt.Sprintf("landscape.shard-%d-of-4.jsonl", i))
		for _, k := range journalIndices(t, j) {
			if k%4 != i {
				t.Errorf("shard %d computed point %d", i, k)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "landscape.csv")); err == nil {
		t.Error("a shard wrote the CSV")
	}
	if code, out := runIn(t, append(args, "--merge")...); code != 0 {
		t.Fatalf("merge: status %d\n%s", code, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "landscape.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the merged CSV differs from the single process's")
	}
}

func TestLandscapeBadInputIsOneLineAndWritesNothing(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	sidecar, _ := os.ReadFile(ckpt("final"))
	weights, _ := os.ReadFile(filepath.Join(fixture, "final.safetensors"))
	_ = os.WriteFile(filepath.Join(corrupt, "final.json"), sidecar, 0o644)
	_ = os.WriteFile(filepath.Join(corrupt, "final.safetensors"), weights[:len(weights)/2], 0o644)
	_ = os.WriteFile(filepath.Join(dir, "garbage.json"), []byte("not json"), 0o644)
	short := filepath.Join(dir, "short.safetensors")
	if err := analysis.SaveLandscapeEigvecs(short, &analysis.LandscapeEigvecs{Vectors: [][]float64{{1, 2}, {3, 4}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no checkpoint", []string{"--out", "X"}, 2, "no checkpoint"},
		{"no out", []string{ckpt("final")}, 2, "--out"},
		{"unknown flag", []string{"--frobnicate", ckpt("final")}, 2, "frobnicate"},
		{"min above max", []string{"--grid", "1:-1:21", ckpt("final")}, 2, "min must be below max"},
		{"min equals max", []string{"--xmin", "0.5", "--xmax", "0.5", ckpt("final")}, 2, "min must be below max"},
		{"one point", []string{"--grid", "-1:1:1", ckpt("final")}, 2, "at least 2 points"},
		{"y resolution", []string{"--ynum", "0", ckpt("final")}, 2, "at least 2 points"},
		{"grid syntax", []string{"--grid", "-1:1", ckpt("final")}, 2, "MIN:MAX:NUM"},
		{"shard index", []string{"--shard", "4/4", ckpt("final")}, 2, "index must be in 0..3"},
		{"shard syntax", []string{"--shard", "x", ckpt("final")}, 2, "want i/n"},
		{"norm", []string{"--norm", "l2", ckpt("final")}, 2, "--norm"},
		{"images", []string{"--images", "0", ckpt("final")}, 2, "--images"},
		{"clip", []string{"--clip", "-1", ckpt("final")}, 2, "--clip"},
		{"clip mode", []string{"--clip-mode", "hide", ckpt("final")}, 2, "--clip-mode"},
		{"1d with y", []string{"--1d", "--ynum", "5", ckpt("final")}, 2, "--1d"},
		{"merge and shard", []string{"--merge", "--shard", "0/2", ckpt("final")}, 2, "--merge"},
		{"missing checkpoint", []string{filepath.Join(dir, "nope.json")}, 1, "does not exist"},
		{"garbage sidecar", []string{filepath.Join(dir, "garbage.json")}, 1, "not a vitprobe checkpoint"},
		{"truncated weights", []string{filepath.Join(corrupt, "final.json")}, 1, "safetensors"},
		{"other architecture", []string{"--dir-from", ckpt("vit"), ckpt("final")}, 1, "one architecture"},
		{"eigvecs length", []string{"--eigvecs", short, ckpt("final")}, 1, "does not fit"},
		{"merge without shards", []string{"--merge", ckpt("final")}, 1, "no shard journals"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			args := append([]string{"--images", "20", "--plots=false", "--threads", "1"}, c.args...)
			if !slices.Contains(c.args, "--out") && c.name != "no out" {
				args = append([]string{"--out", out}, args...)
			}
			code, msg := runIn(t, args...)
			if code != c.code {
				t.Errorf("status %d, want %d\n%s", code, c.code, msg)
			}
			lines := strings.Split(strings.TrimSpace(msg), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "landscape: ") || !strings.Contains(last, c.msg) {
				t.Errorf("message %q, want one line with %q", last, c.msg)
			}
			for _, f := range []string{"landscape.csv", "landscape.json"} {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					t.Errorf("%s written after an error", f)
				}
			}
		})
	}
}

// TestLabelCannotLeaveOut: a label names a folder inside --out; ".."
// would have put a checkpoint's outputs beside --out (before issue 14 it
// did), so it is refused, as a usage error, before anything is written.
func TestLabelCannotLeaveOut(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	code, msg := runIn(t, "--grid", "-1:1:3", "--images", "20", "--batch", "10", "--threads", "1", "--plots=false", "--out", out,
		"..="+ckpt("final"), "b="+ckpt("init"))
	if code != 2 || !strings.Contains(msg, "outside the output folder") {
		t.Errorf("status %d, message %q; want 2 and a refusal", code, msg)
	}
	for _, f := range []string{"landscape.csv", "landscape.json", "subset.json", "landscape.journal.jsonl"} {
		if _, err := os.Stat(filepath.Join(parent, f)); err == nil {
			t.Errorf("%s written outside --out", f)
		}
	}
}

func TestLandscapeJournalOfOtherSettingsIsRefused(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	args := []string{"--grid", "-1:1:3", "--images", "20", "--batch", "10", "--threads", "1", "--plots=false", "--out", dir, ckpt("final")}
	if code, out := runIn(t, args...); code != 0 {
		t.Fatalf("status %d\n%s", code, out)
	}
	_ = os.Remove(filepath.Join(dir, "landscape.csv"))
	code, out := runIn(t, append(args, "--images", "30")...)
	if code != 1 || !strings.Contains(out, "inputs.examples was \"20\", now \"30\"") {
		t.Errorf("status %d, message %q", code, out)
	}
	code, out = runIn(t, append(args, "--seed", "4")...)
	if code != 1 || !strings.Contains(out, "directions.seed") {
		t.Errorf("status %d, message %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "landscape.csv")); err == nil {
		t.Error("a refused run wrote the CSV")
	}
}

func TestLandscapeFiguresAndDirections(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	// Two checkpoints side by side, 2-D, weight decay from the checkpoint
	// (0.1) and the default (meta.DefaultWeightDecay).
	code, out := runIn(t, "--grid", "-1:1:5", "--images", "30", "--batch", "15", "--threads", "2", "--side-by-side", "--clip", "5",
		"--out", dir, "a="+ckpt("final"), "b="+ckpt("init"))
	if code != 0 {
		t.Fatalf("status %d\n%s", code, out)
	}
	var pngs []string
	for _, p := range []string{"a", "b"} {
		for _, q := range []string{"nll", "loss"} {
			for _, k := range []string{"contour", "heatmap", "surface"} {
				pngs = append(pngs, filepath.Join(dir, p, q+"-"+k+".png"))
			}
		}
		pngs = append(pngs, filepath.Join(dir, p, "slices.png"))
	}
	for _, q := range []string{"nll", "loss"} {
		for _, k := range []string{"contour", "heatmap", "surface"} {
			pngs = append(pngs, filepath.Join(dir, "side-by-side-"+q+"-"+k+".png"))
		}
	}
	for _, p := range pngs {
		checkPNG(t, p)
	}
	var doc struct {
		Spec struct {
			WeightDecay float64 `json:"weight_decay"`
		} `json:"spec"`
		Provenance struct {
			Inputs []struct{ Path string } `json:"inputs"`
		} `json:"provenance"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "a", "landscape.json"))
	if err := json.Unmarshal(b, &doc); err != nil || doc.Spec.WeightDecay != 0.1 || len(doc.Provenance.Inputs) != 1 {
		t.Errorf("a: weight decay %v (want the checkpoint's 0.1), inputs %v, %v", doc.Spec.WeightDecay, doc.Provenance.Inputs, err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "b", "landscape.json"))
	if err := json.Unmarshal(b, &doc); err != nil || doc.Spec.WeightDecay != meta.DefaultWeightDecay {
		t.Errorf("b: weight decay %v, want the default %v", doc.Spec.WeightDecay, meta.DefaultWeightDecay)
	}
	if !strings.Contains(out, "records no training weight decay") {
		t.Errorf("no note about the default weight decay:\n%s", out)
	}

	// The 1-D line from init to final: at 0 the init checkpoint, at 1 the
	// final one.
	line := filepath.Join(t.TempDir(), "line")
	code, out = runIn(t, "--1d", "--grid", "0:1:3", "--images", "30", "--batch", "15", "--threads", "1",
		"--dir-from", ckpt("init"), "--out", line, ckpt("final"))
	if code != 0 {
		t.Fatalf("--dir-from: status %d\n%s", code, out)
	}
	checkPNG(t, filepath.Join(line, "curves-nll.png"))
	checkPNG(t, filepath.Join(line, "curves-loss.png"))
	csv := readCSV(t, filepath.Join(line, "landscape.csv"))
	ends := map[string]string{}
	for name, x := range map[string]string{"init": "0", "final": "1"} {
		o := filepath.Join(t.TempDir(), name)
		if code, out := runIn(t, "--1d", "--grid", "-1:1:3", "--images", "30", "--batch", "15", "--threads", "1", "--plots=false", "--out", o, ckpt(name)); code != 0 {
			t.Fatalf("%s: %s", name, out)
		}
		ends[x] = readCSV(t, filepath.Join(o, "landscape.csv"))["0"]
	}
	for x, want := range ends {
		if csv[x] != want {
			t.Errorf("--dir-from at x = %s: NLL,Acc %s; the checkpoint itself %s", x, csv[x], want)
		}
	}

	// Eigenvector directions of the right length.
	m, _, err := models.Load(ckpt("final"), gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	n := int(models.NumParams(m))
	m.Close()
	v0, v1 := make([]float64, n), make([]float64, n)
	v0[0], v1[n-1] = 1, 1
	eig := filepath.Join(t.TempDir(), "eig.safetensors")
	if err := analysis.SaveLandscapeEigvecs(eig, &analysis.LandscapeEigvecs{Vectors: [][]float64{v0, v1}, Model: "resnet-mini"}); err != nil {
		t.Fatal(err)
	}
	code, out = runIn(t, "--grid", "-1:1:3", "--images", "20", "--threads", "1", "--plots=false", "--eigvecs", eig, "--out", t.TempDir(), ckpt("final"))
	if code != 0 {
		t.Errorf("--eigvecs: status %d\n%s", code, out)
	}
	code, out = runIn(t, "--grid", "-1:1:3", "--images", "20", "--threads", "1", "--plots=false", "--eigvecs", eig, "--out", t.TempDir(), ckpt("vit"))
	if code != 1 || !strings.Contains(out, "computed for resnet-mini") {
		t.Errorf("--eigvecs of another model: status %d\n%s", code, out)
	}
}

// readCSV maps each row's x (1-D) to "NLL,Acc".
func readCSV(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(l, ",")
		out[f[0]] = f[4] + "," + f[5]
	}
	return out
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 300 || cfg.Height < 300 {
		t.Errorf("%s: %dx%d, %v", path, cfg.Width, cfg.Height, err)
	}
}

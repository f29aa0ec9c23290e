package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/models"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// small is a run of a few dozen steps: 1% of MNIST (600 images) in
// batches of 32, three epochs, warm-up ending mid-epoch.
var small = []string{"--model", "resnet-mini", "--fraction", "0.01", "--batch", "32", "--epochs", "3",
	"--warmup", "0.5", "--seed", "7", "--threads", "2", "--test-fraction", "0.05"}

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func finalHash(t *testing.T, dir string) string {
	t.Helper()
	ck, err := models.ReadCheckpoint(filepath.Join(dir, "final.json"))
	if err != nil {
		t.Fatal(err)
	}
	return ck.WeightsSHA256
}

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "train-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "train")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor polls until path exists or the process exits.
func waitFor(t *testing.T, path string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("process ended before %s appeared: %v", path, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not appear", path)
}

func TestResumeAfterKillIsBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small runs")
	}
	ref := t.TempDir()
	if out, err := runCmd(t, append(small, "--out", ref)...); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want := finalHash(t, ref)

	// SIGKILL mid-epoch 2 (after the warm-up checkpoint and epoch 1's), then
	// resume from the latest checkpoint.
	killed := t.TempDir()
	cmd := exec.Command(binPath, append(small, "--out", killed, "--save-every", "1")...)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, filepath.Join(killed, "epoch-0001.json"), done)
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	if _, err := os.Stat(filepath.Join(killed, "final.json")); err == nil {
		t.Fatal("the run finished before it was killed; the test needs a longer run")
	}
	out, err := runCmd(t, append(small, "--out", killed, "--save-every", "1", "--resume")...)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(out, "resuming") {
		t.Errorf("resume did not report resuming:\n%s", out)
	}
	if got := finalHash(t, killed); got != want {
		t.Errorf("final weights after kill and resume %s, uninterrupted %s", got, want)
	}
	// A second resume of a finished run does nothing.
	out, err = runCmd(t, append(small, "--out", killed, "--save-every", "1", "--resume")...)
	if err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("resume of a finished run: %v\n%s", err, out)
	}
}

func TestInterruptSavesAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two small runs")
	}
	ref := t.TempDir()
	if out, err := runCmd(t, append(small, "--epochs", "2", "--out", ref)...); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(binPath, append(small, "--epochs", "2", "--out", dir)...)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, filepath.Join(dir, "warmup.json"), done)
	_ = cmd.Process.Signal(os.Interrupt)
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after Ctrl-C: %v (want exit status 130)\n%s", err, log.String())
	}
	m, _ := filepath.Glob(filepath.Join(dir, "interrupt-step-*.json"))
	if len(m) != 1 {
		t.Fatalf("interrupt checkpoints %v, want one\n%s", m, log.String())
	}
	if out, err := runCmd(t, append(small, "--epochs", "2", "--out", dir, "--resume")...); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if finalHash(t, dir) != finalHash(t, ref) {
		t.Error("final weights after Ctrl-C and resume differ from the uninterrupted run")
	}
}

func TestNonFiniteLossKeepsLastGoodCheckpoint(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, append(small, "--epochs", "1", "--lr", "1e38", "--clip", "0", "--out", dir)...)
	if err == nil || !strings.Contains(err.Error(), "non-finite loss") || !strings.Contains(err.Error(), "init.json") {
		t.Fatalf("got %v; want a non-finite loss error naming the last good checkpoint\n%s", err, out)
	}
	if cli.Exit("train", err, &bytes.Buffer{}) != 1 {
		t.Error("want exit status 1")
	}
	if _, _, err := models.Load(filepath.Join(dir, "init.json"), gotch.CPU); err != nil {
		t.Errorf("the last good checkpoint does not load: %v", err)
	}
}

// TestWorkersReproducible: vit-mini's and resnet-mini's steps split over two
// workers (resnet-mini's sharing batch norm's statistics) give the same
// weights, running statistics included, at every run, and run.json
// records the split (that a split step computes the one-pass gradient is
// train.TestSplitStepMatchesOneGraph).
func TestWorkersReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("trains six small runs")
	}
	for _, model := range []string{"vit-mini", "resnet-mini"} {
		t.Run(model, func(t *testing.T) { testWorkersReproducible(t, model) })
	}
}

func testWorkersReproducible(t *testing.T, model string) {
	args := append(append([]string(nil), small[2:]...), "--model", model, "--epochs", "1")
	var hashes []string
	var accs []float64
	for _, w := range []string{"2", "2", "1"} {
		dir := t.TempDir()
		out, err := runCmd(t, append(args, "--workers", w, "--out", dir)...)
		if err != nil {
			t.Fatalf("--workers %s: %v\n%s", w, err, out)
		}
		if w == "2" && !strings.Contains(out, "split over 2 workers") {
			t.Errorf("--workers 2: the log does not say so:\n%s", out)
		}
		hashes = append(hashes, finalHash(t, dir))
		var rec struct {
			Workers int `json:"workers"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "run.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil || fmt.Sprint(rec.Workers) != w {
			t.Errorf("--workers %s: run.json records %d workers (%v)", w, rec.Workers, err)
		}
		var acc float64
		if _, err := fmt.Sscanf(out[strings.Index(out, "test accuracy"):], "test accuracy %f%%", &acc); err != nil {
			t.Fatalf("no test accuracy in %q", out)
		}
		accs = append(accs, acc)
	}
	if hashes[0] != hashes[1] {
		t.Errorf("two runs on two workers: weights %s and %s", hashes[0], hashes[1])
	}
	if hashes[0] == hashes[2] {
		t.Logf("split and one-pass runs gave the same bits")
	}
	t.Logf("test accuracy: %.2f%% split, %.2f%% one pass (19 steps: near chance; train.TestSplitStepMatchesOneGraph checks the gradient)", accs[0], accs[2])
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	if out, err := runCmd(t, append(small, "--epochs", "1", "--out", dir)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"--model", "resnet-mini"}, "--out is required", 2},
		{[]string{"--model", "nope", "--out", t.TempDir()}, "known: ", 2},
		{[]string{"--out", t.TempDir(), "--fraction", "1.5"}, "fraction", 2},
		{[]string{"--out", t.TempDir(), "--fraction", "0"}, "fraction", 2},
		{[]string{"--out", t.TempDir(), "--epochs", "-1"}, "epochs", 2},
		{[]string{"--out", t.TempDir(), "--bogus"}, "bogus", 2},
		{[]string{"--out", t.TempDir(), "--dataset", "cifar10", "--data", t.TempDir()}, "cifar10", 1},
		{[]string{"--out", t.TempDir(), "--device", "cuda"}, "CUDA", 1},
		{[]string{"--out", t.TempDir(), "--workers", "0"}, "--workers", 2},
		// Resume with other model flags.
		{append(append([]string(nil), small...), "--epochs", "1", "--out", dir, "--resume", "--lr", "0.5"), "lr", 1},
		{append(append([]string(nil), small[2:]...), "--model", "vit-mini", "--epochs", "1", "--out", dir, "--resume"), "model", 1},
		// A fresh start over an existing run.
		{append(append([]string(nil), small...), "--epochs", "1", "--out", dir), "--resume", 1},
	} {
		_, err := runCmd(t, c.args...)
		var msg bytes.Buffer
		code := cli.Exit("train", err, &msg)
		if code != c.code || !strings.Contains(msg.String(), c.want) || strings.Count(msg.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want exit %d and one line containing %q", c.args, code, msg.String(), c.code, c.want)
		}
	}
	// A truncated checkpoint: resume fails naming the file.
	w := filepath.Join(dir, "final.safetensors")
	b, _ := os.ReadFile(w)
	os.WriteFile(w, b[:len(b)/3], 0o644)
	_, err := runCmd(t, append(small, "--epochs", "1", "--out", dir, "--resume")...)
	if err == nil || !strings.Contains(err.Error(), "final.safetensors") {
		t.Errorf("truncated checkpoint: %v", err)
	}
}

func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, append(small, "--epochs", "2", "--save-every", "1", "--out", dir)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, f := range []string{"run.json", "init.json", "init.safetensors", "warmup.json", "warmup.optim.safetensors",
		"epoch-0001.json", "final.json", "final.safetensors", "final.optim.safetensors", "metrics.csv", "metrics.json", "curves.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output %s", f)
		}
	}
	var ms []map[string]float64
	b, _ := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err := json.Unmarshal(b, &ms); err != nil || len(ms) != 2 {
		t.Fatalf("metrics.json: %v, %d epochs", err, len(ms))
	}
	// 600 images of MNIST, two epochs: well above chance (10%).
	if acc := ms[1]["test_acc"]; acc < 0.5 { // on 500 test images
		t.Errorf("test accuracy after two small epochs %.3f, want > 0.5", acc)
	}
	ck, err := models.ReadCheckpoint(filepath.Join(dir, "warmup.json"))
	if err != nil || ck.Phase != "warmup" || ck.Step != 9 {
		// 600 images / 32 = 18 steps per epoch (drop last); warm-up 0.5 epochs = 9 steps.
		t.Errorf("warmup checkpoint %+v, %v; want phase warmup at step 9", ck, err)
	}
}

// TestCheckpointLoadsInPyTorch evaluates a trained checkpoint with
// reference/pytorch/eval_checkpoint.py: PyTorch, reading our safetensors
// into its own definition of the architecture, must find the same test
// accuracy (same predictions) and the same loss to float32 rounding.
func TestCheckpointLoadsInPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small run")
	}
	py := testdep.Python(t, "numpy")
	dir := t.TempDir()
	args := append(append([]string(nil), small...), "--epochs", "1", "--test-fraction", "1", "--out", dir)
	if out, err := runCmd(t, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := exec.Command(py, "../../reference/pytorch/eval_checkpoint.py", filepath.Join(dir, "final.json"),
		"--mnist", "../../datasets/mnist", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("eval_checkpoint.py: %v\n%s", err, out)
	}
	var ref struct {
		Acc  float64 `json:"test_acc"`
		Loss float64 `json:"test_loss"`
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var ms []map[string]float64
	b, _ := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err := json.Unmarshal(b, &ms); err != nil {
		t.Fatal(err)
	}
	goAcc, goLoss := ms[0]["test_acc"], ms[0]["test_loss"]
	t.Logf("Go: accuracy %.4f loss %.6f; PyTorch: accuracy %.4f loss %.6f", goAcc, goLoss, ref.Acc, ref.Loss)
	// Same kernels, same weights: at most a couple of the 10,000
	// predictions may flip on float rounding ties.
	if d := goAcc - ref.Acc; d > 2e-4 || d < -2e-4 {
		t.Errorf("test accuracy Go %.4f, PyTorch %.4f", goAcc, ref.Acc)
	}
	if d := (goLoss - ref.Loss) / ref.Loss; d > 1e-4 || d < -1e-4 {
		t.Errorf("test loss Go %.6f, PyTorch %.6f", goLoss, ref.Loss)
	}
}

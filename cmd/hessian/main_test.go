package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/testdep"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// The runs of these tests are small: untrained resnet-mini checkpoints,
// minibatches of 4, 2 eigenvalues by power iteration capped at 4 products
// each. One thread everywhere, so that runs in this process and in the
// built binary give bit-identical numbers.
var small = []string{"--batches", "6", "--batch-size", "4", "--k", "2", "--max-iter", "4", "--threads", "1"}

var (
	ckptOnce sync.Once
	ckptDir  string
	ckptErr  error
)

// checkpoints saves, once, two untrained resnet-mini checkpoints with the
// sidecar cmd/train writes (its mini recipe: weight decay 0.05, no
// augmentation), a diverged one whose classifier weights are NaN, and one
// recorded as trained with the paper's recipe (mixup, CutMix, smoothing).
func checkpoints(t *testing.T) string {
	t.Helper()
	ckptOnce.Do(func() {
		ckptDir, ckptErr = os.MkdirTemp("", "hessian-ckpt-")
		if ckptErr != nil {
			return
		}
		ckptErr = torchx.OnLockedThread(func() error {
			cfg, err := train.Recipe("mini", "resnet-mini", "mnist")
			if err != nil {
				return err
			}
			st, err := json.Marshal(map[string]any{"config": cfg})
			if err != nil {
				return err
			}
			paper, err := train.Recipe("paper", "resnet-mini", "mnist")
			if err != nil {
				return err
			}
			pst, err := json.Marshal(map[string]any{"config": paper})
			if err != nil {
				return err
			}
			for i, name := range []string{"a", "b", "nan", "paper"} {
				torchx.Seed(uint64(i + 1))
				st := st
				if name == "paper" {
					st = pst
				}
				m, err := models.New("resnet-mini", cfg.ModelConfig, gotch.CPU)
				if err != nil {
					return err
				}
				if name == "nan" {
					for _, p := range m.Params() {
						if p.Name == "fc.weight" {
							n := int(p.Tensor.Numel())
							bad := make([]float32, n)
							for j := range bad {
								bad[j] = float32(math.NaN())
							}
							if err := torchx.CopyIn(p.Tensor, bad); err != nil {
								return err
							}
						}
					}
				}
				_, err = models.Save(filepath.Join(ckptDir, name), m, models.Checkpoint{Phase: "init", Dataset: "mnist", Fraction: 1, Train: st})
				m.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
	if ckptErr != nil {
		t.Fatal(ckptErr)
	}
	return ckptDir
}

// runHere runs the command in this process on a locked OS thread.
func runHere(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = torchx.OnLockedThread(func() error { return run(context.Background(), args, &o, &e) })
	return o.String(), e.String(), err
}

// firstModel reads hessian.json's first model, typed.
func firstModel(t *testing.T, dir string) results.HessianModel {
	t.Helper()
	var res results.Hessian
	b, err := os.ReadFile(filepath.Join(dir, "hessian.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Models) == 0 {
		t.Fatal("hessian.json has no model")
	}
	return res.Models[0]
}

// result reads hessian.json without its provenance (command line, time):
// the part two runs of the same settings must agree on exactly.
func result(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "hessian.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["provenance"]; !ok {
		t.Fatal("hessian.json has no provenance")
	}
	delete(m, "provenance")
	return m
}

// record is a journal line as the tests read it.
type record struct {
	Kind  string                `json:"kind"`
	Ckpt  int                   `json:"ckpt"`
	Batch *results.HessianBatch `json:"batch,omitempty"`
}

func (r record) key() string {
	if r.Batch != nil {
		return fmt.Sprintf("%d/%s/%d", r.Ckpt, r.Kind, r.Batch.Batch)
	}
	return fmt.Sprintf("%d/%s", r.Ckpt, r.Kind)
}

// journalRecords returns the records of a journal (lines after the header).
func journalRecords(t *testing.T, path string) []record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			continue // a torn last line
		}
		out = append(out, r)
	}
	return out
}

var (
	refOnce sync.Once
	refDir  string
	refErr  error
)

// reference runs the small settings on checkpoints a and b once, in
// process, into a folder shared by the tests that compare against it.
func reference(t *testing.T) string {
	t.Helper()
	dir := checkpoints(t)
	refOnce.Do(func() {
		refDir, refErr = os.MkdirTemp("", "hessian-ref-")
		if refErr != nil {
			return
		}
		args := append([]string{"--out", refDir, "--seed", "3", "a=" + filepath.Join(dir, "a.json"), "b=" + filepath.Join(dir, "b.json")}, small...)
		var o, e bytes.Buffer
		refErr = torchx.OnLockedThread(func() error { return run(context.Background(), args, &o, &e) })
		if refErr != nil {
			refErr = fmt.Errorf("%w\n%s", refErr, e.String())
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refDir
}

func TestEndToEnd(t *testing.T) {
	out := reference(t)
	res := result(t, out)
	ms := res["models"].([]any)
	if len(ms) != 2 {
		t.Fatalf("%d models in hessian.json, want 2", len(ms))
	}
	for _, mm := range ms {
		m := mm.(map[string]any)
		if m["weight_decay"].(float64) != 0.05 || m["weight_decay_source"] != "checkpoint" {
			t.Errorf("%v: weight decay %v from %v, want 0.05 from the checkpoint", m["label"], m["weight_decay"], m["weight_decay_source"])
		}
		if len(m["weights_sha256"].(string)) != 64 {
			t.Errorf("%v: no weights hash", m["label"])
		}
		batches := m["batches"].([]any)
		if len(batches) != 6 {
			t.Fatalf("%v: %d batches, want 6", m["label"], len(batches))
		}
		for i, bb := range batches {
			b := bb.(map[string]any)
			if int(b["batch"].(float64)) != i || len(b["values"].([]any)) != 2 || len(b["residuals"].([]any)) != 2 || b["products"].(float64) == 0 {
				t.Errorf("%v batch %d: %v", m["label"], i, b)
			}
		}
		s := m["summary"].(map[string]any)
		if s["n"].(float64) != 12 {
			t.Errorf("%v: summary of %v eigenvalues, want 12", m["label"], s["n"])
		}
		for _, k := range []string{"nep", "ape", "median"} {
			if _, ok := s[k]; !ok {
				t.Errorf("%v: summary lacks %s", m["label"], k)
			}
		}
	}
	var full struct {
		Provenance struct {
			Inputs []struct{ Path, SHA256 string }
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "hessian.json"))
	if err := json.Unmarshal(b, &full); err != nil || len(full.Provenance.Inputs) != 4 {
		t.Errorf("provenance inputs %+v (%v), want the 2 sidecars and 2 weights files with hashes", full.Provenance.Inputs, err)
	}
	for _, f := range []string{"spectrum.png"} {
		checkPNG(t, filepath.Join(out, f))
	}
	html, err := os.ReadFile(filepath.Join(out, "summary.html"))
	if err != nil || !strings.Contains(string(html), "spectrum.png") || !strings.Contains(string(html), "NEP") {
		t.Errorf("summary.html: %v", err)
	}
	csv, err := os.ReadFile(filepath.Join(out, "eigenvalues.csv"))
	if err != nil || strings.Count(string(csv), "\n") != 1+2*6*2 {
		t.Errorf("eigenvalues.csv: %d lines (%v), want 25", strings.Count(string(csv), "\n"), err)
	}
	// Running again finds everything journaled and recomputes nothing.
	stdout, stderr, err := runHere(t, append([]string{"--out", out, "--seed", "3", "a=" + filepath.Join(checkpoints(t), "a.json"),
		"b=" + filepath.Join(checkpoints(t), "b.json")}, small...)...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(stderr, "12 of 12 minibatches already done") || !strings.Contains(stdout, "NEP") {
		t.Errorf("rerun: stderr %q", stderr)
	}
	if n := len(journalRecords(t, filepath.Join(out, "journal.jsonl"))); n != 12 {
		t.Errorf("journal has %d records after a rerun, want 12", n)
	}
	// The browser's view of the summary page: its one figure decodes.
	if n, _ := testdep.RenderPage(t, filepath.Join(out, "summary.html")); n != 1 {
		t.Errorf("Chromium found %d images in summary.html, want 1 (spectrum.png)", n)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Errorf("%s is %dx%d", path, b.Dx(), b.Dy())
	}
}

func TestTraceDensityFull(t *testing.T) {
	dir := checkpoints(t)
	out := t.TempDir()
	args := []string{"--out", out, "--batches", "2", "--batch-size", "4", "--k", "2", "--method", "lanczos", "--max-iter", "6",
		"--threads", "1", "--trace", "--trace-samples", "3", "--density", "--slq-steps", "5", "--full", "--retain",
		"--wd", "0.5", filepath.Join(dir, "a.json")}
	if _, stderr, err := runHere(t, args...); err != nil {
		t.Fatal(err, stderr)
	}
	m := firstModel(t, out)
	if m.Label != "resnet-mini" || m.WeightDecay != 0.5 || m.WeightDecaySource != "flag" {
		t.Errorf("label %q, wd %v from %q", m.Label, m.WeightDecay, m.WeightDecaySource)
	}
	if m.Trace == nil || m.Trace.Samples < 2 || m.Trace.Samples > 3 || m.Density == nil || len(m.Density.Nodes[0]) != 5 ||
		m.Full == nil || len(m.Full.Values) != 2 {
		t.Fatalf("trace %+v, density %+v, full %+v", m.Trace, m.Density, m.Full)
	}
	// The L2 term adds wd to every eigenvalue: wd·n to the trace, exactly,
	// on top of the NLL part that Hutchinson estimates.
	if m.Trace.L2 != 0.5*float64(m.Params) || m.Trace.Mean != m.Trace.NLL+m.Trace.L2 {
		t.Errorf("trace %v = NLL %v + L2 %v, want L2 = wd·n = %v", m.Trace.Mean, m.Trace.NLL, m.Trace.L2, 0.5*float64(m.Params))
	}
	checkPNG(t, filepath.Join(out, "density.png"))
}

// TestTraceWorkersAgree: --trace, --density and --full with their
// minibatches dealt to two workers give the numbers of --workers 1 to
// float32 rounding (the sums are grouped by worker, so the last digits
// may differ): the trace's NLL part, the density's nodes and weights, the
// full top-k.
func TestTraceWorkersAgree(t *testing.T) {
	dir := checkpoints(t)
	var got [2]results.HessianModel
	for i, w := range []string{"1", "2"} {
		out := t.TempDir()
		args := []string{"--out", out, "--batches", "3", "--batch-size", "4", "--k", "2", "--method", "lanczos", "--max-iter", "6",
			"--threads", "1", "--workers", w, "--trace", "--trace-samples", "3", "--density", "--slq-steps", "5", "--full",
			filepath.Join(dir, "a.json")}
		if _, stderr, err := runHere(t, args...); err != nil {
			t.Fatal(err, stderr)
		}
		got[i] = firstModel(t, out)
		var res results.Hessian
		b, err := os.ReadFile(filepath.Join(out, "hessian.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("hessian.json: %v", err)
		}
		if want := map[string]int{"1": 0, "2": 2}[w]; res.Provenance.Workers != want {
			t.Errorf("--workers %s: provenance records %d workers, want %d", w, res.Provenance.Workers, want)
		}
		if got[i].Trace == nil || got[i].Density == nil || got[i].Full == nil {
			t.Fatalf("--workers %s: trace %v, density %v, full %v", w, got[i].Trace, got[i].Density, got[i].Full)
		}
	}
	// Relative to the largest magnitude of the quantity's kind, so that a
	// density node near zero is not held to its own float32 noise.
	scale := func(xs []float64) float64 {
		m := 0.0
		for _, x := range xs {
			m = math.Max(m, math.Abs(x))
		}
		return m
	}
	nodeScale, weightScale := scale(got[0].Density.Nodes[0]), scale(got[0].Density.Weights[0])
	near := func(what string, a, b, size float64) {
		if math.Abs(a-b) > 1e-5*size {
			t.Errorf("%s: %v with one worker, %v with two", what, a, b)
		}
	}
	near("trace (NLL part)", got[0].Trace.NLL, got[1].Trace.NLL, math.Abs(got[0].Trace.NLL))
	for j := range got[0].Full.Values {
		near(fmt.Sprintf("full eigenvalue %d", j), got[0].Full.Values[j], got[1].Full.Values[j], scale(got[0].Full.Values))
	}
	for j := range got[0].Density.Nodes[0] {
		near(fmt.Sprintf("density node %d", j), got[0].Density.Nodes[0][j], got[1].Density.Nodes[0][j], nodeScale)
		near(fmt.Sprintf("density weight %d", j), got[0].Density.Weights[0][j], got[1].Density.Weights[0][j], weightScale)
	}
}

// TestKillAndResume kills the command (SIGKILL) once its journal holds a
// few minibatches, restarts it, and checks that no minibatch was computed
// twice and that the result equals an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs it twice")
	}
	dir := checkpoints(t)
	ref := reference(t)
	bin := filepath.Join(t.TempDir(), "hessian")
	build := exec.Command("go", "build", "-o", bin, ".")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	out := t.TempDir()
	args := append([]string{"--out", out, "--seed", "3", "a=" + filepath.Join(dir, "a.json"), "b=" + filepath.Join(dir, "b.json")}, small...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(out, "journal.jsonl")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n := len(journalRecords(t, jpathIfExists(jpath))); n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no journal records after 2 minutes; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := journalRecords(t, jpath)
	if len(before) >= 12 {
		t.Fatalf("the run finished (%d records) before it was killed", len(before))
	}
	if _, err := os.Stat(filepath.Join(out, "hessian.json")); err == nil {
		t.Fatal("a killed run left a hessian.json")
	}
	t.Logf("killed after %d of 12 minibatches", len(before))

	again := exec.Command(bin, args...)
	msg, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, msg)
	}
	if !strings.Contains(string(msg), fmt.Sprintf("%d of 12 minibatches already done", len(before))) {
		t.Errorf("resume did not report the journaled work:\n%s", msg)
	}
	after := journalRecords(t, jpath)
	if len(after) != 12 {
		t.Fatalf("journal has %d records, want 12 (each minibatch once)", len(after))
	}
	seen := map[string]bool{}
	for i, r := range after {
		if seen[r.key()] {
			t.Errorf("%s computed twice", r.key())
		}
		seen[r.key()] = true
		if i < len(before) && !reflect.DeepEqual(r, before[i]) {
			t.Errorf("record %d changed on resume", i)
		}
	}
	if got, want := result(t, out), result(t, ref); !reflect.DeepEqual(got, want) {
		t.Error("resumed result differs from an uninterrupted run")
	}
}

func jpathIfExists(p string) string {
	if _, err := os.Stat(p); err != nil {
		f, _ := os.CreateTemp("", "empty-journal")
		f.Close()
		return f.Name()
	}
	return p
}

// TestShardsMerge runs shards 0/3, 1/3, 2/3 into separate folders (as on
// separate machines), merges their journals, and compares with a single run.
func TestShardsMerge(t *testing.T) {
	dir := checkpoints(t)
	ref := reference(t)
	merged := t.TempDir()
	var journals []string
	for i := range 3 {
		out := t.TempDir()
		args := append([]string{"--out", out, "--seed", "3", "--shard", fmt.Sprintf("%d/3", i),
			"a=" + filepath.Join(dir, "a.json"), "b=" + filepath.Join(dir, "b.json")}, small...)
		stdout, stderr, err := runHere(t, args...)
		if err != nil {
			t.Fatal(err, stderr)
		}
		if !strings.Contains(stdout, "--merge") {
			t.Errorf("shard %d: stdout %q does not say how to merge", i, stdout)
		}
		j := filepath.Join(out, fmt.Sprintf("journal-shard-%d-of-3.jsonl", i))
		if n := len(journalRecords(t, j)); n != 4 {
			t.Errorf("shard %d computed %d minibatches, want 4 (2 of 6 for each of 2 checkpoints)", i, n)
		}
		if _, err := os.Stat(filepath.Join(out, "hessian.json")); err == nil {
			t.Errorf("shard %d wrote hessian.json", i)
		}
		journals = append(journals, j)
	}
	// Merging two of three shards is refused, naming what is missing.
	_, _, err := runHere(t, "--merge", "--out", t.TempDir(), journals[0], journals[2])
	if err == nil || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "minibatches 1, 4") {
		t.Errorf("merge of shards 0 and 2: error %v", err)
	}
	for i, j := range journals {
		b, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(merged, filepath.Base(journals[i])), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, err := runHere(t, "--merge", "--out", merged); err != nil {
		t.Fatal(err, stderr)
	}
	if got, want := result(t, merged), result(t, ref); !reflect.DeepEqual(got, want) {
		t.Error("merged shards differ from a single run")
	}
	checkPNG(t, filepath.Join(merged, "spectrum.png"))
}

// writeEmptyMNIST writes MNIST training files of zero images.
func writeEmptyMNIST(t *testing.T, dir string) {
	t.Helper()
	write := func(name string, header []uint32) {
		var raw bytes.Buffer
		for _, v := range header {
			_ = binary.Write(&raw, binary.BigEndian, v)
		}
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(raw.Bytes())
		_ = w.Close()
		if err := os.WriteFile(filepath.Join(dir, name), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, split := range []string{"train", "t10k"} {
		write(split+"-images-idx3-ubyte.gz", []uint32{0x803, 0, 28, 28})
		write(split+"-labels-idx1-ubyte.gz", []uint32{0x801, 0})
	}
}

func TestBadInput(t *testing.T) {
	dir := checkpoints(t)
	a := filepath.Join(dir, "a.json")
	tmp := t.TempDir()
	unknown := filepath.Join(tmp, "unknown.json")
	sidecar, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	var ck map[string]any
	_ = json.Unmarshal(sidecar, &ck)
	ck["model"].(map[string]any)["name"] = "resnet-9000"
	ck["weights"] = filepath.Join(dir, "a.safetensors")
	b, _ := json.Marshal(ck)
	_ = os.WriteFile(unknown, b, 0o644)
	corrupt := filepath.Join(tmp, "corrupt.json")
	_ = os.WriteFile(corrupt, []byte("{not json"), 0o644)
	empty := filepath.Join(tmp, "mnist-empty")
	_ = os.MkdirAll(empty, 0o755)
	writeEmptyMNIST(t, empty)
	otherSettings := t.TempDir()
	if _, stderr, err := runHere(t, "--out", otherSettings, "--batches", "1", "--batch-size", "2", "--k", "1", "--max-iter", "2", "--threads", "1", a); err != nil {
		t.Fatal(err, stderr)
	}

	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no checkpoint", []string{"--out", tmp}, 2, "no checkpoint"},
		{"no out", []string{a}, 2, "--out"},
		{"zero batches", []string{"--out", tmp, "--batches", "0", a}, 2, "--batches"},
		{"bad method", []string{"--out", tmp, "--method", "qr", a}, 2, "--method"},
		{"negative tol", []string{"--out", tmp, "--tol", "-1", a}, 2, "--tol"},
		{"nan wd", []string{"--out", tmp, "--wd", "NaN", a}, 2, "--wd"},
		{"bad shard", []string{"--out", tmp, "--shard", "3/2", a}, 2, "shard"},
		{"unknown flag", []string{"--out", tmp, "--frobnicate", a}, 2, "frobnicate"},
		{"k above dimension", []string{"--out", tmp, "--k", "1000000000", a}, 2, "larger than"},
		{"missing checkpoint", []string{"--out", tmp, filepath.Join(tmp, "nope.json")}, 1, "does not exist"},
		{"corrupt checkpoint", []string{"--out", tmp, corrupt}, 1, "not a vitprobe checkpoint"},
		{"unknown model", []string{"--out", tmp, unknown}, 1, "unknown model"},
		{"empty data set", []string{"--out", tmp, "--data", empty, a}, 1, "0 images"},
		{"other settings", []string{"--out", otherSettings, "--batches", "2", "--batch-size", "2", "--k", "1", "--threads", "1", a}, 1, "other settings"},
		{"resume off", []string{"--out", otherSettings, "--resume=false", "--batches", "1", "--batch-size", "2", "--k", "1", "--max-iter", "2", "--threads", "1", a}, 2, "already exists"},
		{"diverged model", append([]string{"--out", filepath.Join(tmp, "nan")}, append(small, filepath.Join(dir, "nan.json"))...), 1, "batch 0"},
		{"merge nothing", []string{"--merge", "--out", t.TempDir()}, 1, "no shard journals"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runHere(t, c.args...)
			var msg bytes.Buffer
			status := cli.Exit("hessian", err, &msg)
			line := msg.String()
			if status != c.status {
				t.Errorf("status %d, want %d (%q)", status, c.status, line)
			}
			if !strings.Contains(line, c.want) {
				t.Errorf("message %q does not mention %q", line, c.want)
			}
			if strings.Count(line, "\n") != 1 || strings.Contains(line, "goroutine") || strings.Contains(line, "frame #") {
				t.Errorf("message is not one clean line: %q", line)
			}
		})
	}
	// Nothing half-written: no outputs where the runs failed.
	for _, d := range []string{tmp, filepath.Join(tmp, "nan")} {
		if _, err := os.Stat(filepath.Join(d, "hessian.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a failed run left hessian.json", d)
		}
		if _, err := os.Stat(filepath.Join(d, "spectrum.png")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a failed run left spectrum.png", d)
		}
	}
	if !strings.Contains(mustRead(t, filepath.Join(tmp, "nan", "journal.jsonl")), `"tool"`) {
		t.Error("the diverged run has no journal header")
	}
}

func TestNonFiniteMessageNamesBatch(t *testing.T) {
	dir := checkpoints(t)
	_, _, err := runHere(t, append([]string{"--out", t.TempDir()}, append(small, "x="+filepath.Join(dir, "nan.json"))...)...)
	if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "x: ") {
		t.Fatalf("error %v, want a non-finite loss naming the checkpoint and batch", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAugment takes the training augmentation from the checkpoint's
// recipe: the paper's mixup/CutMix and label smoothing make soft targets,
// which change the loss the Hessian is taken of.
func TestAugment(t *testing.T) {
	dir := checkpoints(t)
	args := []string{"--batches", "2", "--batch-size", "4", "--k", "1", "--max-iter", "2", "--threads", "1", filepath.Join(dir, "paper.json")}
	plain, aug := t.TempDir(), t.TempDir()
	if _, stderr, err := runHere(t, append([]string{"--out", plain}, args...)...); err != nil {
		t.Fatal(err, stderr)
	}
	if _, stderr, err := runHere(t, append([]string{"--out", aug, "--augment"}, args...)...); err != nil {
		t.Fatal(err, stderr)
	}
	p, a := firstModel(t, plain), firstModel(t, aug)
	if a.Augment.MixupAlpha != 1 || a.Augment.Smoothing != 0.1 || p.Augment.Soft() {
		t.Errorf("augmentation %+v with --augment, %+v without", a.Augment, p.Augment)
	}
	if a.WeightDecay != 0.05 {
		t.Errorf("weight decay %v, want the paper recipe's 0.05", a.WeightDecay)
	}
	for i := range a.Batches {
		if a.Batches[i].Loss == p.Batches[i].Loss {
			t.Errorf("batch %d: the same loss %v with and without augmentation", i, a.Batches[i].Loss)
		}
	}
	// A checkpoint without a recorded recipe cannot be augmented.
	m := filepath.Join(t.TempDir(), "bare")
	ck, _ := models.ReadCheckpoint(filepath.Join(dir, "a.json"))
	ck.Train = nil
	js, _ := json.Marshal(ck)
	_ = os.WriteFile(m+".json", js, 0o644)
	w, _ := os.ReadFile(filepath.Join(dir, "a.safetensors"))
	_ = os.WriteFile(filepath.Join(filepath.Dir(m), ck.Weights), w, 0o644)
	_, _, err := runHere(t, append([]string{"--out", t.TempDir(), "--augment"}, append(args[:len(args)-1], m+".json")...)...)
	if err == nil || !strings.Contains(err.Error(), "no training recipe") {
		t.Errorf("--augment without a recipe: error %v", err)
	}
}

// TestOverMemoryLanczosRefused: a Lanczos run whose Krylov basis cannot
// fit in the machine's available memory (here 10^8 steps of a 308,538
// parameter model, about 700 GiB) is refused at once with the flag that
// lowers it, before any work or journal. Before issue 14 it started and
// grew its basis until the machine ran out of memory.
func TestOverMemoryLanczosRefused(t *testing.T) {
	dir := checkpoints(t)
	out := t.TempDir()
	_, _, err := runHere(t, "--out", out, "--method", "lanczos", "--max-iter", "100000000", "--batches", "1", "--batch-size", "2",
		"--k", "1", "--threads", "1", filepath.Join(dir, "a.json"))
	if err == nil || !strings.Contains(err.Error(), "--max-iter") || !strings.Contains(err.Error(), "GiB are available") {
		t.Fatalf("error %v, want a refusal naming --max-iter and the memory", err)
	}
	if _, err := os.Stat(filepath.Join(out, "journal.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused run left a journal")
	}
}

// TestCurvatureAndParams: --curvature ggn gives spectra with no negative
// eigenvalue (the GGN is positive semi-definite; round-off aside), and
// --params restricts the matrix to a group, whose largest eigenvalue
// cannot exceed the whole matrix's largest (Cauchy interlacing). The
// settings are recorded, and a journal of other settings is refused.
func TestCurvatureAndParams(t *testing.T) {
	ck := "a=" + filepath.Join(checkpoints(t), "a.json")
	common := []string{"--batches", "2", "--batch-size", "8", "--k", "3", "--method", "lanczos", "--wd", "0", "--threads", "1", "--seed", "5"}
	top := func(dir string) (hi, lo float64) {
		res := result(t, dir)
		hi, lo = math.Inf(-1), math.Inf(1)
		for _, mm := range res["models"].([]any) {
			for _, bb := range mm.(map[string]any)["batches"].([]any) {
				for _, v := range bb.(map[string]any)["values"].([]any) {
					hi, lo = math.Max(hi, v.(float64)), math.Min(lo, v.(float64))
				}
			}
		}
		return hi, lo
	}
	run := func(dir string, extra ...string) {
		t.Helper()
		if _, stderr, err := runHere(t, append(append([]string{"--out", dir}, common...), append(extra, ck)...)...); err != nil {
			t.Fatal(err, stderr)
		}
	}
	dir := t.TempDir()
	hessDir, ggnDir, headDir := filepath.Join(dir, "h"), filepath.Join(dir, "g"), filepath.Join(dir, "fc")
	run(hessDir)
	run(ggnDir, "--curvature", "ggn")
	run(headDir, "--params", `^fc\.`)
	hHi, _ := top(hessDir)
	gHi, gLo := top(ggnDir)
	fHi, _ := top(headDir)
	t.Logf("largest eigenvalues: Hessian %.6g, GGN %.6g (smallest of its top 3: %.3g), head alone %.6g", hHi, gHi, gLo, fHi)
	if gLo < -1e-4*gHi {
		t.Errorf("GGN eigenvalue %g < 0", gLo)
	}
	if fHi > hHi*(1+1e-4) {
		t.Errorf("the head's block has eigenvalue %g above the whole Hessian's %g", fHi, hHi)
	}
	settings := result(t, ggnDir)["settings"].(map[string]any)
	if settings["curvature"] != "ggn" {
		t.Errorf("settings: curvature %v, want ggn", settings["curvature"])
	}
	if s := result(t, headDir)["settings"].(map[string]any); s["params"] != `^fc\.` {
		t.Errorf("settings: params %v", s["params"])
	}
	// The GGN journal is not reused for the Hessian.
	if _, _, err := runHere(t, append(append([]string{"--out", ggnDir}, common...), ck)...); err == nil {
		t.Error("a Hessian run on a GGN journal: want a journal mismatch")
	}
	for _, bad := range [][]string{{"--curvature", "gauss"}, {"--params", "("}, {"--curvature", "ggn", "--trace"}} {
		if _, _, err := runHere(t, append(append([]string{"--out", filepath.Join(dir, "bad")}, common...), append(bad, ck)...)...); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

// TestWorkersSameNumbers runs the small protocol with one minibatch at a
// time (--workers 1, one libtorch thread) and with three at once: the
// eigenvalues, batch by batch, and the journal's order must be the same.
func TestWorkersSameNumbers(t *testing.T) {
	dir := checkpoints(t)
	var csv [2][]byte
	var order [2][]string
	for i, w := range []string{"1", "3"} {
		out := t.TempDir()
		args := append([]string{"--out", out, "--seed", "3", "--workers", w,
			"a=" + filepath.Join(dir, "a.json"), "b=" + filepath.Join(dir, "b.json")}, small...)
		if _, stderr, err := runHere(t, args...); err != nil {
			t.Fatal(err, stderr)
		}
		b, err := os.ReadFile(filepath.Join(out, "eigenvalues.csv"))
		if err != nil {
			t.Fatal(err)
		}
		csv[i] = b
		recs := journalRecords(t, filepath.Join(out, "journal.jsonl"))
		if len(recs) != 12 {
			t.Fatalf("--workers %s: %d journal records, want 12 (6 minibatches of 2 checkpoints)", w, len(recs))
		}
		for _, r := range recs {
			order[i] = append(order[i], r.key())
		}
	}
	if !slices.Equal(order[0], order[1]) {
		t.Errorf("journal order: --workers 1 %v, --workers 3 %v", order[0], order[1])
	}
	if !bytes.Equal(csv[0], csv[1]) {
		t.Errorf("eigenvalues.csv differs between --workers 1 and --workers 3:\n%s\n---\n%s", csv[0], csv[1])
	}
	if lines := bytes.Count(csv[0], []byte("\n")); lines < 24 {
		t.Errorf("eigenvalues.csv has %d lines, want a header and 24 eigenvalues", lines)
	}
}

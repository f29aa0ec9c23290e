package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"
	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/testdep"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// The runs here are small: an untrained resnet-mini, its stem and head
// (--params), 2 minibatches of 4, 2 eigenvalues, Hutch++ of 6 products.
// One thread, so that every run gives bit-identical numbers.
const pattern = `^(conv1|fc)$`

var small = []string{"--batches", "2", "--batch-size", "4", "--k", "2", "--trace-products", "6", "--seed", "3",
	"--wd", "0.05", "--params", pattern, "--threads", "1"}

var (
	ckptOnce sync.Once
	ckptPath string
	ckptErr  error
)

// checkpoint saves, once, an untrained resnet-mini with the sidecar
// cmd/train writes (its mini recipe), after checking that MNIST is there.
func checkpoint(t *testing.T) string {
	t.Helper()
	if _, err := data.Load("mnist", "", data.Train); err != nil {
		testdep.Missing(t, "MNIST: %v (make setup copies it)", err)
	}
	ckptOnce.Do(func() {
		dir, err := os.MkdirTemp("", "blocks-ckpt-")
		if err != nil {
			ckptErr = err
			return
		}
		ckptPath = filepath.Join(dir, "a.json")
		ckptErr = torchx.OnLockedThread(func() error {
			cfg, err := train.Recipe("mini", "resnet-mini", "mnist")
			if err != nil {
				return err
			}
			st, err := json.Marshal(map[string]any{"config": cfg})
			if err != nil {
				return err
			}
			torchx.Seed(1)
			m, err := models.New("resnet-mini", cfg.ModelConfig, gotch.CPU)
			if err != nil {
				return err
			}
			defer m.Close()
			_, err = models.Save(filepath.Join(dir, "a"), m, models.Checkpoint{Phase: "init", Dataset: "mnist", Fraction: 1, Train: st})
			return err
		})
	})
	if ckptErr != nil {
		t.Fatal(ckptErr)
	}
	return ckptPath
}

// runHere runs the command in this process on a locked OS thread.
func runHere(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = torchx.OnLockedThread(func() error { return run(context.Background(), args, &o, &e) })
	return o.String(), e.String(), err
}

// mustRun runs the command and fails the test on an error.
func mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	o, e, err := runHere(t, args...)
	if err != nil {
		t.Fatalf("blocks %s: %v\n%s", strings.Join(args, " "), err, e)
	}
	return o, e
}

var (
	refOnce sync.Once
	refDir  string
	refErr  error
)

// reference runs the small settings once, in one process, into a folder
// the tests compare against.
func reference(t *testing.T) string {
	t.Helper()
	ck := checkpoint(t)
	refOnce.Do(func() {
		if refDir, refErr = os.MkdirTemp("", "blocks-ref-"); refErr != nil {
			return
		}
		var o, e bytes.Buffer
		args := append([]string{"--out", refDir, "a=" + ck}, small...)
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

func readResult(t *testing.T, dir string) results.Blocks {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "blocks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r results.Blocks
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAgainstLibraryAndDense checks the command's numbers two ways: every
// block's per-batch top eigenvalues, residuals and traces equal those of
// analysis.BlockSpectra called directly on the same model, minibatches and
// groups; and the head's top 2 on minibatch 0 match a dense
// eigendecomposition of its Hessian assembled column by column (plus
// wd·I). It also checks the per-kind summaries, the CSV and the figure.
func TestAgainstLibraryAndDense(t *testing.T) {
	ref := reference(t)
	res := readResult(t, ref)
	if len(res.Models) != 1 || len(res.Models[0].Blocks) != 2 {
		t.Fatalf("want 1 model of 2 blocks, got %+v", res.Models)
	}
	got := res.Models[0]
	if got.WeightDecay != 0.05 || got.WeightDecaySource != "flag" {
		t.Errorf("wd %g from %s, want 0.05 from flag", got.WeightDecay, got.WeightDecaySource)
	}
	var direct []analysis.BlockSpectrum
	var dense []float64
	err := torchx.OnLockedThread(func() error {
		m, _, err := models.Load(checkpoint(t), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		d, err := data.Load("mnist", "", data.Train)
		if err != nil {
			return err
		}
		mb, err := analysis.NewMinibatches(d, d.Indices(), 4, 2, 3, data.Augment{})
		if err != nil {
			return err
		}
		all, err := analysis.BlockGroups(m)
		if err != nil {
			return err
		}
		groups, err := analysis.SelectGroups(all, pattern)
		if err != nil {
			return err
		}
		direct, err = analysis.BlockSpectra(context.Background(), m, mb, groups,
			&analysis.BlockSpectrumOptions{K: 2, TraceProducts: 6, Seed: 3, WeightDecay: 0.05}, nil)
		if err != nil {
			return err
		}
		// The head's Hessian on minibatch 0, densely.
		batch, err := mb.Batch(0)
		if err != nil {
			return err
		}
		defer batch.Close()
		op, err := analysis.NewCurvature(analysis.CurvatureHessian, m, batch,
			&analysis.CurvatureOptions{HessianOptions: analysis.HessianOptions{Params: groups[1].Params}})
		if err != nil {
			return err
		}
		defer op.Close()
		a, err := analysis.AssembleHessian(op)
		if err != nil {
			return err
		}
		s, asym := analysis.Symmetrize(a)
		if asym > 1e-4 {
			return fmt.Errorf("head Hessian asymmetry %g", asym)
		}
		var eig mat.EigenSym
		if !eig.Factorize(s, false) {
			return fmt.Errorf("eigendecomposition failed")
		}
		dense = eig.Values(nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got.Blocks {
		want := direct[i]
		if b.Name != want.Group.Name || b.Kind != want.Group.Kind.String() || b.Size != want.Group.Size || b.Depth != want.Group.Depth {
			t.Errorf("block %d: %s %s %d %g, want %s %v %d %g", i, b.Name, b.Kind, b.Size, b.Depth, want.Group.Name, want.Group.Kind,
				want.Group.Size, want.Group.Depth)
		}
		for k, bb := range b.Batches {
			w := want.Batches[k]
			if !slices.Equal(bb.Values, w.Values) || !slices.Equal(bb.Residuals, w.Residuals) || bb.Trace.Mean != w.Trace.Mean {
				t.Errorf("%s batch %d: values %v residuals %v trace %v; BlockSpectra: %v %v %v", b.Name, k, bb.Values, bb.Residuals,
					bb.Trace.Mean, w.Values, w.Residuals, w.Trace.Mean)
			}
		}
		if s, _ := want.Summary(); s.NEP != b.Summary.NEP || s.APE != b.Summary.APE {
			t.Errorf("%s summary %+v, want %+v", b.Name, b.Summary, s)
		}
	}
	kinds, err := analysis.KindResults(direct)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Kinds, kinds) {
		t.Errorf("kinds %+v, want %+v", got.Kinds, kinds)
	}
	// Dense: eigenvalues of largest magnitude, shifted by wd.
	sort.Slice(dense, func(i, j int) bool { return math.Abs(dense[i]) > math.Abs(dense[j]) })
	head := got.Blocks[1].Batches[0].Values
	t.Logf("head (%d parameters), minibatch 0: command %v, dense %v + 0.05", got.Blocks[1].Size, head, dense[:2])
	for r := range 2 {
		if w := dense[r] + 0.05; math.Abs(head[r]-w) > 1e-3*math.Abs(w) {
			t.Errorf("head eigenvalue %d: %g, dense %g", r+1, head[r], w)
		}
	}
	// One CSV row per model, block, batch and rank.
	rows := strings.Split(strings.TrimSpace(readFile(t, filepath.Join(ref, "blocks.csv"))), "\n")
	if len(rows) != 1+2*2*2 || !strings.HasPrefix(rows[0], "label,block,kind,depth,size,batch,rank,value") {
		t.Errorf("blocks.csv: %d rows, header %q", len(rows), rows[0])
	}
	f, err := os.Open(filepath.Join(ref, "blocks.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 500 {
		t.Errorf("blocks.png: %v", err)
	}
}

// TestResume cuts the reference run's journal after its first record
// (and a torn line, as a kill mid-write leaves), runs the command again
// there: it computes only the rest, and blocks.csv is byte for byte the
// one-shot run's. Running a finished folder again computes nothing.
func TestResume(t *testing.T) {
	ref := reference(t)
	ck := checkpoint(t)
	out := t.TempDir()
	lines := strings.SplitAfter(readFile(t, filepath.Join(ref, "blocks-journal.jsonl")), "\n")
	if len(lines) < 1+4 {
		t.Fatalf("reference journal has %d lines, want a header and 4 records", len(lines))
	}
	cut := lines[0] + lines[1] + lines[2][:len(lines[2])/2]
	if err := os.WriteFile(filepath.Join(out, "blocks-journal.jsonl"), []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--out", out, "a=" + ck}, small...)
	_, stderr := mustRun(t, args...)
	if !strings.Contains(stderr, "1 of 4 block minibatches already done") {
		t.Errorf("the resumed run does not report the journaled work:\n%s", stderr)
	}
	want := readFile(t, filepath.Join(ref, "blocks.csv"))
	if got := readFile(t, filepath.Join(out, "blocks.csv")); got != want {
		t.Errorf("resumed blocks.csv differs from the one-shot run's:\n%s\nwant\n%s", got, want)
	}
	_, stderr = mustRun(t, args...)
	if !strings.Contains(stderr, "4 of 4 block minibatches already done") {
		t.Errorf("a finished folder was computed again:\n%s", stderr)
	}
	if got := readFile(t, filepath.Join(out, "blocks.csv")); got != want {
		t.Error("re-running a finished folder changed blocks.csv")
	}
}

// TestWorkersSameNumbers: the pieces computed one at a time (--workers 1,
// one thread) and three at a time on one-thread workers give the same
// bytes: each piece runs on one thread either way, and the journal takes
// them in order.
func TestWorkersSameNumbers(t *testing.T) {
	ck := checkpoint(t)
	var csv, journal [2]string
	var res [2]results.Blocks
	for i, w := range []string{"1", "3"} {
		out := t.TempDir()
		mustRun(t, append([]string{"--out", out, "--workers", w, "a=" + ck}, small...)...)
		csv[i] = readFile(t, filepath.Join(out, "blocks.csv"))
		journal[i] = readFile(t, filepath.Join(out, "blocks-journal.jsonl"))
		res[i] = readResult(t, out)
	}
	if csv[0] != csv[1] {
		t.Errorf("blocks.csv with --workers 3 differs from --workers 1:\n%s\nwant\n%s", csv[1], csv[0])
	}
	if !reflect.DeepEqual(res[0].Models, res[1].Models) {
		t.Error("blocks.json's models differ between --workers 1 and 3")
	}
	// The records in the same order (the journal's first line, its header,
	// holds the command line's settings, equal too).
	if journal[0] != journal[1] {
		t.Error("the journals differ between --workers 1 and 3")
	}
}

// TestResumeLastPieceOnAWorker: on two libtorch threads (not the one of
// the other tests), a run resumed with a single piece of work left computes
// it on a one-thread worker like the others, so its bytes are those of an
// uninterrupted run. A residual block at batch 32 is large enough for two
// threads to change the last bits (the stem and head at batch 64 were
// not: computing the last piece on the calling thread's two threads passed
// with them, and fails with these).
func TestResumeLastPieceOnAWorker(t *testing.T) {
	ck := checkpoint(t)
	args := func(out string) []string {
		return append(append([]string{"--out", out, "a=" + ck}, small...), "--threads", "2", "--workers", "2", "--batch-size", "32", "--params", "^(conv1|layer1.0)$")
	}
	full := t.TempDir()
	mustRun(t, args(full)...)
	lines := strings.SplitAfter(readFile(t, filepath.Join(full, "blocks-journal.jsonl")), "\n")
	if len(lines) < 1+4 {
		t.Fatalf("journal has %d lines, want a header and 4 records", len(lines))
	}
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "blocks-journal.jsonl"), []byte(strings.Join(lines[:4], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := mustRun(t, args(out)...)
	if !strings.Contains(stderr, "3 of 4 block minibatches already done") {
		t.Errorf("the resumed run does not report the journaled work:\n%s", stderr)
	}
	if got, want := readFile(t, filepath.Join(out, "blocks.csv")), readFile(t, filepath.Join(full, "blocks.csv")); got != want {
		t.Errorf("the last piece, resumed, differs from the uninterrupted run's:\n%s\nwant\n%s", got, want)
	}
}

// TestShardsMerge runs shards 0/2 and 1/2, merges their journals, and
// compares with the one-process run.
func TestShardsMerge(t *testing.T) {
	ref := reference(t)
	ck := checkpoint(t)
	out := t.TempDir()
	for i := range 2 {
		stdout, _ := mustRun(t, append([]string{"--out", out, "--shard", fmt.Sprintf("%d/2", i), "a=" + ck}, small...)...)
		if !strings.Contains(stdout, "--merge") {
			t.Errorf("shard %d: stdout %q does not say how to merge", i, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "blocks.json")); err == nil {
		t.Fatal("a shard wrote blocks.json")
	}
	// One shard alone is refused, naming the missing work.
	_, _, err := runHere(t, "--merge", "--out", t.TempDir(), filepath.Join(out, "blocks-journal-shard-0-of-2.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "work missing") {
		t.Errorf("merge of shard 0 alone: %v", err)
	}
	mustRun(t, "--merge", "--out", out)
	if got, want := readFile(t, filepath.Join(out, "blocks.csv")), readFile(t, filepath.Join(ref, "blocks.csv")); got != want {
		t.Error("merged blocks.csv differs from a single run's")
	}
	a, b := readResult(t, out), readResult(t, ref)
	if !reflect.DeepEqual(a.Models, b.Models) || !reflect.DeepEqual(a.Settings, b.Settings) {
		t.Error("merged blocks.json differs from a single run's")
	}
}

// TestBadInput: flag mistakes and bad input stop with one line and the
// right status, and leave a finished folder as it was.
func TestBadInput(t *testing.T) {
	ref := reference(t)
	ck := "a=" + checkpoint(t)
	tmp := t.TempDir()
	// A copy of the finished reference folder, which no failed run may
	// change.
	done := t.TempDir()
	for _, f := range []string{"blocks.json", "blocks.csv", "blocks-journal.jsonl"} {
		if err := os.WriteFile(filepath.Join(done, f), []byte(readFile(t, filepath.Join(ref, f))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	with := func(extra ...string) []string {
		return append(append(slices.Clone(small), extra...), ck)
	}
	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no out", with(), 2, "--out"},
		{"no checkpoint", []string{"--out", tmp}, 2, "no checkpoint"},
		{"unknown curvature", append([]string{"--out", done}, with("--curvature", "kfac")...), 2, "--curvature"},
		{"bad regex", append([]string{"--out", done}, with("--params", "(")...), 2, "--params"},
		{"no block matches", append([]string{"--out", done}, with("--params", "^attn")...), 2, "no block matches"},
		{"zero k", append([]string{"--out", done}, with("--k", "0")...), 2, "--k"},
		{"trace products", append([]string{"--out", done}, with("--trace-products", "2")...), 2, "--trace-products"},
		{"negative wd", append([]string{"--out", done}, with("--wd", "-1")...), 2, "--wd"},
		{"bad shard", append([]string{"--out", done}, with("--shard", "2/2")...), 2, "shard"},
		{"missing checkpoint", append([]string{"--out", done}, append(slices.Clone(small), filepath.Join(tmp, "nope.json"))...), 1, "does not exist"},
		{"other settings", append([]string{"--out", done}, with("--batches", "3")...), 1, "other settings"},
		{"merge nothing", []string{"--merge", "--out", t.TempDir()}, 1, "no shard journals"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runHere(t, c.args...)
			var msg bytes.Buffer
			status := cli.Exit("blocks", err, &msg)
			line := msg.String()
			if status != c.status || !strings.Contains(line, c.want) {
				t.Errorf("status %d, message %q; want status %d mentioning %q", status, line, c.status, c.want)
			}
			if strings.Count(line, "\n") != 1 {
				t.Errorf("message is not one line: %q", line)
			}
		})
	}
	for _, f := range []string{"blocks.json", "blocks.csv", "blocks-journal.jsonl"} {
		if readFile(t, filepath.Join(done, f)) != readFile(t, filepath.Join(ref, f)) {
			t.Errorf("a failed run changed %s", f)
		}
	}
}

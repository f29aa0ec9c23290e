package landscape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/shard"
)

// bowl is a test evaluator: NLL = x² + 3y² (NaN at a few points, +Inf at
// one: diverged models), accuracy falling away from the centre, l1 and l2
// those of a real surface over testParams. It counts its calls per point.
type bowl struct {
	s *Surface

	mu    sync.Mutex
	calls map[[2]float64]int
	total int
	// after cancels cancel once this many calls have been made (0: never).
	after  int
	cancel context.CancelFunc
}

func newBowl(t *testing.T) *bowl {
	t.Helper()
	params := testParams(t, 21)
	d1, err := Random(params, 1, 0, NormFilter)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Random(params, 1, 1, NormFilter)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSurface(params, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	return &bowl{s: s, calls: make(map[[2]float64]int)}
}

func (b *bowl) Evaluate(ctx context.Context, x, y float64) (Metrics, error) {
	b.mu.Lock()
	b.calls[[2]float64{x, y}]++
	b.total++
	if b.after > 0 && b.total == b.after {
		b.cancel()
	}
	b.mu.Unlock()
	nll := x*x + 3*y*y
	switch {
	case x == 1 && y == 1, x == -1 && y == 0.5:
		nll = math.NaN()
	case x == 1 && y == -1:
		nll = math.Inf(1)
	}
	l1, l2, sq := b.s.NormsSq(x, y)
	return Metrics{NLL: nll, Acc: 1 / (1 + nll), L1: l1, L2: l2, SqNorm: sq}, nil
}

func testSpec() Spec {
	return Spec{
		Grid:        Grid{X: Axis{Min: -1, Max: 1, N: 9}, Y: Axis{Min: -1, Max: 1, N: 9}},
		Directions:  DirSpec{Kind: "random", Seed: 1, Norm: NormFilter, SHA256: "test"},
		WeightDecay: 0.05,
		Inputs:      map[string]string{"checkpoint": "sha256:abc", "data": "mnist train, 512 images, seed 3"},
	}
}

func csvOf(t *testing.T, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRunAllPointsAndCSV(t *testing.T) {
	spec := testSpec()
	ev := newBowl(t)
	res, err := Run(context.Background(), spec, ev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete() || len(res.Points) != 81 || ev.total != 81 {
		t.Fatalf("%d points, %d calls, want 81", len(res.Points), ev.total)
	}
	if res.Diverged() != 3 {
		t.Errorf("Diverged = %d, want 3", res.Diverged())
	}
	lines := strings.Split(strings.TrimSuffix(csvOf(t, res), "\n"), "\n")
	if lines[0] != "x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official" || len(lines) != 82 {
		t.Fatalf("header %q, %d lines", lines[0], len(lines))
	}
	// The centre row: x, y exact zeros, NLL 0, accuracy 1, loss =
	// (wd/2)·Σ‖w‖², loss_official = wd·l2.
	_, l2 := ev.s.Norms(0, 0)
	sq := SqNorm(ev.s.Origin())
	want := fmt.Sprintf("0,0,%s,%s,0,1,%s,40,%s,%s", g(L1(ev.s.Origin())), g(l2), g(0.025*sq), g(sq), g(0.05*l2))
	if lines[41] != want {
		t.Errorf("centre row %q, want %q", lines[41], want)
	}
	// Diverged points survive as NaN / +Inf.
	if !strings.HasPrefix(lines[81], "1,1,") || !strings.Contains(lines[81], ",NaN,NaN,NaN,80,") || !strings.HasSuffix(lines[81], ",NaN") {
		t.Errorf("last row %q, want NaN metrics", lines[81])
	}
	if !strings.HasPrefix(lines[9], "1,-1,") || !strings.Contains(lines[9], ",+Inf,0,+Inf,8,") || !strings.HasSuffix(lines[9], ",+Inf") {
		t.Errorf("row 8 %q, want +Inf NLL, accuracy 0", lines[9])
	}
	z := res.Values(QuantityNLL)
	if z[40] != 0 || z[0] != 4 || !math.IsNaN(z[80]) {
		t.Errorf("Values: centre %g, corner %g, NaN corner %g", z[40], z[0], z[80])
	}
}

func g(v float64) string { return fmt.Sprintf("%v", v) }

// A run cancelled halfway keeps what it finished; the rerun evaluates only
// the rest, no point twice, and writes the same CSV as an uninterrupted run.
func TestResumeAfterCancel(t *testing.T) {
	spec := testSpec()
	want, err := Run(context.Background(), spec, newBowl(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jpath := filepath.Join(dir, "landscape.jsonl")
	ev := newBowl(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev.after, ev.cancel = 40, cancel
	var log bytes.Buffer
	part, err := Run(ctx, spec, ev, Options{Journal: jpath, Progress: &log, Label: "test"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v, want context.Canceled", err)
	}
	if len(part.Points) != 40 || ev.total != 40 {
		t.Fatalf("cancelled run kept %d points after %d calls, want 40", len(part.Points), ev.total)
	}
	if !strings.Contains(err.Error(), "40 of 81 points") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(log.String(), "points") {
		t.Errorf("no progress written: %q", log.String())
	}
	// A kill mid-write leaves a torn line; the rerun must drop it.
	f, _ := os.OpenFile(jpath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"i":40,"x":0,"y":0,"nl`)
	f.Close()

	ev.after = 0
	res, err := Run(context.Background(), spec, ev, Options{Journal: jpath})
	if err != nil {
		t.Fatal(err)
	}
	if ev.total != 81 {
		t.Errorf("%d evaluations in all, want 81", ev.total)
	}
	for pt, n := range ev.calls {
		if n != 1 {
			t.Errorf("point %v evaluated %d times", pt, n)
		}
	}
	if got, w := csvOf(t, res), csvOf(t, want); got != w {
		t.Errorf("resumed CSV differs from the single run's:\n%s\nwant\n%s", got, w)
	}
	// A third run has nothing left to do.
	if _, err := Run(context.Background(), spec, ev, Options{Journal: jpath}); err != nil || ev.total != 81 {
		t.Errorf("third run: err %v, %d evaluations", err, ev.total)
	}
	// Other settings are refused, not mixed.
	other := testSpec()
	other.Directions.Seed = 2
	if _, err := Run(context.Background(), other, ev, Options{Journal: jpath}); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("other spec on the same journal: err = %v", err)
	}
}

func TestShardsMergeToSingleRun(t *testing.T) {
	spec := testSpec()
	single, err := Run(context.Background(), spec, newBowl(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for i := range 4 {
		// Shards come from the flag, Slurm or Kubernetes alike.
		env := map[string]string{}
		flag := ""
		switch i {
		case 0:
			flag = "0/4"
		case 1:
			env = map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"}
		default:
			env = map[string]string{"JOB_COMPLETION_INDEX": fmt.Sprint(i), shard.CountEnv: "4"}
		}
		sh, err := shard.Resolve(flag, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, JournalName(sh))
		paths = append(paths, p)
		ev := newBowl(t)
		res, err := Run(context.Background(), spec, ev, Options{Shard: sh, Journal: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range res.Points {
			if pt.Index%4 != i {
				t.Errorf("shard %d evaluated point %d", i, pt.Index)
			}
		}
		if want := (81 - i + 3) / 4; ev.total != want {
			t.Errorf("shard %d: %d evaluations, want %d", i, ev.total, want)
		}
	}
	if got := ShardJournals(dir, 4); !slices.Equal(got, paths) {
		t.Errorf("ShardJournals = %v, want %v", got, paths)
	}
	if JournalName(shard.All) != "landscape.journal.jsonl" || JournalName(shard.Shard{Index: 2, Count: 4}) != "landscape.shard-2-of-4.jsonl" {
		t.Errorf("JournalName: %q, %q", JournalName(shard.All), JournalName(shard.Shard{Index: 2, Count: 4}))
	}
	merged, err := Merge(spec, paths...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := csvOf(t, merged), csvOf(t, single); got != want {
		t.Errorf("merged CSV differs from the single run's")
	}
	// Overlapping shards with equal values merge; the order of journals
	// does not matter.
	again, err := Merge(spec, paths[3], paths[1], paths[0], paths[2], paths[1])
	if err != nil || csvOf(t, again) != csvOf(t, single) {
		t.Errorf("reordered merge: %v", err)
	}
	// Files on disk: CSV byte-identical too.
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := single.SaveCSV(a); err != nil {
		t.Fatal(err)
	}
	if err := merged.SaveCSV(b); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("saved CSV files differ")
	}
}

func TestMergeErrors(t *testing.T) {
	spec := testSpec()
	dir := t.TempDir()
	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("s%d.jsonl", i))
		paths = append(paths, p)
		if _, err := Run(context.Background(), spec, newBowl(t), Options{Shard: shard.Shard{Index: i, Count: 3}, Journal: p}); err != nil {
			t.Fatal(err)
		}
	}
	// A shard missing.
	_, err := Merge(spec, paths[0], paths[2])
	if err == nil || !strings.Contains(err.Error(), "27 of 81 points missing: 1 (x=-0.75, y=-1), 4 (x=0, y=-1)") ||
		!strings.Contains(err.Error(), "and 19 more") {
		t.Errorf("missing shard: err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	// An overlapping shard with other numbers.
	odd := filepath.Join(dir, "odd.jsonl")
	ev := EvaluatorFunc(func(ctx context.Context, x, y float64) (Metrics, error) {
		return Metrics{NLL: 7, Acc: 0.5, L1: 1, L2: 1}, nil
	})
	if _, err := Run(context.Background(), spec, ev, Options{Shard: shard.Shard{Index: 0, Count: 3}, Journal: odd}); err != nil {
		t.Fatal(err)
	}
	_, err = Merge(spec, paths[0], paths[1], paths[2], odd)
	if err == nil || !strings.Contains(err.Error(), "point 0 (x=-1, y=-1) differs between") {
		t.Errorf("conflicting shards: err = %v", err)
	}
	// A journal of another spec.
	other := testSpec()
	other.WeightDecay = 0
	if _, err := Merge(other, paths...); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("other spec: err = %v", err)
	}
	if _, err := Merge(spec); err == nil {
		t.Error("merge of nothing: no error")
	}
	if _, err := Merge(spec, filepath.Join(dir, "nope.jsonl")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	spec := testSpec()
	boom := EvaluatorFunc(func(ctx context.Context, x, y float64) (Metrics, error) {
		if x == 0 && y == 0 {
			return Metrics{}, errors.New("out of memory")
		}
		return Metrics{NLL: 1}, nil
	})
	jpath := filepath.Join(t.TempDir(), "j.jsonl")
	_, err := Run(context.Background(), spec, boom, Options{Journal: jpath})
	if err == nil || err.Error() != "landscape: point 40 (x=0, y=0): out of memory" {
		t.Errorf("evaluator error: %v", err)
	}
	// The 40 points before it are kept.
	ok := EvaluatorFunc(func(ctx context.Context, x, y float64) (Metrics, error) {
		if x < 0 && y < 0 {
			t.Errorf("point (%g, %g) evaluated again", x, y)
		}
		return Metrics{NLL: 1}, nil
	})
	if _, err := Run(context.Background(), spec, ok, Options{Journal: jpath}); err != nil {
		t.Fatal(err)
	}
	bad := spec
	bad.Grid.X.N = 1
	if _, err := Run(context.Background(), bad, ok, Options{}); err == nil || !strings.Contains(err.Error(), "x resolution 1") {
		t.Errorf("bad grid: %v", err)
	}
	bad = spec
	bad.WeightDecay = math.NaN()
	if _, err := Run(context.Background(), bad, ok, Options{}); err == nil || !strings.Contains(err.Error(), "weight decay") {
		t.Errorf("bad weight decay: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	spec := testSpec()
	res, err := Run(context.Background(), spec, newBowl(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "landscape.json")
	pv := prov.New("landscape", []string{"landscape", "-seed", "1"}, 1, 2)
	if err := res.SaveJSON(path, pv); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"NLL": "NaN"`, `"NLL": "+Inf"`, `"csv_columns": "x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official"`, `"diverged": 3`, `"checkpoint": "sha256:abc"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	back, pv2, err := LoadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if csvOf(t, back) != csvOf(t, res) || pv2.Seed != 1 || pv2.Tool != "landscape" {
		t.Error("JSON round trip changed the result")
	}
}

func TestOneDimensionalRun(t *testing.T) {
	grid, err := NewGrid1(-1, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Grid: grid, Directions: DirSpec{Kind: "between"}, WeightDecay: 0.05}
	res, err := Run(context.Background(), spec, EvaluatorFunc(func(ctx context.Context, x, y float64) (Metrics, error) {
		if y != 0 {
			t.Errorf("y = %g on a 1-D grid", y)
		}
		return Metrics{NLL: x * x, Acc: 1, L2: 10, SqNorm: 40}, nil
	}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// loss = NLL + 0.025·40 = NLL + 1; loss_official = NLL + 0.05·10.
	want := "x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official\n-1,0,0,10,1,1,2,0,40,1.5\n-0.5,0,0,10,0.25,1,1.25,1,40,0.75\n" +
		"0,0,0,10,0,1,1,2,40,0.5\n0.5,0,0,10,0.25,1,1.25,3,40,0.75\n1,0,0,10,1,1,2,4,40,1.5\n"
	if got := csvOf(t, res); got != want {
		t.Errorf("CSV\n%s\nwant\n%s", got, want)
	}
}

func ExampleRun() {
	grid, _ := NewGrid2(-1, 1, 3, -1, 1, 3)
	spec := Spec{Grid: grid, Directions: DirSpec{Kind: "random", Seed: 1, Norm: NormFilter}, WeightDecay: 0.05}
	bowl := EvaluatorFunc(func(ctx context.Context, x, y float64) (Metrics, error) {
		return Metrics{NLL: x*x + 3*y*y, Acc: 0.5, L1: 20, L2: 10, SqNorm: 40}, nil
	})
	res, _ := Run(context.Background(), spec, bowl, Options{})
	res.WriteCSV(os.Stdout)
	// Output:
	// x,y,l1,l2,NLL,Acc,loss,index,sqnorm,loss_official
	// -1,-1,20,10,4,0.5,5,0,40,4.5
	// 0,-1,20,10,3,0.5,4,1,40,3.5
	// 1,-1,20,10,4,0.5,5,2,40,4.5
	// -1,0,20,10,1,0.5,2,3,40,1.5
	// 0,0,20,10,0,0.5,1,4,40,0.5
	// 1,0,20,10,1,0.5,2,5,40,1.5
	// -1,1,20,10,4,0.5,5,6,40,4.5
	// 0,1,20,10,3,0.5,4,7,40,3.5
	// 1,1,20,10,4,0.5,5,8,40,4.5
}

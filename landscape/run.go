package landscape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"

	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/shard"
)

// Evaluator measures the model at one point of the grid: it moves the
// weights to w0 + x*d1 + y*d2 (Surface.At) and returns the metrics there.
// y is 0 on a 1-D grid. Non-finite metrics (a diverged point) are data, not
// errors; an error stops the run. When ctx is cancelled it may return
// early with ctx's error, and the point is not recorded.
type Evaluator interface {
	Evaluate(ctx context.Context, x, y float64) (Metrics, error)
}

// EvaluatorFunc adapts a function to Evaluator.
type EvaluatorFunc func(ctx context.Context, x, y float64) (Metrics, error)

// Evaluate calls f.
func (f EvaluatorFunc) Evaluate(ctx context.Context, x, y float64) (Metrics, error) {
	return f(ctx, x, y)
}

// DirSpec says how the directions were made. SHA256 (Fingerprint of the
// direction values) pins them completely; the other fields are for people.
type DirSpec struct {
	// Kind is "random", "between" (the line between two checkpoints),
	// "vector" (e.g. Hessian eigenvectors) or the adapter's own word.
	Kind string `json:"kind"`
	// Seed of random directions.
	Seed uint64 `json:"seed,omitempty"`
	// Norm is the normalisation of random directions.
	Norm Norm `json:"norm,omitempty"`
	// Zero lists the rule that zeroed tensors, e.g. "rank<2" and the name
	// patterns.
	Zero []string `json:"zero,omitempty"`
	// SHA256 is Fingerprint(d1, d2).
	SHA256 string `json:"sha256,omitempty"`
}

// Spec is everything that determines a run's numbers. It is the header of
// every journal: a journal written under another spec is refused, and
// shards merge only under the spec they were run with.
type Spec struct {
	Grid       Grid    `json:"grid"`
	Directions DirSpec `json:"directions"`
	// WeightDecay is wd in loss = NLL + (wd/2)·Σ‖w‖² (and in the official
	// NLL + wd·l2).
	WeightDecay float64 `json:"weight_decay"`
	// Inputs holds everything else that determines the numbers, by name:
	// model and checkpoint hash, data set, subset and its seed,
	// augmentation, batch size, eval mode... (JSON sorts the keys).
	Inputs map[string]string `json:"inputs,omitempty"`
}

// Validate checks the grid and the weight decay.
func (s Spec) Validate() error {
	if err := s.Grid.Validate(); err != nil {
		return err
	}
	if math.IsNaN(s.WeightDecay) || math.IsInf(s.WeightDecay, 0) || s.WeightDecay < 0 {
		return fmt.Errorf("landscape: weight decay %g: must be finite and non-negative", s.WeightDecay)
	}
	return nil
}

// header is the first line of a journal.
type header struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	Spec    Spec   `json:"spec"`
}

func journalHeader(s Spec) header {
	// Version 2: points record Σ‖w‖² ("sq"), which version 1 lacked.
	return header{Kind: journalKind, Version: 2, Spec: s}
}

const journalKind = "vitprobe landscape journal"

// ReadSpec returns the spec a journal was written under (its header), for
// a merge that has only the journals.
func ReadSpec(path string) (Spec, error) {
	var h header
	if err := journal.ReadHeader(path, &h); err != nil {
		return Spec{}, fmt.Errorf("landscape: %w", err)
	}
	if h.Kind != journalKind {
		return Spec{}, fmt.Errorf("landscape: %s is not a landscape journal", path)
	}
	return h.Spec, nil
}

// Options control a run. The zero value runs every point in memory,
// without a journal or progress output.
type Options struct {
	// Shard is the part of the grid this process owns: the points whose
	// index i has i mod Count = Index. The zero value means all.
	Shard shard.Shard
	// Journal is the path of this process's journal ("" for none). Each
	// finished point is appended and synced as it completes; a rerun with
	// the same spec skips the points already there.
	Journal string
	// Progress receives a progress bar or log lines (nil for none).
	Progress io.Writer
	// Label prefixes the progress line.
	Label string
}

// Run evaluates the points of spec's grid that opt.Shard owns, in index
// order, skipping those already in the journal. It calls eval one point at
// a time on the calling goroutine, so an adapter whose torch work needs a
// locked OS thread runs Run on that thread. It returns the points done,
// those found in the journal included. When ctx is cancelled it stops
// after the point in progress, keeps everything finished and returns the
// partial result with an error wrapping ctx's.
func Run(ctx context.Context, spec Spec, eval Evaluator, opt Options) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	sh := opt.Shard
	if sh.Count == 0 {
		sh = shard.All
	}
	if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		return nil, fmt.Errorf("landscape: invalid shard %s", sh)
	}
	g := spec.Grid
	done := make(map[int]Point)
	var w *journal.Writer
	if opt.Journal != "" {
		var recs []record
		var err error
		w, recs, err = journal.Open[record](opt.Journal, journalHeader(spec))
		if err != nil {
			return nil, fmt.Errorf("landscape: %w", err)
		}
		defer func() { _ = w.Close() }() // closes on error paths; a no-op after the Close below
		if err := addRecords(done, recs, g, opt.Journal); err != nil {
			return nil, err
		}
	}
	var todo []int
	owned := 0
	for i := range g.Len() {
		if !sh.Owns(i) {
			continue
		}
		owned++
		if _, ok := done[i]; !ok {
			todo = append(todo, i)
		}
	}
	var bar *progress.Bar
	if opt.Progress != nil {
		bar = progress.New(opt.Progress, opt.Label, "points", owned, owned-len(todo))
	}
	var stop error
	for _, i := range todo {
		if err := ctx.Err(); err != nil {
			stop = err
			break
		}
		x, y := g.Point(i)
		m, err := eval.Evaluate(ctx, x, y)
		if err != nil {
			if ctx.Err() != nil {
				stop = ctx.Err()
				break
			}
			return nil, fmt.Errorf("landscape: point %d (x=%g, y=%g): %w", i, x, y, err)
		}
		p := Point{Index: i, X: x, Y: y, Metrics: m}
		if w != nil {
			if err := w.Append(toRecord(p)); err != nil {
				return nil, fmt.Errorf("landscape: %w", err)
			}
		}
		done[i] = p
		bar.Add(1, fmt.Sprintf("NLL %.4g, acc %.3g at (%g, %g)", m.NLL, m.Acc, x, y))
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("landscape: %s: %w", opt.Journal, err)
		}
	}
	res := &Result{Spec: spec, Points: sorted(done)}
	if stop != nil {
		bar.Finish("interrupted")
		return res, fmt.Errorf("landscape: stopped with %d of %d points of shard %s done: %w",
			owned-len(todo)+countDone(todo, done), owned, sh, stop)
	}
	bar.Finish("done")
	return res, nil
}

func countDone(todo []int, done map[int]Point) int {
	n := 0
	for _, i := range todo {
		if _, ok := done[i]; ok {
			n++
		}
	}
	return n
}

// addRecords checks journal records against the grid and adds them to
// done. A point recorded twice must hold the same numbers.
func addRecords(done map[int]Point, recs []record, g Grid, path string) error {
	for _, r := range recs {
		p := r.point()
		if p.Index < 0 || p.Index >= g.Len() {
			return fmt.Errorf("landscape: %s: point %d is outside the grid of %d points", path, p.Index, g.Len())
		}
		x, y := g.Point(p.Index)
		if math.Float64bits(x) != math.Float64bits(p.X) || math.Float64bits(y) != math.Float64bits(p.Y) {
			return fmt.Errorf("landscape: %s: point %d is at (%g, %g), the grid puts it at (%g, %g)", path, p.Index, p.X, p.Y, x, y)
		}
		if q, ok := done[p.Index]; ok && !samePoint(p, q) {
			return fmt.Errorf("landscape: %s: point %d (x=%g, y=%g) has two different results (NLL %g and %g); the journal is corrupt",
				path, p.Index, x, y, q.NLL, p.NLL)
		}
		done[p.Index] = p
	}
	return nil
}

func sorted(done map[int]Point) []Point {
	pts := make([]Point, 0, len(done))
	for _, p := range done {
		pts = append(pts, p)
	}
	slices.SortFunc(pts, func(a, b Point) int { return a.Index - b.Index })
	return pts
}

// JournalName is the conventional journal file name of shard s:
// "landscape.journal.jsonl" for a single process, else
// "landscape.shard-3-of-8.jsonl" (shard 3/8).
func JournalName(s shard.Shard) string {
	if s.Count <= 1 {
		return "landscape.journal.jsonl"
	}
	return fmt.Sprintf("landscape.shard-%d-of-%d.jsonl", s.Index, s.Count)
}

// ShardJournals returns the journal paths of all n shards in dir, by
// JournalName, for Merge.
func ShardJournals(dir string, n int) []string {
	paths := make([]string, n)
	for i := range n {
		paths[i] = filepath.Join(dir, JournalName(shard.Shard{Index: i, Count: n}))
	}
	return paths
}

// Merge reads the journals of a sharded run, made under spec, and returns
// the full result, the same as one process would have produced. A point
// found in several journals must hold the same numbers in each, and every
// point must be somewhere: the error names the points missing.
func Merge(spec Spec, journals ...string) (*Result, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if len(journals) == 0 {
		return nil, errors.New("landscape: merge: no journals given")
	}
	g := spec.Grid
	done := make(map[int]Point)
	from := make(map[int]string)
	for _, path := range journals {
		recs, err := journal.Read[record](path, journalHeader(spec))
		if err != nil {
			return nil, fmt.Errorf("landscape: merge: %w", err)
		}
		one := make(map[int]Point)
		if err := addRecords(one, recs, g, path); err != nil {
			return nil, fmt.Errorf("landscape: merge: %w", err)
		}
		for _, p := range sorted(one) {
			i := p.Index
			if q, ok := done[i]; ok && !samePoint(p, q) {
				return nil, fmt.Errorf("landscape: merge: point %d (x=%g, y=%g) differs between %s (NLL %g, acc %g) and %s (NLL %g, acc %g): the shards were not run on the same inputs, or the evaluation is not deterministic",
					i, p.X, p.Y, from[i], q.NLL, q.Acc, path, p.NLL, p.Acc)
			}
			if _, ok := done[i]; !ok {
				done[i] = p
				from[i] = path
			}
		}
	}
	res := &Result{Spec: spec, Points: sorted(done)}
	if miss := res.Missing(); len(miss) > 0 {
		return nil, fmt.Errorf("landscape: merge: %d of %d points missing: %s; run the shards that own them", len(miss), g.Len(), describePoints(g, miss))
	}
	return res, nil
}

// describePoints lists the first few points by index and coordinates.
func describePoints(g Grid, idx []int) string {
	const show = 8
	s := ""
	for k, i := range idx {
		if k == show {
			s += fmt.Sprintf(" and %d more", len(idx)-show)
			break
		}
		if k > 0 {
			s += ", "
		}
		x, y := g.Point(i)
		if g.Is2D() {
			s += fmt.Sprintf("%d (x=%g, y=%g)", i, x, y)
		} else {
			s += fmt.Sprintf("%d (x=%g)", i, x)
		}
	}
	return s
}

package analysis

import (
	"context"
	"errors"
	"fmt"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
)

// AllCorruptions returns every corruption of data.CorruptionNames at every
// severity, 1 to 5, corruption by corruption.
func AllCorruptions() []data.Corruption {
	var out []data.Corruption
	for _, n := range data.CorruptionNames() {
		for s := 1; s <= data.Severities; s++ {
			out = append(out, data.Corruption{Name: n, Severity: s})
		}
	}
	return out
}

// CorruptionOptions configures CorruptionRobustness.
type CorruptionOptions struct {
	// Corruptions lists the corruptions and severities to evaluate; nil
	// means AllCorruptions.
	Corruptions []data.Corruption
	// Seed selects the corruptions' random draws (data.CorruptionRand):
	// every model evaluated with the same seed sees the same corrupted
	// images.
	Seed uint64
	// Batch is the number of images per forward pass (at least 1).
	Batch int
	// Workers is the number of goroutines that make the corrupted images
	// (0: GOMAXPROCS); the images do not depend on it.
	Workers int
	// Journal, if not empty, is the path of a journal to which every
	// finished (corruption, severity) is appended as it completes; a rerun
	// with the same model, images, seed and Inputs skips those found there.
	Journal string
	// Inputs identifies what the numbers depend on besides the images, the
	// seed and the batch size (the weights' hash, the dataset): it is
	// written into the journal's header.
	Inputs map[string]string
	// Progress, if not nil, is called after every forward pass with the
	// number done and their total.
	Progress func(done, total int)
	// OtherJournals are journals of other processes of the same run
	// (CorruptionShard's), read only: the conditions they hold count as
	// done. Their headers must match this run's.
	OtherJournals []string
}

// CorruptionScore is a model's outcome on one version of the images
// (results.CorruptionScore).
type CorruptionScore = results.CorruptionScore

// CorruptionResult is a model's accuracy on corrupted versions of a set of
// images (paper Fig. 12b; results.CorruptionResult).
type CorruptionResult = results.CorruptionResult

type corruptRecord struct {
	Name     string   `json:"corruption"`
	Severity int      `json:"severity"`
	Correct  Outcomes `json:"correct"`
	NLL      float64  `json:"nll"`
}

type corruptHeader struct {
	Kind    string            `json:"kind"`
	Version int               `json:"version"`
	Model   string            `json:"model"`
	Images  string            `json:"images"`
	Seed    uint64            `json:"seed"`
	Batch   int               `json:"batch"`
	Inputs  map[string]string `json:"inputs,omitempty"`
}

// CorruptionRobustness evaluates m (eval mode, no gradients) on the images
// of d at indices, clean and under each corruption of opt.Corruptions: the
// images are corrupted in Go (data.Dataset.Corrupted: intensities in
// [0, 1], rounded back to bytes) and normalised as in training. Conditions
// found in opt.Journal or opt.OtherJournals are not evaluated again. It
// stops between forward passes when ctx is cancelled, keeping what the
// journal holds.
func CorruptionRobustness(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt CorruptionOptions) (*CorruptionResult, error) {
	conds, done, err := corruptionRun(ctx, m, d, indices, opt, shard.All)
	if err != nil {
		return nil, err
	}
	score := func(c data.Corruption) CorruptionScore {
		r := done[c]
		return CorruptionScore{Corruption: c, Accuracy: r.Correct.Accuracy(), NLL: r.NLL, Correct: r.Correct}
	}
	res := &CorruptionResult{Model: m.Spec().Name, Images: len(indices), Seed: opt.Seed, Clean: score(cleanCondition)}
	for _, c := range conds {
		sc := score(c)
		res.Conditions = append(res.Conditions, sc)
		res.MeanAccuracy += sc.Accuracy / float64(len(conds))
	}
	return res, nil
}

// CorruptionShard evaluates, and appends to opt.Journal (required), only
// the conditions that sh owns: condition i, numbered from 0 for the clean
// images and then in the order of opt.Corruptions, when i mod sh.Count =
// sh.Index. Processes of a batch system each run one shard; a final
// CorruptionRobustness with their journals in opt.OtherJournals assembles
// the result (evaluating whatever no shard finished).
func CorruptionShard(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt CorruptionOptions, sh shard.Shard) error {
	if opt.Journal == "" {
		return errors.New("analysis: a corruption shard needs a journal")
	}
	if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		return fmt.Errorf("analysis: invalid shard %v", sh)
	}
	_, _, err := corruptionRun(ctx, m, d, indices, opt, sh)
	return err
}

// cleanCondition names the uncorrupted images among the conditions.
var cleanCondition = data.Corruption{Name: "clean"}

// corruptionRun evaluates the conditions sh owns that no journal holds and
// returns every condition's record it has (all of them for shard.All).
func corruptionRun(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt CorruptionOptions, sh shard.Shard) ([]data.Corruption, map[data.Corruption]corruptRecord, error) {
	if err := checkProbeInputs(m, d, indices, opt.Batch); err != nil {
		return nil, nil, err
	}
	conds := opt.Corruptions
	if conds == nil {
		conds = AllCorruptions()
	}
	if len(conds) == 0 {
		return nil, nil, errors.New("analysis: no corruption to evaluate")
	}
	seen := map[data.Corruption]bool{}
	for _, c := range conds {
		if err := c.Validate(); err != nil {
			return nil, nil, fmt.Errorf("analysis: %w", err)
		}
		if seen[c] {
			return nil, nil, fmt.Errorf("analysis: corruption %v listed twice", c)
		}
		seen[c] = true
	}
	done := map[data.Corruption]corruptRecord{}
	hdr := corruptHeader{Kind: "vitprobe corruption journal", Version: 1, Model: m.Spec().Name, Images: indicesKey(indices),
		Seed: opt.Seed, Batch: opt.Batch, Inputs: opt.Inputs}
	add := func(path string, recs []corruptRecord) error {
		for _, r := range recs {
			if len(r.Correct) != len(indices) {
				return fmt.Errorf("analysis: corruptions: %s: a record of %d images, want %d", path, len(r.Correct), len(indices))
			}
			done[data.Corruption{Name: r.Name, Severity: r.Severity}] = r
		}
		return nil
	}
	for _, path := range opt.OtherJournals {
		recs, err := journal.Read[corruptRecord](path, hdr)
		if err != nil {
			return nil, nil, fmt.Errorf("analysis: corruptions: %w", err)
		}
		if err := add(path, recs); err != nil {
			return nil, nil, err
		}
	}
	var w *journal.Writer
	if opt.Journal != "" {
		var recs []corruptRecord
		var err error
		w, recs, err = journal.Open[corruptRecord](opt.Journal, hdr)
		if err != nil {
			return nil, nil, fmt.Errorf("analysis: corruptions: %w", err)
		}
		defer func() { _ = w.Close() }()
		if err := add(opt.Journal, recs); err != nil {
			return nil, nil, err
		}
	}
	var todo []data.Corruption
	for i, c := range append([]data.Corruption{cleanCondition}, conds...) {
		if _, ok := done[c]; !ok && sh.Owns(i) {
			todo = append(todo, c)
		}
	}
	batches := (len(indices) + opt.Batch - 1) / opt.Batch
	total, count := len(todo)*batches, 0
	step := func() {
		count++
		if opt.Progress != nil {
			opt.Progress(count, total)
		}
	}
	for k, c := range todo {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("analysis: corruptions stopped with %d of %d conditions left: %w", len(todo)-k, len(todo), err)
		}
		src, idx := d, indices
		if c != cleanCondition {
			cd, err := d.Corrupted(indices, c, opt.Seed, opt.Workers)
			if err != nil {
				return nil, nil, fmt.Errorf("analysis: %w", err)
			}
			src, idx = cd, cd.Indices()
		}
		s, err := evaluate(ctx, m, src, idx, opt.Batch, step)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, nil, fmt.Errorf("analysis: corruptions stopped with %d of %d conditions left: %w", len(todo)-k, len(todo), err)
			}
			return nil, nil, fmt.Errorf("analysis: %v: %w", c, err)
		}
		nll, _ := meanSE(s.nll)
		rec := corruptRecord{Name: c.Name, Severity: c.Severity, Correct: s.correct, NLL: nll}
		if w != nil {
			if err := w.Append(rec); err != nil {
				return nil, nil, fmt.Errorf("analysis: corruptions: %w", err)
			}
		}
		done[c] = rec
	}
	return conds, done, nil
}

// CorruptionSummary compares models' corruption errors with a baseline's
// (results.CorruptionSummary gives the definitions).
type CorruptionSummary = results.CorruptionSummary

// CorruptionModelScore is one model's line of a CorruptionSummary.
type CorruptionModelScore = results.CorruptionModelScore

// CorruptionError is one model's errors under one corruption.
type CorruptionError = results.CorruptionError

func meanOrNil(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	return &m
}

// SummarizeCorruptions computes each model's CE per corruption, mCE and
// relative mCE against the result named baseline. Every result must hold
// the same corruptions and severities on the same number of images.
func SummarizeCorruptions(names []string, results []*CorruptionResult, baseline string) (*CorruptionSummary, error) {
	if len(names) != len(results) || len(results) == 0 {
		return nil, fmt.Errorf("analysis: %d names for %d corruption results", len(names), len(results))
	}
	bi := -1
	for i, n := range names {
		if n == baseline {
			bi = i
		}
	}
	if bi < 0 {
		return nil, fmt.Errorf("analysis: baseline %q is not among the models %v", baseline, names)
	}
	base := results[bi]
	// The corruptions in order of first appearance, with their severities.
	var order []string
	sev := map[string][]int{}
	for _, c := range base.Conditions {
		if _, ok := sev[c.Name]; !ok {
			order = append(order, c.Name)
		}
		sev[c.Name] = append(sev[c.Name], c.Severity)
	}
	sum := &CorruptionSummary{Baseline: baseline}
	for i, r := range results {
		if len(r.Conditions) != len(base.Conditions) || r.Images != base.Images || r.Seed != base.Seed {
			return nil, fmt.Errorf("analysis: %s and the baseline %s were evaluated on different corruptions, images or seeds", names[i], baseline)
		}
		ms := CorruptionModelScore{Name: names[i], CleanError: r.Clean.Error(), MeanAccuracy: r.MeanAccuracy}
		var abs, rel []float64
		for _, name := range order {
			ce := CorruptionError{Name: name, Severities: sev[name]}
			var num, den, rnum, rden float64
			for _, s := range sev[name] {
				a, ok := r.Score(name, s)
				b, _ := base.Score(name, s)
				if !ok {
					return nil, fmt.Errorf("analysis: %s has no result for %s at severity %d", names[i], name, s)
				}
				ce.Errors = append(ce.Errors, a.Error())
				num += a.Error()
				den += b.Error()
				rnum += a.Error() - r.Clean.Error()
				rden += b.Error() - base.Clean.Error()
			}
			if den > 0 {
				v := num / den
				ce.CE = &v
				abs = append(abs, v)
			}
			if rden > 0 {
				v := rnum / rden
				ce.RelativeCE = &v
				rel = append(rel, v)
			}
			ms.Corruptions = append(ms.Corruptions, ce)
		}
		ms.MCE, ms.RelativeMCE = meanOrNil(abs), meanOrNil(rel)
		sum.Models = append(sum.Models, ms)
	}
	return sum, nil
}

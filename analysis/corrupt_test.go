package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/train"
)

// TestCorruptionAgainstEvaluate checks each score against train.Evaluate
// (libtorch's cross-entropy) on the corrupted dataset the analysis says it
// used.
func TestCorruptionAgainstEvaluate(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(30)
	m := preset(t, "resnet-mini", 21)
	conds := []data.Corruption{{Name: "contrast", Severity: 3}, {Name: "elastic_transform", Severity: 2}}
	res, err := CorruptionRobustness(context.Background(), m, d, idx, CorruptionOptions{Corruptions: conds, Seed: 4, Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got CorruptionScore, src *data.Dataset, ix []int) {
		want, err := train.Evaluate(m, src, ix, 16)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Accuracy-want.Accuracy) > 1e-12 || math.Abs(got.NLL-want.NLL) > 2e-5*math.Max(1, want.NLL) {
			t.Errorf("%s: accuracy %v NLL %v, train.Evaluate %v %v", what, got.Accuracy, got.NLL, want.Accuracy, want.NLL)
		}
	}
	check("clean", res.Clean, d, idx)
	for i, c := range conds {
		cd, err := d.Corrupted(idx, c, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		check(c.String(), res.Conditions[i], cd, cd.Indices())
	}
	if want := (res.Conditions[0].Accuracy + res.Conditions[1].Accuracy) / 2; math.Abs(res.MeanAccuracy-want) > 1e-15 {
		t.Errorf("mean accuracy %v, want %v", res.MeanAccuracy, want)
	}
	for _, bad := range [][]data.Corruption{{{Name: "fog", Severity: 1}}, {{Name: "contrast", Severity: 9}}, {conds[0], conds[0]}, {}} {
		if _, err := CorruptionRobustness(context.Background(), m, d, idx, CorruptionOptions{Corruptions: bad, Batch: 16}); err == nil {
			t.Errorf("corruptions %v: want an error", bad)
		}
	}
}

func TestCorruptionResumes(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(20)
	m := preset(t, "vit-mini", 22)
	conds := []data.Corruption{{Name: "gaussian_noise", Severity: 5}, {Name: "pixelate", Severity: 4}, {Name: "motion_blur", Severity: 1}}
	opt := CorruptionOptions{Corruptions: conds, Seed: 1, Batch: 10}
	want, err := CorruptionRobustness(context.Background(), m, d, idx, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Journal = filepath.Join(t.TempDir(), "corrupt.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	o := opt
	o.Progress = func(done, total int) {
		if done == 5 { // clean and gaussian noise done, pixelate half-way
			cancel()
		}
	}
	if _, err := CorruptionRobustness(ctx, m, d, idx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	passes := 0
	o = opt
	o.Progress = func(done, total int) { passes = total }
	got, err := CorruptionRobustness(context.Background(), m, d, idx, o)
	if err != nil {
		t.Fatal(err)
	}
	if passes != 4 {
		t.Errorf("the resumed run did %d passes, want 4 (two conditions left)", passes)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Error("the resumed result differs from the uninterrupted one")
	}
	out := findings.CorruptionOutcomesOf(got)
	if len(out.Corruptions) != 3 || out.Corruptions[1] != "pixelate" || len(out.Outcomes[1]) != 1 || len(out.Outcomes[1][0]) != 20 {
		t.Errorf("outcomes by corruption: %v, %d", out.Corruptions, len(out.Outcomes))
	}
	o.Seed = 2
	if _, err := CorruptionRobustness(context.Background(), m, d, idx, o); err == nil {
		t.Error("resuming with another seed: want an error")
	}
}

// scored returns a result whose accuracies are 1 − the given errors
// (clean first, then one corruption "a" at severities 1..len).
func scored(errs ...float64) *CorruptionResult {
	r := &CorruptionResult{Images: 100, Clean: CorruptionScore{Corruption: data.Corruption{Name: "clean"}, Accuracy: 1 - errs[0]}}
	for i, e := range errs[1:] {
		r.Conditions = append(r.Conditions, CorruptionScore{Corruption: data.Corruption{Name: "a", Severity: i + 1}, Accuracy: 1 - e})
	}
	return r
}

func TestSummarizeCorruptions(t *testing.T) {
	base := scored(0.1, 0.2, 0.3)    // Σ E = 0.5, Σ (E − E_clean) = 0.3
	better := scored(0.05, 0.1, 0.2) // Σ E = 0.3, Σ (E − E_clean) = 0.2
	flat := scored(0.1, 0.1, 0.1)    // a corruption that does not hurt
	s, err := SummarizeCorruptions([]string{"base", "better"}, []*CorruptionResult{base, better}, "base")
	if err != nil {
		t.Fatal(err)
	}
	b, m := s.Models[0], s.Models[1]
	if *b.MCE != 1 || *b.RelativeMCE != 1 {
		t.Errorf("the baseline's own mCE %v and relative mCE %v, want 1", *b.MCE, *b.RelativeMCE)
	}
	if math.Abs(*m.MCE-0.6) > 1e-12 || math.Abs(*m.RelativeMCE-0.2/0.3) > 1e-12 {
		t.Errorf("mCE %v, relative %v; want 0.6 and 0.667", *m.MCE, *m.RelativeMCE)
	}
	if math.Abs(m.CleanError-0.05) > 1e-12 || len(m.Corruptions[0].Errors) != 2 {
		t.Errorf("clean error %v, errors %v", m.CleanError, m.Corruptions[0].Errors)
	}
	s, err = SummarizeCorruptions([]string{"flat", "better"}, []*CorruptionResult{flat, better}, "flat")
	if err != nil {
		t.Fatal(err)
	}
	if s.Models[1].RelativeMCE != nil || s.Models[1].Corruptions[0].RelativeCE != nil {
		t.Error("relative CE against a baseline the corruption does not hurt: want undefined (nil)")
	}
	if _, err := json.Marshal(s); err != nil {
		t.Error(err)
	}
	perfect := scored(0, 0, 0)
	s, err = SummarizeCorruptions([]string{"p", "b"}, []*CorruptionResult{perfect, base}, "p")
	if err != nil {
		t.Fatal(err)
	}
	if s.Models[1].MCE != nil {
		t.Error("CE against a baseline without errors: want undefined")
	}
	if _, err := SummarizeCorruptions([]string{"a"}, []*CorruptionResult{base}, "x"); err == nil {
		t.Error("unknown baseline: want an error")
	}
	if _, err := SummarizeCorruptions([]string{"a", "b"}, []*CorruptionResult{base, scored(0.1, 0.2)}, "a"); err == nil {
		t.Error("different conditions: want an error")
	}
}

// TestCorruptionShards runs the conditions in two shards, each with its
// own journal, then assembles the result: the same bits as one process,
// with no evaluation left; with only one shard done, the assembly
// evaluates the other's conditions.
func TestCorruptionShards(t *testing.T) {
	lockThread(t)
	d := mnist(t)
	idx := firstN(20)
	m := preset(t, "resnet-mini", 23)
	conds := []data.Corruption{{Name: "brightness", Severity: 5}, {Name: "impulse_noise", Severity: 3}, {Name: "defocus_blur", Severity: 4}}
	opt := CorruptionOptions{Corruptions: conds, Seed: 3, Batch: 20}
	want, err := CorruptionRobustness(context.Background(), m, d, idx, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var journals []string
	for i := range 2 {
		o := opt
		o.Journal = filepath.Join(dir, fmt.Sprintf("shard-%d.jsonl", i))
		passes := 0
		o.Progress = func(done, total int) { passes = total }
		if err := CorruptionShard(context.Background(), m, d, idx, o, shard.Shard{Index: i, Count: 2}); err != nil {
			t.Fatal(err)
		}
		// 4 conditions (clean first): shard 0 owns 0 and 2, shard 1 owns 1 and 3.
		if passes != 2 {
			t.Errorf("shard %d did %d passes, want 2", i, passes)
		}
		journals = append(journals, o.Journal)
	}
	for _, tc := range []struct {
		others []string
		passes int
	}{{journals, 0}, {journals[:1], 2}} {
		o := opt
		o.OtherJournals = tc.others
		passes := 0
		o.Progress = func(done, total int) { passes = total }
		got, err := CorruptionRobustness(context.Background(), m, d, idx, o)
		if err != nil {
			t.Fatal(err)
		}
		if passes != tc.passes {
			t.Errorf("with %d shard journals: %d passes, want %d", len(tc.others), passes, tc.passes)
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("with %d shard journals: the result differs from one process's", len(tc.others))
		}
	}
	if err := CorruptionShard(context.Background(), m, d, idx, opt, shard.Shard{Index: 0, Count: 2}); err == nil {
		t.Error("a shard without a journal: want an error")
	}
}

package buildup

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/models/pattern"
)

func TestNextSlot(t *testing.T) {
	for _, c := range []struct {
		stage string
		want  int
	}{
		{"CCCC", 3}, {"CCCM", 1}, {"CMCM", -1}, {"CCCCCM", 3}, {"CCCMCM", 1},
		{"C", -1}, {"CC", 1}, {"CM", -1}, {"CCM", -1}, {"CCC", 2},
	} {
		if got := NextSlot(pattern.Stages{c.stage}, 0); got != c.want {
			t.Errorf("NextSlot(%s) = %d, want %d", c.stage, got, c.want)
		}
	}
}

func TestPooledSD(t *testing.T) {
	// Two patterns: deviations ±1 and ±2 around their means, one degree
	// of freedom each: sqrt((2 + 8) / 2).
	got := pooledSD([][]float64{{1, 3}, {4, 8}})
	if want := math.Sqrt(5); math.Abs(got-want) > 1e-12 {
		t.Errorf("pooledSD = %g, want %g", got, want)
	}
}

// paperLike scores a pattern as the paper found: MSA blocks at the end of
// the last stage help (+1 pp each, two of them), one at the end of stage 3
// does not (-0.2 pp), one at the end of stage 2 helps (+0.5 pp); the seed
// adds ±0.05 pp of noise.
func paperLike(_ context.Context, p pattern.Stages, seed uint64) (float64, error) {
	acc := 0.95
	acc += 0.01 * float64(strings.Count(p[3], "M"))
	acc -= 0.002 * float64(strings.Count(p[2], "M"))
	acc += 0.005 * float64(strings.Count(p[1], "M"))
	acc += 0.0005 * float64(int(seed%2)*2-1)
	return acc, nil
}

func TestRunFollowsTheRule(t *testing.T) {
	start := pattern.Stages{"C", "CC", "CC", "CCCC"}
	res, err := Run(context.Background(), start, paperLike, Options{Seeds: []uint64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		pattern string
		kept    bool
	}
	want := []step{
		{"C,CC,CC,CCCC", true},  // the baseline
		{"C,CC,CC,CCCM", true},  // end of the last stage: +1 pp
		{"C,CC,CC,CMCM", true},  // alternately, the next one: +1 pp; the stage is full
		{"C,CC,CM,CMCM", false}, // end of stage 3: -0.2 pp
		{"C,CM,CC,CMCM", true},  // end of stage 2: +0.5 pp; stage 1 has no slot
	}
	var got []step
	for _, tr := range res.Trials {
		got = append(got, step{tr.Pattern, tr.Kept})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trials %v, want %v", got, want)
	}
	if res.Final != "C,CM,CC,CMCM" || math.Abs(res.FinalMean-0.975) > 1e-12 {
		t.Errorf("final %s (%.4f), want C,CM,CC,CMCM (0.975)", res.Final, res.FinalMean)
	}
	// Seed noise ±0.05 pp: pooled SD sqrt(2·0.0005²/1) per pattern.
	if want := 0.0005 * math.Sqrt2; math.Abs(res.PooledSD-want) > 1e-12 {
		t.Errorf("pooled SD %g, want %g", res.PooledSD, want)
	}
	tr := res.Trials[3]
	if math.Abs(tr.Diff+0.002) > 1e-12 || math.Abs(tr.DiffSE-res.PooledSD) > 1e-12 || tr.Against != "C,CC,CC,CMCM" || tr.MSAs != 3 {
		t.Errorf("trial 3 = %+v", tr)
	}
}

// TestRunNoise: an improvement within the seed noise is not kept.
func TestRunNoise(t *testing.T) {
	noisy := func(_ context.Context, p pattern.Stages, seed uint64) (float64, error) {
		// +0.1 pp per MSA, seeds ±1 pp apart.
		return 0.9 + 0.001*float64(p.MSAs()) + 0.01*float64(seed%2), nil
	}
	res, err := Run(context.Background(), pattern.Stages{"C", "CC", "CC", "CCCC"}, noisy, Options{Seeds: []uint64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Final != "C,CC,CC,CCCC" {
		t.Errorf("final %s; gains of 0.1 pp within ±0.5 pp of noise should not be kept", res.Final)
	}
	// Every stage is tried once, from the end; stage 1 has no free block.
	if len(res.Trials) != 4 {
		t.Errorf("%d trials, want 4 (the baseline and the ends of stages 4, 3, 2)", len(res.Trials))
	}
	// With a margin of 0.05 standard errors the same gains are kept.
	res, err = Run(context.Background(), pattern.Stages{"C", "CC", "CC", "CCCC"}, noisy, Options{Seeds: []uint64{0, 1}, Z: 0.05, MaxTrials: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Final != "C,CC,CC,CMCM" || len(res.Trials) != 3 {
		t.Errorf("Z 0.05, 2 trials: final %s after %d trials", res.Final, len(res.Trials)-1)
	}
}

// TestRunResumes: a run stopped by an error resumes from its journal and
// scores only what is missing; the result equals an uninterrupted run's.
func TestRunResumes(t *testing.T) {
	start := pattern.Stages{"C", "CC", "CC", "CCCC"}
	whole, err := Run(context.Background(), start, paperLike, Options{Seeds: []uint64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	opt := Options{Seeds: []uint64{0, 1}, Journal: path, Settings: map[string]string{"budget": "tiny"}}
	calls := 0
	boom := errors.New("killed")
	failing := func(ctx context.Context, p pattern.Stages, seed uint64) (float64, error) {
		if calls == 5 {
			return 0, boom
		}
		calls++
		return paperLike(ctx, p, seed)
	}
	if _, err := Run(context.Background(), start, failing, opt); !errors.Is(err, boom) {
		t.Fatalf("first run: %v, want the evaluator's error", err)
	}
	calls = 0
	counting := func(ctx context.Context, p pattern.Stages, seed uint64) (float64, error) {
		calls++
		return paperLike(ctx, p, seed)
	}
	res, err := Run(context.Background(), start, counting, opt)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 10-5 {
		t.Errorf("the resumed run trained %d times, want 5 (10 scores, 5 journaled)", calls)
	}
	if !reflect.DeepEqual(res, whole) {
		t.Errorf("resumed result %+v differs from the uninterrupted %+v", res, whole)
	}
	calls = 0
	if _, err := Run(context.Background(), start, counting, opt); err != nil || calls != 0 {
		t.Errorf("a finished run trained %d more times (%v)", calls, err)
	}
	opt.Settings = map[string]string{"budget": "full"}
	if _, err := Run(context.Background(), start, counting, opt); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("a journal of other settings: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	start := pattern.Stages{"C", "CC"}
	for _, c := range []struct {
		opt     Options
		errPart string
	}{
		{Options{Seeds: []uint64{0}}, "two seeds"},
		{Options{Seeds: []uint64{1, 1}}, "twice"},
		{Options{Seeds: []uint64{0, 1}, Z: -1}, "margin"},
		{Options{Seeds: []uint64{0, 1}, MinStage: 2}, "first stage"},
	} {
		if _, err := Run(context.Background(), start, paperLike, c.opt); err == nil || !strings.Contains(err.Error(), c.errPart) {
			t.Errorf("%+v: %v, want an error saying %q", c.opt, err, c.errPart)
		}
	}
	bad := func(context.Context, pattern.Stages, uint64) (float64, error) { return 1.5, nil }
	if _, err := Run(context.Background(), start, bad, Options{Seeds: []uint64{0, 1}}); err == nil || !strings.Contains(err.Error(), "not in [0, 1]") {
		t.Errorf("an accuracy of 1.5: %v", err)
	}
}

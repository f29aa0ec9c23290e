package buildup

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/models/pattern"
)

// Evaluator trains the network with block pattern p from seed and returns
// its validation accuracy in [0, 1].
type Evaluator func(ctx context.Context, p pattern.Stages, seed uint64) (float64, error)

// Options configure Run.
type Options struct {
	// Seeds are the seeds every pattern is scored with; at least two, to
	// measure the seed-to-seed noise.
	Seeds []uint64
	// Z is the margin, in standard errors of the difference of mean
	// accuracies, a candidate must beat the current pattern by (0: 1).
	Z float64
	// MinStage is the earliest stage (counted from 0) that may receive an
	// MSA block.
	MinStage int
	// MaxTrials caps the number of candidates scored (0: no cap).
	MaxTrials int
	// Journal is the path of the journal of scores ("" keeps none).
	Journal string
	// Settings is written into the journal's header with the options:
	// everything else that decides a score (model, data, training
	// budget), so that a journal of other settings is refused.
	Settings map[string]string
}

// Trial is one scored pattern.
type Trial struct {
	// N numbers the trials from 0 (the starting pattern).
	N       int    `json:"n"`
	Pattern string `json:"pattern"`
	// Stage and Block locate the block made an MSA block (from 0); -1 for
	// the starting pattern.
	Stage int `json:"stage"`
	Block int `json:"block"`
	MSAs  int `json:"msas"`
	// Accs are the validation accuracies, one per seed.
	Accs []float64 `json:"accs"`
	Mean float64   `json:"mean"`
	// SE is the standard error of Mean from the pooled seed-to-seed
	// standard deviation at the time of the decision.
	SE float64 `json:"se"`
	// Diff is Mean minus the current pattern's mean, DiffSE its standard
	// error; both 0 for the starting pattern.
	Diff   float64 `json:"diff"`
	DiffSE float64 `json:"diff_se"`
	// Against is the pattern the candidate was compared with.
	Against string `json:"against,omitempty"`
	Kept    bool   `json:"kept"`
	// Why says in words what decided.
	Why string `json:"why"`
}

// Result is a finished run of the rule.
type Result struct {
	Start  string  `json:"start"`
	Trials []Trial `json:"trials"`
	// Final is the pattern the rule arrives at, FinalMean its mean
	// validation accuracy.
	Final     string  `json:"final"`
	FinalMean float64 `json:"final_mean"`
	// PooledSD is the seed-to-seed standard deviation pooled over every
	// trial.
	PooledSD float64  `json:"pooled_sd"`
	Z        float64  `json:"z"`
	Seeds    []uint64 `json:"seeds"`
}

// NextSlot returns the block of stage s that the rule makes an MSA block
// next: the last C block that is not the stage's first and has no M block
// on either side; -1 when there is none.
func NextSlot(p pattern.Stages, s int) int {
	st := p[s]
	for b := len(st) - 1; b >= 1; b-- {
		if st[b] != pattern.Conv {
			continue
		}
		if st[b-1] == pattern.MSA || (b+1 < len(st) && st[b+1] == pattern.MSA) {
			continue
		}
		return b
	}
	return -1
}

type header struct {
	Kind     string            `json:"kind"`
	Version  int               `json:"version"`
	Start    string            `json:"start"`
	Seeds    []uint64          `json:"seeds"`
	Settings map[string]string `json:"settings,omitempty"`
}

type record struct {
	Pattern string  `json:"pattern"`
	Seed    uint64  `json:"seed"`
	Acc     float64 `json:"acc"`
}

// scorer scores patterns, from the journal when it holds them.
type scorer struct {
	eval  Evaluator
	seeds []uint64
	done  map[string]float64
	j     *journal.Writer
	all   [][]float64 // the scores of every pattern scored, for the pooled SD
}

func key(p string, seed uint64) string { return fmt.Sprintf("%s/%d", p, seed) }

func (s *scorer) score(ctx context.Context, p pattern.Stages) ([]float64, error) {
	accs := make([]float64, len(s.seeds))
	for i, seed := range s.seeds {
		if a, ok := s.done[key(p.String(), seed)]; ok {
			accs[i] = a
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := s.eval(ctx, p, seed)
		if err != nil {
			return nil, fmt.Errorf("buildup: %s, seed %d: %w", p, seed, err)
		}
		if math.IsNaN(a) || a < 0 || a > 1 {
			return nil, fmt.Errorf("buildup: %s, seed %d: accuracy %v is not in [0, 1]", p, seed, a)
		}
		if s.j != nil {
			if err := s.j.Append(record{Pattern: p.String(), Seed: seed, Acc: a}); err != nil {
				return nil, err
			}
		}
		s.done[key(p.String(), seed)] = a
		accs[i] = a
	}
	s.all = append(s.all, accs)
	return accs, nil
}

// pooledSD is the standard deviation over seeds pooled over every pattern
// scored: sqrt(Σ_i Σ_k (a_ik − mean_i)² / Σ_i (n_i − 1)).
func pooledSD(all [][]float64) float64 {
	var ss float64
	df := 0
	for _, a := range all {
		m := mean(a)
		for _, x := range a {
			ss += (x - m) * (x - m)
		}
		df += len(a) - 1
	}
	if df == 0 {
		return math.NaN()
	}
	return math.Sqrt(ss / float64(df))
}

func mean(a []float64) float64 {
	var s float64
	for _, x := range a {
		s += x
	}
	return s / float64(len(a))
}

// Run applies the rule from the pattern start (usually all C blocks) and
// returns every trial and the pattern it arrives at.
func Run(ctx context.Context, start pattern.Stages, eval Evaluator, opt Options) (*Result, error) {
	if err := start.Validate(); err != nil {
		return nil, err
	}
	if len(opt.Seeds) < 2 {
		return nil, errors.New("buildup: at least two seeds are needed to measure the seed-to-seed noise")
	}
	seen := map[uint64]bool{}
	for _, s := range opt.Seeds {
		if seen[s] {
			return nil, fmt.Errorf("buildup: seed %d given twice", s)
		}
		seen[s] = true
	}
	z := opt.Z
	if z == 0 {
		z = 1
	}
	if z < 0 || math.IsNaN(z) || math.IsInf(z, 0) {
		return nil, fmt.Errorf("buildup: margin Z = %v, want a positive number of standard errors", opt.Z)
	}
	if opt.MinStage < 0 || opt.MinStage >= len(start) {
		return nil, fmt.Errorf("buildup: first stage %d outside the %d stages", opt.MinStage, len(start))
	}
	sc := &scorer{eval: eval, seeds: opt.Seeds, done: map[string]float64{}}
	if opt.Journal != "" {
		hdr := header{Kind: "vitprobe-buildup", Version: 1, Start: start.String(), Seeds: opt.Seeds, Settings: opt.Settings}
		j, recs, err := journal.Open[record](opt.Journal, hdr)
		if err != nil {
			return nil, err
		}
		defer func() { _ = j.Close() }() // every record is synced when appended
		for _, r := range recs {
			sc.done[key(r.Pattern, r.Seed)] = r.Acc
		}
		sc.j = j
	}
	n := float64(len(opt.Seeds))
	res := &Result{Start: start.String(), Z: z, Seeds: slices.Clone(opt.Seeds)}
	cur := start.Clone()
	accs, err := sc.score(ctx, cur)
	if err != nil {
		return nil, err
	}
	curMean := mean(accs)
	res.Trials = append(res.Trials, Trial{N: 0, Pattern: cur.String(), Stage: -1, Block: -1, MSAs: cur.MSAs(), Accs: accs,
		Mean: curMean, SE: math.NaN(), Kept: true, Why: "starting pattern"})
	for stage := len(cur) - 1; stage >= opt.MinStage; {
		if opt.MaxTrials > 0 && len(res.Trials)-1 >= opt.MaxTrials {
			break
		}
		b := NextSlot(cur, stage)
		if b < 0 {
			stage--
			continue
		}
		cand, err := cur.Replace(stage, b)
		if err != nil {
			return nil, err
		}
		accs, err := sc.score(ctx, cand)
		if err != nil {
			return nil, err
		}
		sd := pooledSD(sc.all)
		t := Trial{N: len(res.Trials), Pattern: cand.String(), Stage: stage, Block: b, MSAs: cand.MSAs(), Accs: accs,
			Mean: mean(accs), SE: sd / math.Sqrt(n), Against: cur.String()}
		t.Diff, t.DiffSE = t.Mean-curMean, sd*math.Sqrt(2/n)
		if t.Diff > z*t.DiffSE {
			t.Kept = true
			t.Why = fmt.Sprintf("%+.2f pp > %.3g × %.2f pp: kept; the same stage next", 100*t.Diff, z, 100*t.DiffSE)
			cur, curMean = cand, t.Mean
		} else {
			t.Why = fmt.Sprintf("%+.2f pp ≤ %.3g × %.2f pp: not kept; the end of stage %d next", 100*t.Diff, z, 100*t.DiffSE, stage)
			stage--
		}
		res.Trials = append(res.Trials, t)
	}
	res.Final, res.FinalMean, res.PooledSD = cur.String(), curMean, pooledSD(sc.all)
	// The baseline's SE is known only now that every trial is in.
	res.Trials[0].SE = res.PooledSD / math.Sqrt(n)
	return res, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/internal/progress"
)

// evalModel evaluates one checkpoint: its shard of the conditions (then
// the result is nil), or all of them, reusing the shards' journals.
func (c *config) evalModel(ctx context.Context, ck *ckptarg.Checkpoint, ds *data.Dataset, dataset string, dev gotch.Device, stderr io.Writer) (*analysis.CorruptionResult, error) {
	m, err := ck.Load(dev)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var bar *progress.Bar
	defer func() {
		if bar != nil {
			bar.Finish("")
		}
	}()
	base := filepath.Join(c.Out, "journals", ckptarg.FileName(ck.Name))
	opt := analysis.CorruptionOptions{Corruptions: c.conds, Seed: c.seed, Batch: c.Batch, Workers: c.workers, Inputs: ck.Inputs(dataset),
		Journal: base + ".jsonl",
		Progress: func(done, total int) {
			if bar == nil {
				bar = progress.New(stderr, ck.Name, "passes", total, 0)
			}
			bar.Add(1, "")
		}}
	idx := ds.Indices()[:c.Images]
	if c.shard.Count > 1 {
		opt.Journal = fmt.Sprintf("%s.shard-%d-of-%d.jsonl", base, c.shard.Index, c.shard.Count)
		return nil, analysis.CorruptionShard(ctx, m, ds, idx, opt, c.shard)
	}
	if opt.OtherJournals, err = filepath.Glob(base + ".shard-*-of-*.jsonl"); err != nil {
		return nil, err
	}
	return analysis.CorruptionRobustness(ctx, m, ds, idx, opt)
}

package jobs

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"

	"github.com/sugarme/gotch"
	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// BlocksOptions are the settings of a Blocks job: everything that decides
// its numbers (results.BlocksSettings records them).
type BlocksOptions struct {
	// Curvature is the matrix: "hessian" (or ""), "ggn" or "fisher"
	// (analysis.ParseCurvature).
	Curvature string
	// Batches minibatches of BatchSize training examples, drawn with Seed;
	// the top K eigenvalues of each block's matrix on each.
	Batches, BatchSize, K int
	Seed                  uint64
	// TraceProducts is the number of Hutch++ products of each block's
	// trace per minibatch; 0: no trace.
	TraceProducts int
	// SLQSteps, when positive, adds each block's eigenvalue density per
	// minibatch: stochastic Lanczos quadrature with one start vector and
	// this many steps.
	SLQSteps int
	// Params, when not empty, keeps only the blocks whose names match
	// this regular expression (analysis.SelectGroups).
	Params string
	// WeightDecay is the L2 coefficient added to the loss (wd on every
	// eigenvalue); nil takes each checkpoint's training weight decay.
	WeightDecay *float64
	// Dataset overrides the data set each checkpoint was trained on.
	Dataset string
}

// Validate checks the options, as *errs.OptionError naming the flag.
func (o BlocksOptions) Validate() error {
	switch {
	case o.Batches < 1:
		return errs.Optionf("--batches %d: want at least 1", o.Batches)
	case o.BatchSize < 1:
		return errs.Optionf("--batch-size %d: want at least 1", o.BatchSize)
	case o.K < 1:
		return errs.Optionf("--k %d: want at least 1", o.K)
	case o.TraceProducts < 0 || (o.TraceProducts > 0 && o.TraceProducts < 4):
		return errs.Optionf("--trace-products %d: want 0 (no trace) or at least 4 (Hutch++: a sketch vector and two samples)", o.TraceProducts)
	case o.SLQSteps < 0:
		return errs.Optionf("--slq-steps %d: want at least 1", o.SLQSteps)
	case o.WeightDecay != nil && (math.IsNaN(*o.WeightDecay) || math.IsInf(*o.WeightDecay, 0) || *o.WeightDecay < 0):
		return errs.Optionf("--wd %v: want a finite number >= 0", *o.WeightDecay)
	}
	if _, err := analysis.ParseCurvature(o.Curvature); err != nil && o.Curvature != "" {
		return errs.Optionf("--curvature %q: want hessian, ggn or fisher", o.Curvature)
	}
	if o.Params != "" {
		if _, err := regexp.Compile(o.Params); err != nil {
			return errs.Optionf("--params %q: %v", o.Params, err)
		}
	}
	return nil
}

// Blocks computes the per-block curvature spectra of checkpoints: for
// every block of each model (analysis.BlockGroups, or those --params
// selects) and every minibatch, the top eigenvalues, the Hutch++ trace
// and on request the SLQ density of the block's curvature matrix
// (analysis.BlockSpectrumBatch), and per block kind NEP and APE
// (analysis.SummarizeKinds). Outputs in Env.Out: blocks.json
// (results.Blocks, written last), blocks.csv, blocks.png and the
// journals.
type Blocks struct {
	Env
	// NoResume refuses to touch an existing journal instead of resuming
	// it.
	NoResume bool
	// Workers computes that many (block, minibatch) items at once, each
	// on a copy of the model on an OS thread of its own with one libtorch
	// thread (analysis.OnWorkers; 0 or 1: one at a time at the process's
	// thread count; on a GPU always one at a time). The results reach the
	// journal in item order, and an item's numbers do not depend on
	// Workers, only, in the last bits, on the thread count it ran with.
	Workers int
}

// blocksJournals names the Blocks job's journals (apart from the Hessian
// job's, so both can share a folder).
var blocksJournals = journal.Names{Single: "blocks-journal.jsonl", Shard: "blocks-journal-shard-%d-of-%d.jsonl"}

// blocksJob describes the Blocks job's journals for finishing and merging.
var blocksJob = journaledJob{tool: "blocks", what: "the blocks job", header: results.BlocksTool, format: results.BlocksFormat, names: blocksJournals}

// blocksRecord is one journal line: one block's estimates on one
// minibatch.
type blocksRecord struct {
	Ckpt  int                `json:"ckpt"`
	Block string             `json:"block"`
	Batch results.BlockBatch `json:"batch"`
}

func (r blocksRecord) key() string { return blockKey(r.Ckpt, r.Block, r.Batch.Batch) }

func blockKey(ckpt int, block string, b int) string { return fmt.Sprintf("%d/%s/%d", ckpt, block, b) }

// blocksInput is a checkpoint ready to be worked on.
type blocksInput struct {
	*hessianInput
	groups []analysis.ParamGroup
}

// blocksSolver is the eigenvalue solver of every block, as the settings
// describe it.
const blocksSolver = "lanczos, eigenvalue rule, tol 1e-4, guard 1 (analysis.FastLanczos)"

// Journal returns the journal of this job's shard in Env.Out.
func (j *Blocks) Journal() string { return blocksJournals.Path(j.Out, j.shard()) }

// Run computes the per-block spectra of the checkpoints refs name. It
// checks every checkpoint, data set and the block selection before any
// work, resumes from the journal in Env.Out, and writes the outputs
// (returning blocks.json's content) unless it is one shard of a sharded
// run: then it returns nil, and Merge writes them once every shard is
// done. Cancelling ctx stops it at the next matrix-vector product with an
// error for which Interrupted is true; the finished (block, minibatch)
// pairs are in the journal.
func (j *Blocks) Run(ctx context.Context, refs []meta.Ref, opt BlocksOptions) (*results.Blocks, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	inputs, hdr, err := j.prepare(refs, opt)
	if err != nil {
		return nil, err
	}
	if err := checkBlocksMemory(hdr, j.workers(), memAvailable); err != nil {
		return nil, err
	}
	if err := prepareOut(j.Out); err != nil {
		return nil, err
	}
	jpath := j.Journal()
	if j.NoResume {
		if _, err := os.Stat(jpath); err == nil {
			return nil, errs.Optionf("--resume=false: %s already exists; remove it or choose another --out", jpath)
		}
	}
	jw, done, err := journal.Open[blocksRecord](jpath, hdr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = jw.Close() }()
	have := map[string]bool{}
	for _, r := range done {
		have[r.key()] = true
	}
	if err := j.work(ctx, hdr, inputs, jw, have); err != nil {
		return nil, err
	}
	if err := jw.Close(); err != nil {
		return nil, err
	}
	if j.sharded() {
		return nil, nil
	}
	recs, p, err := finishRun[blocksRecord](&j.Env, blocksJob, jpath, hdr, hdr.Seed, inputs)
	if err != nil {
		return nil, err
	}
	return writeBlocks(j.Out, hdr, recs, p)
}

// Merge combines the shard journals of a sharded run in dir (or the
// journals given) into the outputs of a single run, number for number,
// written into dir.
func (j *Blocks) Merge(dir string, journals ...string) (*results.Blocks, error) {
	var hdr results.BlocksSettings
	recs, p, err := mergeShards[blocksRecord](&j.Env, blocksJob, dir, journals, &hdr,
		func() (string, int, uint64) { return hdr.Tool, hdr.Format, hdr.Seed })
	if err != nil {
		return nil, err
	}
	return writeBlocks(dir, hdr, recs, p)
}

// prepare reads and checks every checkpoint, its data and its blocks
// before any work, and returns them with the run's settings.
func (j *Blocks) prepare(refs []meta.Ref, o BlocksOptions) ([]*blocksInput, results.BlocksSettings, error) {
	c, _ := analysis.ParseCurvature(o.Curvature)
	hdr := results.BlocksSettings{Tool: results.BlocksTool, Format: results.BlocksFormat, Curvature: c.String(),
		Batches: o.Batches, BatchSize: o.BatchSize, K: o.K, Solver: blocksSolver, Seed: o.Seed,
		TraceProducts: o.TraceProducts, SLQSteps: o.SLQSteps, Params: o.Params}
	rs, err := resolve(refs)
	if err != nil {
		return nil, hdr, err
	}
	sets := &datasets{dir: j.DataDir}
	ho := HessianOptions{Batches: o.Batches, BatchSize: o.BatchSize, K: 1, Seed: o.Seed, WeightDecay: o.WeightDecay,
		Dataset: o.Dataset}
	inputs := make([]*blocksInput, len(rs))
	for i, r := range rs {
		hin, err := hessianCheckpoint(r, ho, sets)
		if err != nil {
			return nil, hdr, err
		}
		if err := checkTorchScript(r, j.Device, hin.d, true); err != nil {
			return nil, hdr, err
		}
		in := &blocksInput{hessianInput: hin}
		if in.groups, err = j.blocksOf(in, o.Params); err != nil {
			return nil, hdr, err
		}
		ck := results.BlocksCheckpoint{HessianCheckpoint: hin.hdr}
		for _, g := range in.groups {
			ck.Blocks = append(ck.Blocks, g.Info())
		}
		hdr.Checkpoints = append(hdr.Checkpoints, ck)
		inputs[i] = in
	}
	return inputs, hdr, nil
}

// blocksOf loads a checkpoint's model and returns its blocks, those whose
// names match pattern if it is not empty.
func (j *Blocks) blocksOf(in *blocksInput, pattern string) ([]analysis.ParamGroup, error) {
	m, _, err := models.Load(in.path, j.Device)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	groups, err := analysis.BlockGroups(m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", in.path, err)
	}
	if pattern == "" {
		return groups, nil
	}
	if groups, err = analysis.SelectGroups(groups, pattern); err != nil {
		return nil, &errs.OptionError{Err: fmt.Errorf("--params: %s: %w", in.hdr.Label, err)}
	}
	return groups, nil
}

// workers is the number of (block, minibatch) items computed at once:
// Workers on the CPU, one otherwise.
func (j *Blocks) workers() int {
	if j.Workers > 1 && j.Device == gotch.CPU {
		return j.Workers
	}
	return 1
}

// blockItem is one piece of work: block g of checkpoint ci on minibatch b.
type blockItem struct {
	ci, g, b int
}

// items returns the work of this shard that the journal lacks, per
// checkpoint, and counts this shard's work and what the journal holds of
// it. The work is numbered checkpoint by checkpoint, block by block,
// minibatch by minibatch; shard i of n owns the items whose number is i
// mod n.
func (j *Blocks) items(hdr results.BlocksSettings, have map[string]bool) (todo [][]blockItem, owned, skipped int) {
	sh := j.shard()
	todo = make([][]blockItem, len(hdr.Checkpoints))
	n := 0
	for ci, ck := range hdr.Checkpoints {
		for g, info := range ck.Blocks {
			for b := range hdr.Batches {
				if sh.Owns(n) {
					owned++
					if have[blockKey(ci, info.Name, b)] {
						skipped++
					} else {
						todo[ci] = append(todo[ci], blockItem{ci, g, b})
					}
				}
				n++
			}
		}
	}
	return todo, owned, skipped
}

// work computes this shard's items that the journal lacks, journaling
// each as it finishes.
func (j *Blocks) work(ctx context.Context, hdr results.BlocksSettings, inputs []*blocksInput, jw *journal.Writer,
	have map[string]bool) error {
	todo, owned, skipped := j.items(hdr, have)
	log := j.log()
	if skipped > 0 {
		fmt.Fprintf(log, "blocks: resuming from %s: %d of %d block minibatches already done\n", jw.Path(), skipped, owned)
	}
	bar := progress.New(log, "blocks", "block minibatches", owned, skipped)
	for ci, items := range todo {
		if len(items) == 0 {
			continue
		}
		if err := j.checkpoint(ctx, hdr, inputs[ci], items, jw, bar); err != nil {
			bar.Finish("stopped")
			if Interrupted(err) {
				fmt.Fprintf(log, "blocks: interrupted; finished work is in %s: run the same command again to resume\n", jw.Path())
			}
			return err
		}
	}
	bar.Finish("done")
	return nil
}

// checkpoint computes the given items of one checkpoint.
func (j *Blocks) checkpoint(ctx context.Context, hdr results.BlocksSettings, in *blocksInput, items []blockItem,
	jw *journal.Writer, bar *progress.Bar) error {
	m, ck, err := models.Load(in.path, j.Device)
	if err != nil {
		return err
	}
	defer m.Close()
	label := in.hdr.Label
	if ck.WeightsSHA256 != in.hdr.WeightsSHA256 {
		return fmt.Errorf("checkpoint %s changed while the run was being prepared", in.path)
	}
	mb, err := analysis.NewMinibatches(in.d, in.pool, hdr.BatchSize, hdr.Batches, hdr.Seed, in.hdr.Augment)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	c, err := analysis.ParseCurvature(hdr.Curvature)
	if err != nil {
		return err
	}
	opt := &analysis.BlockSpectrumOptions{Curvature: c, K: hdr.K, Solver: analysis.FastLanczos(), TraceProducts: -1,
		Seed: hdr.Seed, WeightDecay: in.hdr.WeightDecay}
	if hdr.TraceProducts > 0 {
		opt.TraceProducts = hdr.TraceProducts
	}
	if hdr.SLQSteps > 0 {
		opt.Density = &hessian.SLQSettings{Steps: hdr.SLQSteps, Vectors: 1}
	}
	record := func(i int, r *analysis.BlockBatch) error {
		it := items[i]
		g := in.groups[it.g]
		if err := jw.Append(blocksRecord{Ckpt: it.ci, Block: g.Name, Batch: r.Result()}); err != nil {
			return err
		}
		bar.Add(1, fmt.Sprintf("%s %s batch %d: top %s", label, g.Name, it.b, FormatValue(r.Values[0])))
		return nil
	}
	compute := func(ctx context.Context, m models.Model) func(i int) (*analysis.BlockBatch, error) {
		return func(i int) (r *analysis.BlockBatch, err error) {
			it := items[i]
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("%s: block %s, batch %d: panic: %v", label, in.groups[it.g].Name, it.b, p)
				}
			}()
			if r, err = analysis.BlockSpectrumBatch(ctx, m, mb, in.groups[it.g], it.b, opt); err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
			return r, nil
		}
	}
	// Even for one item: a resumed or sharded run's last pair then runs on
	// one thread as the others did, and gets the same bits.
	if w := j.workers(); w > 1 {
		return analysis.OnWorkers(ctx, m, analysis.WorkerOptions{Workers: w, ThreadsPerWorker: 1}, len(items), compute, record)
	}
	one := compute(ctx, m)
	for i := range items {
		r, err := one(i)
		if err != nil {
			return err
		}
		if err := record(i, r); err != nil {
			return err
		}
	}
	return nil
}

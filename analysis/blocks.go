package analysis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
)

// BlockSpectrumOptions configures BlockSpectra. The zero value, or a nil
// pointer, computes the top 5 eigenvalues and a Hutch++ trace of 30
// products of each block's Hessian on each minibatch, no L2 term.
type BlockSpectrumOptions struct {
	// Curvature selects the matrix: the Hessian (the zero value), the GGN
	// or the empirical Fisher.
	Curvature Curvature
	// K is the number of top eigenvalues per block and batch; 0 means 5.
	// It is capped at the block's size.
	K int
	// Solver computes them; nil means Lanczos with the eigenvalue
	// stopping rule at Tol 1e-4 and bound residuals (FastLanczos).
	Solver hessian.Solver
	// TraceProducts is the number of Hutch++ products of each block's
	// trace per batch; 0 means 30, negative means no trace.
	TraceProducts int
	// Density, when not nil, adds a stochastic Lanczos quadrature of
	// each block's eigenvalue density per batch with these settings
	// (its Seed replaced as for the other estimates).
	Density *hessian.SLQSettings
	// Seed is the base seed: block g on batch b uses
	// hessian.BatchSeed(Seed ^ hash(g.Name), b).
	Seed uint64
	// WeightDecay is the L2 coefficient (HessianOptions.WeightDecay).
	WeightDecay float64
	// ForwardMode selects forward-mode J v for the GGN and the Fisher.
	ForwardMode bool
}

// FastLanczos is the solver BlockSpectra uses by default: Lanczos with the
// eigenvalue stopping rule at relative accuracy 1e-4, one guard pair and
// the residual bounds as residuals, measured to reach the top 5 of the
// trained minis' minibatch Hessians to 1e-4 with several times fewer
// products than power iteration (docs/benchmarks.md).
func FastLanczos() *hessian.LanczosSettings {
	return &hessian.LanczosSettings{Stop: hessian.StopEigenvalue, Tol: 1e-4, Guard: 1, BoundResiduals: true}
}

// BlockBatch is one block's curvature on one minibatch.
type BlockBatch struct {
	// Batch is the minibatch index.
	Batch int
	// Values are the top eigenvalues (by the solver's criterion),
	// Residuals their residuals and Converged whether all met the
	// solver's rule.
	Values, Residuals []float64
	Converged         bool
	// Trace is the Hutch++ estimate of the block's trace; nil without.
	Trace *hessian.Trace
	// Density is the block's SLQ quadrature; nil without.
	Density *hessian.Quadrature
	// Loss is the batch's loss; Products the operator products spent.
	Loss     float64
	Products int
}

// BlockSpectrum is one block's curvature over the minibatches.
type BlockSpectrum struct {
	Group   ParamGroup
	Batches []BlockBatch
}

// Values returns the top eigenvalues of every batch, pooled.
func (b BlockSpectrum) Values() []float64 {
	var out []float64
	for _, r := range b.Batches {
		out = append(out, r.Values...)
	}
	return out
}

// Summary summarises the pooled top eigenvalues (NEP, APE, quantiles).
func (b BlockSpectrum) Summary() (hessian.Summary, error) {
	return hessian.Summarize(b.Values())
}

// Trace returns the mean over batches of the block's trace estimates and
// its standard error: the spread of the per-batch estimates over sqrt of
// their number with two batches or more, which includes the batches'
// own variation, else the single estimate's standard error. ok is false
// without trace estimates.
func (b BlockSpectrum) Trace() (mean, stderr float64, ok bool) {
	var xs []float64
	var se float64
	for _, r := range b.Batches {
		if r.Trace != nil {
			xs = append(xs, r.Trace.Mean)
			se = r.Trace.StdErr
		}
	}
	switch len(xs) {
	case 0:
		return 0, 0, false
	case 1:
		return xs[0], se, true
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	n := float64(len(xs))
	return mean, math.Sqrt(ss / (n - 1) / n), true
}

// BlockSpectra computes, for every group (BlockGroups for every block of
// the model, or groups chosen by pattern) and every minibatch of mb, the
// top eigenvalues, the trace and, if asked, the density of the curvature
// matrix restricted to the group's parameters (HessianOptions.Params: the
// operator differentiates with respect to them alone, every other
// parameter fixed). Groups are done one after the other; done, if not
// nil, receives each group's result as soon as it is complete (to journal
// it). Cancelling ctx stops the run at the next product. Errors name the
// group and the batch.
//
// The per-block top eigenvalues are those of the principal submatrix of
// the full matrix on the block's coordinates: they interlace with, and
// are not, the full matrix's eigenvalues, and their negative ones show
// non-convexity within the block alone.
func BlockSpectra(ctx context.Context, m models.Model, mb *Minibatches, groups []ParamGroup, o *BlockSpectrumOptions,
	done func(BlockSpectrum) error) ([]BlockSpectrum, error) {
	if m == nil || mb == nil || len(groups) == 0 {
		return nil, errors.New("analysis: BlockSpectra needs a model, minibatches and groups")
	}
	opt, err := blockDefaults(o)
	if err != nil {
		return nil, err
	}
	var out []BlockSpectrum
	for _, g := range groups {
		res := BlockSpectrum{Group: g}
		for b := range mb.Len() {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("analysis: stopped before %s, batch %d: %w", g.Name, b, err)
			}
			r, err := blockBatch(ctx, m, mb, g, b, &opt)
			if err != nil {
				return out, fmt.Errorf("analysis: block %s, batch %d: %w", g.Name, b, err)
			}
			res.Batches = append(res.Batches, *r)
		}
		out = append(out, res)
		if done != nil {
			if err := done(res); err != nil {
				return out, fmt.Errorf("analysis: block %s: done: %w", g.Name, err)
			}
		}
	}
	return out, nil
}

// BlockSpectrumBatch computes group g's estimates on minibatch b of mb
// alone, with the same seeds and so the same numbers as BlockSpectra's
// batch b of g: the unit of work of a job that journals each (block,
// batch) as it finishes and resumes or shards at that grain.
func BlockSpectrumBatch(ctx context.Context, m models.Model, mb *Minibatches, g ParamGroup, b int,
	o *BlockSpectrumOptions) (*BlockBatch, error) {
	if m == nil || mb == nil {
		return nil, errors.New("analysis: BlockSpectrumBatch needs a model and minibatches")
	}
	if b < 0 || b >= mb.Len() {
		return nil, fmt.Errorf("analysis: block %s: batch %d of %d", g.Name, b, mb.Len())
	}
	opt, err := blockDefaults(o)
	if err != nil {
		return nil, err
	}
	r, err := blockBatch(ctx, m, mb, g, b, &opt)
	if err != nil {
		return nil, fmt.Errorf("analysis: block %s, batch %d: %w", g.Name, b, err)
	}
	return r, nil
}

// blockDefaults returns o with its defaults filled in.
func blockDefaults(o *BlockSpectrumOptions) (BlockSpectrumOptions, error) {
	var opt BlockSpectrumOptions
	if o != nil {
		opt = *o
	}
	k, err := positiveOr(opt.K, 5, "K")
	if err != nil {
		return opt, err
	}
	opt.K = k
	if opt.TraceProducts == 0 {
		opt.TraceProducts = 30
	}
	if opt.Solver == nil {
		opt.Solver = FastLanczos()
	}
	return opt, nil
}

// blockBatch computes one group's estimates on one batch.
// Block g on batch b uses hessian.BatchSeed(Seed ^ hash(g.Name), b); opt
// has its defaults filled in.
func blockBatch(ctx context.Context, m models.Model, mb *Minibatches, g ParamGroup, b int, opt *BlockSpectrumOptions) (*BlockBatch, error) {
	k, traceProducts := min(opt.K, g.Size), opt.TraceProducts
	seed := hessian.BatchSeed(opt.Seed^nameHash(g.Name), b)
	batch, err := mb.Batch(b)
	if err != nil {
		return nil, err
	}
	op, err := NewCurvature(opt.Curvature, m, batch, &CurvatureOptions{
		HessianOptions: HessianOptions{WeightDecay: opt.WeightDecay, Label: fmt.Sprintf("batch %d", b), Params: g.Params},
		ForwardMode:    opt.ForwardMode,
	})
	batch.Close()
	if err != nil {
		return nil, err
	}
	defer op.Close()
	cop := WithContext(ctx, op)
	e, err := opt.Solver.TopK(cop, k, seed)
	if err != nil {
		return nil, err
	}
	r := &BlockBatch{Batch: b, Values: e.Values, Residuals: e.Residuals, Converged: !slices.Contains(e.Converged, false), Loss: op.Loss()}
	if traceProducts > 0 {
		if r.Trace, err = hessian.HutchPlusPlus(cop, &hessian.HutchPPSettings{Products: traceProducts, Seed: seed}); err != nil {
			return nil, err
		}
	}
	if opt.Density != nil {
		set := *opt.Density
		set.Seed = seed
		if r.Density, err = hessian.SLQ(cop, &set); err != nil {
			return nil, err
		}
	}
	r.Products = op.Products()
	return r, nil
}

// positiveOr returns v, or def for 0; negative v is an error.
func positiveOr(v, def int, name string) (int, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("analysis: %s = %d must be non-negative", name, v)
	case v == 0:
		return def, nil
	}
	return v, nil
}

// nameHash is the FNV-1a hash of a group's name, which separates the
// seeds of groups.
func nameHash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// KindSummary pools the top eigenvalues of every block of one kind: the
// paper's NEP and APE per block kind.
type KindSummary struct {
	Kind models.LayerKind
	// Blocks is the number of blocks of the kind.
	Blocks int
	hessian.Summary
}

// SummarizeKinds returns the KindSummary of every kind present in bs, in
// the order of models.LayerKind.
func SummarizeKinds(bs []BlockSpectrum) ([]KindSummary, error) {
	values := map[models.LayerKind][]float64{}
	blocks := map[models.LayerKind]int{}
	for _, b := range bs {
		values[b.Group.Kind] = append(values[b.Group.Kind], b.Values()...)
		blocks[b.Group.Kind]++
	}
	var out []KindSummary
	for k := models.KindStem; k <= models.KindHead; k++ {
		if blocks[k] == 0 {
			continue
		}
		s, err := hessian.Summarize(values[k])
		if err != nil {
			return nil, fmt.Errorf("analysis: %v blocks: %w", k, err)
		}
		out = append(out, KindSummary{Kind: k, Blocks: blocks[k], Summary: s})
	}
	return out, nil
}

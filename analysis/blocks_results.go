package analysis

import (
	"fmt"

	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
)

// Conversions between the per-block estimates and their form in
// blocks.json (package results), so that a job can journal each
// (block, batch) and summarise the journal with BlockSpectrum and
// SummarizeKinds.

// Info returns the group's description as blocks.json records it.
func (g ParamGroup) Info() results.BlockInfo {
	return results.BlockInfo{Name: g.Name, Kind: g.Kind.String(), Index: g.Index, Depth: g.Depth, Size: g.Size, Params: g.Params}
}

// GroupOf is Info's inverse.
func GroupOf(info results.BlockInfo) (ParamGroup, error) {
	k, err := models.ParseLayerKind(info.Kind)
	if err != nil {
		return ParamGroup{}, fmt.Errorf("analysis: block %s: %w", info.Name, err)
	}
	return ParamGroup{Name: info.Name, Kind: k, Index: info.Index, Depth: info.Depth, Params: info.Params, Size: info.Size}, nil
}

// Result returns the batch's estimates as blocks.json records them: the
// trace as its mean and standard error, the density's nodes and weights.
func (b BlockBatch) Result() results.BlockBatch {
	r := results.BlockBatch{Batch: b.Batch, Loss: b.Loss, Values: b.Values, Residuals: b.Residuals, Converged: b.Converged,
		Products: b.Products}
	if b.Trace != nil {
		r.Trace = &results.BlockTrace{Mean: b.Trace.Mean, StdErr: b.Trace.StdErr}
	}
	if b.Density != nil {
		r.Density = &results.HessianDensity{Nodes: b.Density.Nodes, Weights: b.Density.Weights, Products: b.Density.Products}
	}
	return r
}

// BlockBatchOf is Result's inverse, up to what blocks.json does not keep
// (the trace's samples).
func BlockBatchOf(r results.BlockBatch) BlockBatch {
	b := BlockBatch{Batch: r.Batch, Loss: r.Loss, Values: r.Values, Residuals: r.Residuals, Converged: r.Converged, Products: r.Products}
	if r.Trace != nil {
		b.Trace = &hessian.Trace{Mean: r.Trace.Mean, StdErr: r.Trace.StdErr}
	}
	if r.Density != nil {
		b.Density = &hessian.Quadrature{Nodes: r.Density.Nodes, Weights: r.Density.Weights, Products: r.Density.Products}
	}
	return b
}

// Result returns the block's estimates and their summaries (Summary,
// Trace) as blocks.json records them.
func (b BlockSpectrum) Result() (results.BlockResult, error) {
	r := results.BlockResult{BlockInfo: b.Group.Info()}
	for _, bb := range b.Batches {
		r.Batches = append(r.Batches, bb.Result())
		r.Products += bb.Products
		if !bb.Converged {
			r.Unconverged++
		}
	}
	s, err := b.Summary()
	if err != nil {
		return r, fmt.Errorf("analysis: block %s: %w", b.Group.Name, err)
	}
	r.Summary = SummaryResult(s)
	if mean, se, ok := b.Trace(); ok {
		r.Trace = &results.BlockTrace{Mean: mean, StdErr: se}
	}
	return r, nil
}

// KindResults returns SummarizeKinds(bs) as blocks.json records it.
func KindResults(bs []BlockSpectrum) ([]results.BlocksKind, error) {
	ks, err := SummarizeKinds(bs)
	if err != nil {
		return nil, err
	}
	out := make([]results.BlocksKind, len(ks))
	for i, k := range ks {
		out[i] = results.BlocksKind{Kind: k.Kind.String(), Blocks: k.Blocks, HessianSummary: SummaryResult(k.Summary)}
	}
	return out, nil
}

// SummaryResult returns a summary of eigenvalues with its JSON names.
func SummaryResult(s hessian.Summary) results.HessianSummary {
	return results.HessianSummary{N: s.N, Negative: s.Negative, Positive: s.Positive, NEP: s.NEP, APE: s.APE, Min: s.Min,
		P05: s.P05, Q1: s.Q1, Median: s.Median, Q3: s.Q3, P95: s.P95, Max: s.Max, Mean: s.Mean}
}

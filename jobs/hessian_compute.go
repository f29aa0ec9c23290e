package jobs

import (
	"context"
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
)

// checkpoint does the work of one checkpoint that this shard owns and the
// journal lacks: its minibatches, then (for the shard that owns the
// checkpoint) the trace, density and top-k over the minibatches.
func (w *hessianWork) checkpoint(ctx context.Context, ci int, in *hessianInput, bar *progress.Bar) error {
	sh := w.j.shard()
	var batches []int
	for b := range w.hdr.Batches {
		if sh.Owns(b) && !w.have[batchKey(ci, b)] {
			batches = append(batches, b)
		}
	}
	todo := func(kind string, asked bool) bool {
		return asked && sh.Owns(ci) && !w.have[hessianRecord{Kind: kind, Ckpt: ci}.key()]
	}
	extras := map[string]bool{kindTrace: todo(kindTrace, w.hdr.Trace), kindDensity: todo(kindDensity, w.hdr.Density),
		kindFull: todo(kindFull, w.hdr.Full)}
	if len(batches) == 0 && !extras[kindTrace] && !extras[kindDensity] && !extras[kindFull] {
		return nil
	}
	m, ck, err := models.Load(in.path, w.j.Device)
	if err != nil {
		return err
	}
	defer m.Close()
	if ck.WeightsSHA256 != in.hdr.WeightsSHA256 {
		return fmt.Errorf("checkpoint %s changed while the run was being prepared", in.path)
	}
	mb, err := analysis.NewMinibatches(in.d, in.pool, w.hdr.BatchSize, w.hdr.Batches, w.hdr.Seed, in.hdr.Augment)
	if err != nil {
		return fmt.Errorf("%s: %w", in.hdr.Label, err)
	}
	if err := w.batches(ctx, ci, in, m, mb, batches, bar); err != nil {
		return err
	}
	if !extras[kindTrace] && !extras[kindDensity] && !extras[kindFull] {
		return nil
	}
	return w.overBatches(ctx, ci, in, m, mb, extras)
}

// batches computes the top-k eigenvalues of the given minibatches,
// journaling each as it finishes.
func (w *hessianWork) batches(ctx context.Context, ci int, in *hessianInput, m models.Model, mb *analysis.Minibatches,
	batches []int, bar *progress.Bar) error {
	if len(batches) == 0 {
		return nil
	}
	want := map[int]bool{}
	for _, b := range batches {
		want[b] = true
	}
	label := in.hdr.Label
	opt := &analysis.SpectrumOptions{K: w.hdr.K, Solver: solver(w.hdr), Seed: w.hdr.Seed, WeightDecay: in.hdr.WeightDecay,
		Skip: func(b int) bool { return !want[b] }}
	if w.j.Workers > 1 && w.j.Device == gotch.CPU {
		opt.Workers, opt.ThreadsPerWorker = w.j.Workers, 1
	}
	if w.hdr.Curvature != "" {
		c, err := analysis.ParseCurvature(w.hdr.Curvature)
		if err != nil {
			return err
		}
		opt.Curvature = c
	}
	if w.hdr.Params != "" {
		g, err := analysis.GroupByPattern(m, "", w.hdr.Params)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		opt.Params = g.Params
	}
	err := analysis.MaxEigenSpectrum(ctx, m, mb, opt, func(r analysis.BatchResult) error {
		rec := hessianRecord{Kind: kindBatch, Ckpt: ci, Batch: &results.HessianBatch{Batch: r.Batch, Loss: r.Loss, Values: r.Values,
			Residuals: r.Residuals, Converged: r.Converged, Products: r.Products}}
		if err := w.jw.Append(rec); err != nil {
			return err
		}
		w.have[rec.key()] = true
		bar.Add(1, fmt.Sprintf("%s batch %d: top %s", label, r.Batch, FormatValue(r.Values[0])))
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	return nil
}

// overBatches computes what the settings ask of the Hessian of the mean
// loss over the first FullBatches minibatches: trace, density, top-k.
func (w *hessianWork) overBatches(ctx context.Context, ci int, in *hessianInput, m models.Model, mb *analysis.Minibatches,
	want map[string]bool) error {
	label := in.hdr.Label
	var list []*torchdata.Batch
	defer func() {
		for _, b := range list {
			b.Close()
		}
	}()
	for b := range w.hdr.FullBatches {
		batch, err := mb.Batch(b)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		list = append(list, batch)
	}
	// The NLL part alone: the L2 term is added exactly where it is needed.
	hopt := analysis.HessianOptions{Label: label + ", Hessian over minibatches"}
	if w.j.Workers > 1 && w.j.Device == gotch.CPU {
		hopt.Workers = w.j.Workers // the minibatches dealt to the workers
	}
	dh, err := analysis.NewDataHessian(m, list, &analysis.DataHessianOptions{HessianOptions: hopt, Retain: w.opt.Retain})
	if err != nil {
		return err
	}
	defer dh.Close()
	f := &fullHessian{w: w, ci: ci, label: label, nll: analysis.WithContext(ctx, dh), wd: in.hdr.WeightDecay}
	for _, step := range []struct {
		kind string
		run  func() (hessianRecord, error)
	}{{kindTrace, f.trace}, {kindDensity, f.density}, {kindFull, f.topK}} {
		if !want[step.kind] {
			continue
		}
		rec, err := step.run()
		if err != nil {
			return err
		}
		if err := w.jw.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

// fullHessian is the Hessian of the mean NLL over several minibatches,
// with the L2 coefficient wd of its checkpoint.
type fullHessian struct {
	w     *hessianWork
	ci    int
	label string
	nll   hessian.Operator
	wd    float64
	bar   *progress.Bar
}

// op returns the operator of one computation, counting products on a new
// progress bar of at most most products; l2 adds the L2 term.
func (f *fullHessian) op(what string, most int, l2 bool) hessian.Operator {
	f.bar = progress.New(f.w.j.log(), fmt.Sprintf("hessian: %s: %s over %d minibatches", f.label, what, f.w.hdr.FullBatches),
		"products", most, 0)
	var op hessian.Operator = countingOp{f.nll, f.bar}
	if l2 && f.wd != 0 {
		op = shifted{op, f.wd}
	}
	return op
}

// trace estimates tr(H + wd·I) = tr(H) + wd·n exactly. Estimating tr(H)
// alone keeps the stopping rule (relative change of the running mean)
// about the unknown part: with the constant wd·n inside, which can be a
// thousand times larger, it would stop after two samples.
func (f *fullHessian) trace() (hessianRecord, error) {
	h := f.w.hdr
	t, err := hessian.Hutchinson(f.op("trace", h.TraceSamples, false),
		&hessian.TraceSettings{MaxIter: h.TraceSamples, Seed: hessian.BatchSeed(h.Seed, seedTrace)})
	if err != nil {
		return hessianRecord{}, fmt.Errorf("%s: trace: %w", f.label, err)
	}
	l2 := f.wd * float64(f.nll.Dim())
	f.bar.Finish(fmt.Sprintf("trace %s \u00b1 %s (NLL part %s)", FormatValue(t.Mean+l2), FormatValue(t.StdErr), FormatValue(t.Mean)))
	return hessianRecord{Kind: kindTrace, Ckpt: f.ci, Trace: &results.HessianTrace{Mean: t.Mean + l2, NLL: t.Mean, L2: l2,
		StdErr: t.StdErr, Samples: len(t.Values), Converged: t.Converged, Products: t.Products, Values: t.Values}}, nil
}

// density is the SLQ quadrature of the eigenvalue density.
func (f *fullHessian) density() (hessianRecord, error) {
	h := f.w.hdr
	q, err := hessian.SLQ(f.op("density", h.SLQSteps*h.SLQVectors, true),
		&hessian.SLQSettings{Steps: h.SLQSteps, Vectors: h.SLQVectors, Seed: hessian.BatchSeed(h.Seed, seedDensity)})
	if err != nil {
		return hessianRecord{}, fmt.Errorf("%s: density: %w", f.label, err)
	}
	f.bar.Finish("done")
	return hessianRecord{Kind: kindDensity, Ckpt: f.ci, Density: &results.HessianDensity{Nodes: q.Nodes, Weights: q.Weights,
		Products: q.Products}}, nil
}

// topK is the top-k eigenvalues by the run's method.
func (f *fullHessian) topK() (hessianRecord, error) {
	h := f.w.hdr
	most := h.K * max(h.MaxIter, 100)
	if h.Method == "lanczos" {
		most = h.K + max(h.MaxIter, 100, 4*h.K)
	}
	e, err := solver(h).TopK(f.op(fmt.Sprintf("top %d eigenvalues", h.K), most, true), h.K, hessian.BatchSeed(h.Seed, seedFull))
	if err != nil {
		return hessianRecord{}, fmt.Errorf("%s: top-k of the Hessian over minibatches: %w", f.label, err)
	}
	f.bar.Finish(fmt.Sprintf("top %s", FormatValue(e.Values[0])))
	conv := true
	for _, c := range e.Converged {
		conv = conv && c
	}
	return hessianRecord{Kind: kindFull, Ckpt: f.ci, Full: &results.HessianTopK{Values: e.Values, Residuals: e.Residuals,
		Converged: conv, Products: e.Products}}, nil
}

// countingOp advances a progress bar by one per product.
type countingOp struct {
	hessian.Operator
	bar *progress.Bar
}

func (c countingOp) MulVec(dst, v []float64) error {
	err := c.Operator.MulVec(dst, v)
	c.bar.Add(1, "")
	return err
}

// shifted adds wd·v to every product: the L2 term of the weight decay.
type shifted struct {
	hessian.Operator
	wd float64
}

func (s shifted) MulVec(dst, v []float64) error {
	if err := s.Operator.MulVec(dst, v); err != nil {
		return err
	}
	for i, x := range v {
		dst[i] += s.wd * x
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/train"
)

// formatVersion is the version of the journal and JSON layout.
const formatVersion = 1

// header fixes everything that determines a run's numbers. It is the
// journal's first line (a resumed or merged run must match it exactly) and
// the "settings" of hessian.json.
type header struct {
	Tool         string       `json:"tool"`
	Format       int          `json:"format"`
	Batches      int          `json:"batches"`
	BatchSize    int          `json:"batch_size"`
	K            int          `json:"k"`
	Method       string       `json:"method"`
	Tol          float64      `json:"tol"`
	MaxIter      int          `json:"max_iter"`
	Seed         uint64       `json:"seed"`
	Augment      bool         `json:"augment"`
	Trace        bool         `json:"trace"`
	Density      bool         `json:"density"`
	Full         bool         `json:"full"`
	FullBatches  int          `json:"full_batches"`
	TraceSamples int          `json:"trace_samples"`
	SLQSteps     int          `json:"slq_steps"`
	SLQVectors   int          `json:"slq_vectors"`
	Checkpoints  []ckptHeader `json:"checkpoints"`
}

// ckptHeader describes one checkpoint of a run.
type ckptHeader struct {
	Label         string `json:"label"`
	Path          string `json:"path"`
	Model         string `json:"model"`
	Phase         string `json:"phase,omitempty"`
	Step          int64  `json:"step"`
	WeightsSHA256 string `json:"weights_sha256"`
	// Params is the number of trainable parameters, the Hessian's order.
	Params int64 `json:"params"`
	// WeightDecay is the L2 coefficient used; WeightDecaySource says
	// where it came from: "flag", "checkpoint" or "none recorded: the
	// paper's 0.05" (the fallback cmd/landscape uses too).
	WeightDecay       float64 `json:"weight_decay"`
	WeightDecaySource string  `json:"weight_decay_source"`
	Dataset           string  `json:"dataset"`
	// Examples is the number of training examples minibatches are drawn
	// from (the checkpoint's training subset, or the whole split).
	Examples int `json:"examples"`
	// Augment is the augmentation of the minibatches (zero: none).
	Augment data.Augment `json:"augmentation"`
}

// Kinds of journal records.
const (
	kindBatch   = "batch"
	kindTrace   = "trace"
	kindDensity = "density"
	kindFull    = "full"
)

// record is one journal line: a finished piece of work.
type record struct {
	Kind    string        `json:"kind"`
	Ckpt    int           `json:"ckpt"`
	Batch   *batchOut     `json:"batch,omitempty"`
	Trace   *traceOut     `json:"trace,omitempty"`
	Density *densityOut   `json:"density,omitempty"`
	Full    *fullEigenOut `json:"full,omitempty"`
}

// key identifies a record's work item.
func (r record) key() string {
	if r.Kind == kindBatch && r.Batch != nil {
		return fmt.Sprintf("%d/%s/%d", r.Ckpt, r.Kind, r.Batch.Batch)
	}
	return fmt.Sprintf("%d/%s", r.Ckpt, r.Kind)
}

// Seeds of the work on the Hessian over all minibatches, apart from the
// minibatches' own (hessian.BatchSeed(seed, b) for b >= 0).
const (
	seedTrace   = -1
	seedDensity = -2
	seedFull    = -3
)

// input is a checkpoint ready to be worked on.
type input struct {
	hdr  ckptHeader
	path string
	ck   models.Checkpoint
	pool []int
	d    *data.Dataset
}

func (o *options) journalPath() string {
	if o.shard.Count > 1 {
		return filepath.Join(o.out, fmt.Sprintf("journal-shard-%d-of-%d.jsonl", o.shard.Index, o.shard.Count))
	}
	return filepath.Join(o.out, "journal.jsonl")
}

// solver returns the eigenvalue solver the flags ask for.
func solver(h header) hessian.Solver {
	if h.Method == "lanczos" {
		return &hessian.LanczosSettings{Tol: h.Tol, MaxSteps: h.MaxIter}
	}
	return &hessian.PowerSettings{Tol: h.Tol, MaxIter: h.MaxIter}
}

func runCompute(ctx context.Context, o *options) error {
	threads, dev, err := cli.Setup(o.threads, o.device)
	if err != nil {
		return err
	}
	inputs, hdr, err := prepare(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	jpath := o.journalPath()
	if !o.resume {
		if _, err := os.Stat(jpath); err == nil {
			return cli.Usagef("--resume=false: %s already exists; remove it or choose another --out", jpath)
		}
	}
	jw, done, err := journal.Open[record](jpath, hdr)
	if err != nil {
		return err
	}
	defer func() { _ = jw.Close() }()
	have := map[string]bool{}
	for _, r := range done {
		have[r.key()] = true
	}

	owned, skipped := 0, 0
	for ci := range inputs {
		for b := range hdr.Batches {
			if o.shard.Owns(b) {
				owned++
				if have[record{Kind: kindBatch, Ckpt: ci, Batch: &batchOut{Batch: b}}.key()] {
					skipped++
				}
			}
		}
	}
	if skipped > 0 {
		fmt.Fprintf(o.stderr, "hessian: resuming from %s: %d of %d minibatches already done\n", jpath, skipped, owned)
	}
	bar := progress.New(o.stderr, "hessian", "batches", owned, skipped)
	for ci, in := range inputs {
		if err := computeCheckpoint(ctx, o, hdr, ci, in, dev, have, jw, bar); err != nil {
			bar.Finish("stopped")
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				fmt.Fprintf(o.stderr, "hessian: interrupted; finished work is in %s: run the same command again to resume\n", jpath)
				return cli.ErrInterrupted
			}
			return err
		}
	}
	bar.Finish("done")
	if err := jw.Close(); err != nil {
		return err
	}
	if o.shard.Count > 1 {
		fmt.Fprintf(o.stdout, "shard %v done: %s\nonce every shard is done: hessian --merge --out %s\n", o.shard, jpath, o.out)
		return nil
	}
	recs, err := journal.Read[record](jpath, hdr)
	if err != nil {
		return err
	}
	p := prov.New("hessian", o.args, hdr.Seed, threads)
	for _, in := range inputs {
		sidecar, weights := checkpointFiles(in.path, in.ck)
		for _, f := range []string{sidecar, weights} {
			if err := p.AddInput(f); err != nil {
				return err
			}
		}
	}
	return writeOutputs(o, hdr, recs, p)
}

// checkpointFiles returns a checkpoint's sidecar and weights paths.
func checkpointFiles(path string, ck models.Checkpoint) (string, string) {
	base := strings.TrimSuffix(strings.TrimSuffix(path, ".json"), ".safetensors")
	return base + ".json", filepath.Join(filepath.Dir(base), ck.Weights)
}

// prepare reads and checks every checkpoint and data set before any work,
// and returns them with the run's header.
func prepare(o *options) ([]*input, header, error) {
	hdr := header{Tool: "vitprobe hessian", Format: formatVersion, Batches: o.batches, BatchSize: o.batchSize, K: o.k,
		Method: o.method, Tol: o.tol, MaxIter: o.maxIter, Seed: o.seed, Augment: o.augment}
	if o.trace || o.density || o.full {
		hdr.Trace, hdr.Density, hdr.Full, hdr.FullBatches = o.trace, o.density, o.full, o.fullBatches
		if o.trace {
			hdr.TraceSamples = o.traceSamples
		}
		if o.density {
			hdr.SLQSteps, hdr.SLQVectors = o.slqSteps, o.slqVectors
		}
	}
	sets := map[string]*data.Dataset{}
	var inputs []*input
	labels := map[string]int{}
	for _, arg := range o.ckpts {
		label, path := splitLabel(arg)
		if path == "" {
			return nil, hdr, cli.Usagef("checkpoint %q: empty path", arg)
		}
		ck, err := models.ReadCheckpoint(path)
		if err != nil {
			return nil, hdr, err
		}
		if _, err := models.Describe(ck.Spec.Name); err != nil {
			return nil, hdr, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		if ck.WeightsSHA256 == "" {
			return nil, hdr, fmt.Errorf("checkpoint %s: no weights hash recorded", path)
		}
		if int64(o.k) > ck.Params {
			return nil, hdr, cli.Usagef("--k %d is larger than the %d trainable parameters of %s", o.k, ck.Params, path)
		}
		var tc *train.Config
		if len(ck.Train) > 0 {
			var st struct {
				Config *train.Config `json:"config"`
			}
			if err := json.Unmarshal(ck.Train, &st); err == nil && st.Config != nil {
				tc = st.Config
			}
		}
		in := &input{path: path, ck: ck}
		h := &in.hdr
		h.Label, h.Path, h.Model, h.Phase, h.Step = label, path, ck.Spec.Name, ck.Phase, ck.Step
		h.WeightsSHA256, h.Params = ck.WeightsSHA256, ck.Params
		switch {
		case o.wdSet:
			h.WeightDecay, h.WeightDecaySource = o.wd, "flag"
		case tc != nil:
			h.WeightDecay, h.WeightDecaySource = tc.WeightDecay, "checkpoint"
		default:
			h.WeightDecay, h.WeightDecaySource = 0.05, "none recorded: the paper's 0.05"
		}
		h.Dataset = o.dataset
		if h.Dataset == "" {
			h.Dataset = ck.Dataset
		}
		if h.Dataset == "" {
			return nil, hdr, cli.Usagef("checkpoint %s records no dataset: give --dataset", path)
		}
		if o.augment {
			if tc == nil {
				return nil, hdr, fmt.Errorf("--augment: checkpoint %s records no training recipe to take the augmentation from", path)
			}
			h.Augment = tc.Augment
		}
		d, ok := sets[h.Dataset]
		if !ok {
			if d, err = data.Load(h.Dataset, o.dataDir, data.Train); err != nil {
				return nil, hdr, err
			}
			sets[h.Dataset] = d
		}
		in.d = d
		in.pool = d.Indices()
		if tc != nil && tc.Dataset == h.Dataset && tc.Fraction > 0 && tc.Fraction < 1 {
			if in.pool, err = d.Subset(tc.Fraction, tc.Seed); err != nil {
				return nil, hdr, fmt.Errorf("checkpoint %s: training subset: %w", path, err)
			}
		}
		h.Examples = len(in.pool)
		// Fails now, not after hours, on an empty or too small data set.
		if _, err := analysis.NewMinibatches(d, in.pool, o.batchSize, o.batches, o.seed, h.Augment); err != nil {
			return nil, hdr, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		inputs = append(inputs, in)
		labels[label]++
	}
	uniqueLabels(inputs, labels)
	seen := map[string]string{}
	for _, in := range inputs {
		if prev, dup := seen[in.hdr.Label]; dup {
			return nil, hdr, cli.Usagef("two checkpoints labelled %q (%s and %s): give distinct labels as label=path", in.hdr.Label, prev, in.path)
		}
		seen[in.hdr.Label] = in.path
		hdr.Checkpoints = append(hdr.Checkpoints, in.hdr)
	}
	return inputs, hdr, nil
}

// splitLabel splits "label=path"; a path alone gets an empty label.
func splitLabel(arg string) (label, path string) {
	if i := strings.IndexByte(arg, '='); i > 0 && !strings.ContainsRune(arg[:i], os.PathSeparator) {
		return arg[:i], arg[i+1:]
	}
	return "", arg
}

// uniqueLabels names unlabelled checkpoints by their model, then model and
// phase, then path, until every label is unique.
func uniqueLabels(inputs []*input, given map[string]int) {
	count := func(f func(*input) string) map[string]int {
		c := map[string]int{}
		for _, in := range inputs {
			c[f(in)]++
		}
		return c
	}
	byModel := count(func(in *input) string { return in.hdr.Model })
	byPhase := count(func(in *input) string { return in.hdr.Model + "/" + in.hdr.Phase })
	for _, in := range inputs {
		if in.hdr.Label != "" {
			continue
		}
		switch {
		case byModel[in.hdr.Model] == 1 && given[in.hdr.Model] == 0:
			in.hdr.Label = in.hdr.Model
		case byPhase[in.hdr.Model+"/"+in.hdr.Phase] == 1 && in.hdr.Phase != "":
			in.hdr.Label = in.hdr.Model + "/" + in.hdr.Phase
		default:
			in.hdr.Label = in.path
		}
	}
}

// computeCheckpoint does the work of one checkpoint that this shard owns
// and the journal lacks.
func computeCheckpoint(ctx context.Context, o *options, hdr header, ci int, in *input, dev gotch.Device,
	have map[string]bool, jw *journal.Writer, bar *progress.Bar) error {
	todo := func(r record) bool { return !have[r.key()] }
	var batches []int
	for b := range hdr.Batches {
		if o.shard.Owns(b) && todo(record{Kind: kindBatch, Ckpt: ci, Batch: &batchOut{Batch: b}}) {
			batches = append(batches, b)
		}
	}
	extras := o.shard.Owns(ci)
	wantTrace := extras && hdr.Trace && todo(record{Kind: kindTrace, Ckpt: ci})
	wantDensity := extras && hdr.Density && todo(record{Kind: kindDensity, Ckpt: ci})
	wantFull := extras && hdr.Full && todo(record{Kind: kindFull, Ckpt: ci})
	if len(batches) == 0 && !wantTrace && !wantDensity && !wantFull {
		return nil
	}
	label := in.hdr.Label
	m, ck, err := models.Load(in.path, dev)
	if err != nil {
		return err
	}
	defer m.Close()
	if ck.WeightsSHA256 != in.hdr.WeightsSHA256 {
		return fmt.Errorf("checkpoint %s changed while the run was being prepared", in.path)
	}
	mb, err := analysis.NewMinibatches(in.d, in.pool, hdr.BatchSize, hdr.Batches, hdr.Seed, in.hdr.Augment)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	if len(batches) > 0 {
		want := map[int]bool{}
		for _, b := range batches {
			want[b] = true
		}
		opt := &analysis.SpectrumOptions{K: hdr.K, Solver: solver(hdr), Seed: hdr.Seed, WeightDecay: in.hdr.WeightDecay,
			Skip: func(b int) bool { return !want[b] }}
		err := analysis.MaxEigenSpectrum(ctx, m, mb, opt, func(r analysis.BatchResult) error {
			rec := record{Kind: kindBatch, Ckpt: ci, Batch: &batchOut{Batch: r.Batch, Loss: r.Loss, Values: r.Values,
				Residuals: r.Residuals, Converged: r.Converged, Products: r.Products}}
			if err := jw.Append(rec); err != nil {
				return err
			}
			have[rec.key()] = true
			bar.Add(1, fmt.Sprintf("%s batch %d: top %s", label, r.Batch, fmtValue(r.Values[0])))
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	if !wantTrace && !wantDensity && !wantFull {
		return nil
	}
	// The Hessian of the mean loss over the first FullBatches minibatches.
	var list []*data.Batch
	defer func() {
		for _, b := range list {
			b.Close()
		}
	}()
	for b := range hdr.FullBatches {
		batch, err := mb.Batch(b)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		list = append(list, batch)
	}
	// The NLL part alone: the L2 term is added exactly where it is needed.
	dh, err := analysis.NewDataHessian(m, list, &analysis.DataHessianOptions{
		HessianOptions: analysis.HessianOptions{Label: label + ", Hessian over minibatches"},
		Retain:         o.retain})
	if err != nil {
		return err
	}
	defer dh.Close()
	nll := analysis.WithContext(ctx, dh)
	wd := in.hdr.WeightDecay
	var op hessian.Operator
	var pbar *progress.Bar
	step := func(what string, most int, l2 bool) {
		pbar = progress.New(o.stderr, fmt.Sprintf("hessian: %s: %s over %d minibatches", label, what, hdr.FullBatches), "products", most, 0)
		op = countingOp{nll, pbar}
		if l2 && wd != 0 {
			op = shifted{op, wd}
		}
	}
	if wantTrace {
		// tr(H + wd·I) = tr(H) + wd·n exactly. Estimating tr(H) alone keeps
		// the stopping rule (relative change of the running mean) about
		// the unknown part: with the constant wd·n inside, which can be
		// a thousand times larger, it would stop after two samples.
		step("trace", hdr.TraceSamples, false)
		t, err := hessian.Hutchinson(op, &hessian.TraceSettings{MaxIter: hdr.TraceSamples, Seed: hessian.BatchSeed(hdr.Seed, seedTrace)})
		if err != nil {
			return fmt.Errorf("%s: trace: %w", label, err)
		}
		l2 := wd * float64(dh.Dim())
		pbar.Finish(fmt.Sprintf("trace %s \u00b1 %s (NLL part %s)", fmtValue(t.Mean+l2), fmtValue(t.StdErr), fmtValue(t.Mean)))
		rec := record{Kind: kindTrace, Ckpt: ci, Trace: &traceOut{Mean: t.Mean + l2, NLL: t.Mean, L2: l2, StdErr: t.StdErr,
			Samples: len(t.Values), Converged: t.Converged, Products: t.Products, Values: t.Values}}
		if err := jw.Append(rec); err != nil {
			return err
		}
	}
	if wantDensity {
		step("density", hdr.SLQSteps*hdr.SLQVectors, true)
		q, err := hessian.SLQ(op, &hessian.SLQSettings{Steps: hdr.SLQSteps, Vectors: hdr.SLQVectors, Seed: hessian.BatchSeed(hdr.Seed, seedDensity)})
		if err != nil {
			return fmt.Errorf("%s: density: %w", label, err)
		}
		pbar.Finish("done")
		rec := record{Kind: kindDensity, Ckpt: ci, Density: &densityOut{Nodes: q.Nodes, Weights: q.Weights, Products: q.Products}}
		if err := jw.Append(rec); err != nil {
			return err
		}
	}
	if wantFull {
		most := hdr.K * max(hdr.MaxIter, 100)
		if hdr.Method == "lanczos" {
			most = hdr.K + max(hdr.MaxIter, 100, 4*hdr.K)
		}
		step(fmt.Sprintf("top %d eigenvalues", hdr.K), most, true)
		e, err := solver(hdr).TopK(op, hdr.K, hessian.BatchSeed(hdr.Seed, seedFull))
		if err != nil {
			return fmt.Errorf("%s: top-k of the Hessian over minibatches: %w", label, err)
		}
		pbar.Finish(fmt.Sprintf("top %s", fmtValue(e.Values[0])))
		conv := true
		for _, c := range e.Converged {
			conv = conv && c
		}
		rec := record{Kind: kindFull, Ckpt: ci, Full: &fullEigenOut{Values: e.Values, Residuals: e.Residuals, Converged: conv, Products: e.Products}}
		if err := jw.Append(rec); err != nil {
			return err
		}
	}
	return nil
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

package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
)

// Measurements of the curvature operators on trained checkpoints
// (docs/benchmarks.md, docs/findings.md):
//
//	go test ./analysis -run TestTop5ProductsTrained -v -timeout 0 -curv.ckpts A/final.json,B/final.json,C/final.json
//	go test ./analysis -run TestCurvatureTrained -v -timeout 0 -curv.ckpts ... -curv.out DIR
//	go test ./analysis -run '^$' -bench CurvatureProduct -benchtime 20x
//
// Threads: $VITPROBE_THREADS (default: every core).

var (
	curvCkpts   = flag.String("curv.ckpts", "", "comma-separated trained checkpoints of the curvature measurements (skipped when empty)")
	curvBatches = flag.Int("curv.batches", 3, "minibatches of 16 training images per checkpoint")
	curvOut     = flag.String("curv.out", "", "TestCurvatureTrained: folder for the figures and results")
	curvMethods = flag.String("curv.methods", "", "TestTop5ProductsTrained: only the methods whose names contain this (all when empty)")
)

// trainedCkpts loads the checkpoints of -curv.ckpts, skipping the test
// without them.
func trainedCkpts(t *testing.T) []string {
	t.Helper()
	if *curvCkpts == "" {
		t.Skip("needs -curv.ckpts PATH[,PATH...] (trained checkpoints)")
	}
	lockThread(t)
	if _, err := torchx.SetThreads(0); err != nil {
		t.Fatal(err)
	}
	return strings.Split(*curvCkpts, ",")
}

// loadTrained returns a checkpoint's model, its name and its minibatches.
func loadTrained(t *testing.T, path string) (models.Model, string, *Minibatches) {
	t.Helper()
	m, ck, err := models.Load(path, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	d, err := data.Load(ck.Dataset, os.Getenv("VITPROBE_DATA"), data.Train)
	if err != nil {
		t.Fatal(err)
	}
	return m, m.Spec().Name, must(NewMinibatches(d, nil, 16, *curvBatches, 0, data.Augment{}))
}

// byMagnitude sorts values by decreasing magnitude.
func byMagnitude(v []float64) []float64 {
	s := slices.Clone(v)
	slices.SortFunc(s, func(a, b float64) int { return cmp.Compare(math.Abs(b), math.Abs(a)) })
	return s
}

// worstRel returns the largest relative difference of two top-k lists
// matched by magnitude order.
func worstRel(got, ref []float64) float64 {
	g, r := byMagnitude(got), byMagnitude(ref)
	w := 0.0
	for i := range r {
		w = math.Max(w, math.Abs(g[i]-r[i])/math.Abs(r[i]))
	}
	return w
}

// TestTop5ProductsTrained counts the Hessian-vector products each method
// needs for the top 5 eigenvalues (largest magnitude) of minibatch
// Hessians of trained checkpoints, and their accuracy against a long
// Lanczos run (residual rule at 1e-8 relative, up to 400 steps, from a
// start vector of its own: the reference; a second one from another start
// vector measures its accuracy; the parameter counts, 200k-300k, rule out
// a dense eigendecomposition). Methods: power iteration at PyHessian's defaults
// (100 products per eigenvalue, tolerance 1e-3) and at tolerance 1e-5
// (300 per eigenvalue); Lanczos with the default residual rule (1e-6);
// Lanczos with the residual rule at 1e-4 and bound residuals; the
// eigenvalue rule at 1e-4 with bound residuals, without and with one guard
// pair (FastLanczos); FastLanczos started from
// the previous minibatch's top 5 eigenvectors (summed) instead of a random
// vector. It asserts that FastLanczos reaches 1e-4 on every batch and
// that power iteration at 1e-5 uses at least 3 times its products.
// -curv.methods keeps only the methods whose names contain its value (and
// FastLanczos).
func TestTop5ProductsTrained(t *testing.T) {
	for _, path := range trainedCkpts(t) {
		m, name, mb := loadTrained(t, path)
		type method struct {
			name     string
			solver   func(prev *hessian.Eigen) hessian.Solver
			products int
			worst    float64
			batches  []string
		}
		methods := []*method{
			{name: "power, PyHessian defaults (100, 1e-3)", solver: func(*hessian.Eigen) hessian.Solver { return &hessian.PowerSettings{} }},
			{name: "power, tol 1e-5 (300)", solver: func(*hessian.Eigen) hessian.Solver { return &hessian.PowerSettings{Tol: 1e-5, MaxIter: 300} }},
			{name: "Lanczos, residual rule 1e-6 (default)", solver: func(*hessian.Eigen) hessian.Solver { return &hessian.LanczosSettings{} }},
			{name: "Lanczos, residual rule 1e-4, bound residuals", solver: func(*hessian.Eigen) hessian.Solver {
				return &hessian.LanczosSettings{Tol: 1e-4, BoundResiduals: true}
			}},
			{name: "Lanczos, eigenvalue rule 1e-4, bound residuals, no guard", solver: func(*hessian.Eigen) hessian.Solver {
				return &hessian.LanczosSettings{Stop: hessian.StopEigenvalue, Tol: 1e-4, BoundResiduals: true}
			}},
			{name: "FastLanczos: eigenvalue rule 1e-4, guard 1, bound residuals", solver: func(*hessian.Eigen) hessian.Solver { return FastLanczos() }},
			{name: "FastLanczos, started from the previous batch's top 5", solver: func(prev *hessian.Eigen) hessian.Solver {
				s := FastLanczos()
				if prev != nil {
					s.Start = make([]float64, len(prev.Vectors[0]))
					for _, v := range prev.Vectors {
						for i, x := range v {
							s.Start[i] += x
						}
					}
				}
				return s
			}},
		}
		methods = slices.DeleteFunc(methods, func(me *method) bool {
			return *curvMethods != "" && !strings.Contains(me.name, *curvMethods) && !strings.HasPrefix(me.name, "FastLanczos:")
		})
		var prevFast *hessian.Eigen
		refProducts := 0
		start := time.Now()
		for b := range mb.Len() {
			batch := must(mb.Batch(b))
			h := must(NewBatchHessian(m, batch, &HessianOptions{Label: fmt.Sprintf("batch %d", b)}))
			batch.Close()
			seed := hessian.BatchSeed(0, b)
			// Two long runs from start vectors of their own (not the
			// methods'), whose agreement is the reference's accuracy.
			long := &hessian.LanczosSettings{Tol: 1e-8, MaxSteps: 400}
			ref := must(long.TopK(h, 5, hessian.BatchSeed(1001, b)))
			ref2 := must(long.TopK(h, 5, hessian.BatchSeed(1002, b)))
			refProducts += ref.Products + ref2.Products
			t.Logf("%s batch %d: reference %.8g (%d steps, residuals/|λ| %.1e; a second reference agrees to %.1e)",
				name, b, ref.Values, ref.Steps, relResiduals(ref), worstRel(ref2.Values, ref.Values))
			var fast *hessian.Eigen
			for _, me := range methods {
				e := must(me.solver(prevFast).TopK(h, 5, seed))
				w := worstRel(e.Values, ref.Values)
				me.products += e.Products
				me.worst = math.Max(me.worst, w)
				me.batches = append(me.batches, fmt.Sprintf("%d (%.0e)", e.Products, w))
				if strings.HasPrefix(me.name, "FastLanczos:") {
					fast = e
					if w > 1e-4 {
						t.Errorf("%s batch %d: FastLanczos %v, reference %v (%.2g relative)", name, b, e.Values, ref.Values, w)
					}
				}
			}
			prevFast = fast
			h.Close()
		}
		t.Logf("%s: %d batches, %s (reference runs: %d products)", name, mb.Len(), time.Since(start).Round(time.Second), refProducts)
		t.Logf("| %s | products (per batch: products (largest relative error)) | total | largest relative error |", name)
		var fast, tight int
		for _, me := range methods {
			t.Logf("| %s | %s | %d | %.1e |", me.name, strings.Join(me.batches, ", "), me.products, me.worst)
			switch {
			case strings.HasPrefix(me.name, "FastLanczos:"):
				fast = me.products
			case strings.HasPrefix(me.name, "power, tol 1e-5"):
				tight = me.products
			}
		}
		if tight == 0 {
			continue // power iteration not selected
		}
		ratio := float64(tight) / float64(fast)
		t.Logf("%s: power iteration at tol 1e-5 / FastLanczos = %d / %d = %.2f", name, tight, fast, ratio)
		if ratio < 3 {
			t.Errorf("%s: power iteration at 1e-5 used %.2f times the products of FastLanczos, want at least 3", name, ratio)
		}
	}
}

// relResiduals returns each pair's residual over |λ|.
func relResiduals(e *hessian.Eigen) []float64 {
	out := make([]float64, len(e.Values))
	for i, r := range e.Residuals {
		out[i] = r / math.Abs(e.Values[i])
	}
	return out
}

// curvatureResult is what TestCurvatureTrained writes per checkpoint: the
// blocks and kinds as blocks.json records them.
type curvatureResult struct {
	Model  string                  `json:"model"`
	Blocks []results.BlockResult   `json:"blocks"`
	Kinds  []results.BlocksKind    `json:"kinds"`
	Matrix map[string]matrixResult `json:"matrices"`
}

type matrixResult struct {
	Top      []float64   `json:"top_algebraic"`
	Bottom   []float64   `json:"bottom_algebraic"`
	Trace    float64     `json:"trace"`
	TraceErr float64     `json:"trace_stderr"`
	NegCount float64     `json:"negative_share_by_count"`
	NegMass  float64     `json:"negative_share_by_magnitude"`
	Nodes    [][]float64 `json:"slq_nodes"`
	Weights  [][]float64 `json:"slq_weights"`
	Products int         `json:"products"`
}

// TestCurvatureTrained computes, for each checkpoint of -curv.ckpts, on
// its first -curv.batches minibatches of 16 training images:
//   - per-block Hessian spectra (BlockSpectra: FastLanczos top 5, Hutch++
//     trace of 30 products, per block and batch) and NEP/APE per block
//     kind, drawn as block-spectra.png;
//   - the Hessian and the GGN of the whole model on minibatch 0 side by
//     side: the top 5 and bottom 3 eigenvalues (largest and smallest
//     algebraic), the Hutch++ trace (60 products), SLQ densities (4 start
//     vectors, 60 steps) and the share of the spectrum below zero, drawn as
//     hessian-vs-ggn-MODEL.png with the spread of the start vectors as a
//     band;
//
// and writes curvature-MODEL.json into -curv.out (a model whose file is
// there already is not computed again: its results are drawn). The GGN
// must have no
// eigenvalue below -1e-4 of its largest (it is positive semi-definite up
// to float32 rounding).
func TestCurvatureTrained(t *testing.T) {
	paths := trainedCkpts(t)
	if *curvOut == "" {
		t.Skip("needs -curv.out DIR")
	}
	if err := os.MkdirAll(*curvOut, 0o755); err != nil {
		t.Fatal(err)
	}
	var figModels []reports.BlockCurvatureModel
	for _, path := range paths {
		m, name, mb := loadTrained(t, path)
		saved := filepath.Join(*curvOut, "curvature-"+name+".json")
		if js, err := os.ReadFile(saved); err == nil {
			// Done by an earlier run: draw from its results.
			var res curvatureResult
			if err := json.Unmarshal(js, &res); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: results of %s", name, saved)
			figModels = append(figModels, reports.BlockCurvatureModelOf(res.Model, res.Blocks))
			continue
		}
		res := curvatureResult{Model: name, Matrix: map[string]matrixResult{}}
		start := time.Now()
		groups := must(BlockGroups(m))
		var n int
		for _, g := range groups {
			n += g.Size
		}
		t.Logf("%s: %d blocks, %d parameters; FastLanczos memory per block at most %s", name, len(groups), n, FastLanczos().Memory(n, 5))
		bs := must(BlockSpectra(context.Background(), m, mb, groups, &BlockSpectrumOptions{}, func(b BlockSpectrum) error {
			r := must(b.Result())
			var tr, se float64
			if r.Trace != nil {
				tr, se = r.Trace.Mean, r.Trace.StdErr
			}
			t.Logf("%s %-14s %-4v %7d params: top %.4g ... NEP %.2f, trace %.4g ± %.2g (%d products)",
				name, b.Group.Name, b.Group.Kind, b.Group.Size, byMagnitude(b.Values())[:3], r.Summary.NEP, tr, se, r.Products)
			res.Blocks = append(res.Blocks, r)
			return nil
		}))
		figModels = append(figModels, reports.BlockCurvatureModelOf(res.Model, res.Blocks))
		res.Kinds = must(KindResults(bs))
		for _, k := range res.Kinds {
			t.Logf("%s kind %-4v: %d blocks, %d values, NEP %.3f, APE %.4g, range [%.3g, %.3g]", name, k.Kind, k.Blocks, k.N, k.NEP, k.APE, k.Min, k.Max)
		}
		t.Logf("%s: block spectra in %s", name, time.Since(start).Round(time.Second))

		start = time.Now()
		batch := must(mb.Batch(0))
		var dens []reports.HessianDensitySeries
		for _, c := range []Curvature{CurvatureHessian, CurvatureGGN} {
			op := must(NewCurvature(c, m, batch, nil))
			top := FastLanczos()
			top.Which = hessian.LargestAlgebraic
			bottom := FastLanczos()
			bottom.Which = hessian.SmallestAlgebraic
			et := must(top.TopK(op, 5, 1))
			eb := must(bottom.TopK(op, 3, 2))
			tr := must(hessian.HutchPlusPlus(op, &hessian.HutchPPSettings{Products: 60, Seed: 3}))
			q := must(hessian.SLQ(op, &hessian.SLQSettings{Steps: 60, Vectors: 4, Seed: 4}))
			// Nodes within 1e-4 of the largest eigenvalue of zero count as
			// zero: the float32 products put a PSD matrix's null space there.
			cnt, mass := q.NegativeShare(1e-4 * et.Values[0])
			mr := matrixResult{Top: et.Values, Bottom: eb.Values, Trace: tr.Mean, TraceErr: tr.StdErr, NegCount: cnt, NegMass: mass,
				Nodes: q.Nodes, Weights: q.Weights, Products: op.Products()}
			res.Matrix[c.String()] = mr
			t.Logf("%s %-7v: top %.5g, bottom %.4g, trace %.4g ± %.2g, negative share %.3f by count, %.3f by magnitude (%d products)",
				name, c, et.Values, eb.Values, tr.Mean, tr.StdErr, cnt, mass, op.Products())
			if c == CurvatureGGN && eb.Values[0] < -1e-4*et.Values[0] {
				t.Errorf("%s: GGN eigenvalue %v below -1e-4 of its largest %v", name, eb.Values[0], et.Values[0])
			}
			op.Close()
			dens = append(dens, reports.HessianDensitySeries{Label: strings.ToUpper(c.String()[:1]) + c.String()[1:], Nodes: q.Nodes, Weights: q.Weights})
		}
		dens[1].Label = "GGN"
		batch.Close()
		t.Logf("%s: Hessian vs GGN in %s", name, time.Since(start).Round(time.Second))
		note := fmt.Sprintf("%s, minibatch 0 (16 MNIST training images), eval mode, no L2 term; SLQ with 4 Rademacher start vectors × 60 steps each", name)
		fig, err := reports.HessianDensity(dens, &reports.HessianDensityOptions{Title: name + ": Hessian and Gauss-Newton eigenvalue densities",
			Note: note, Band: true})
		if err == nil {
			err = fig.Save(filepath.Join(*curvOut, "hessian-vs-ggn-"+name+".png"))
		}
		if err != nil {
			t.Fatal(err)
		}
		js := must(json.MarshalIndent(res, "", " "))
		if err := os.WriteFile(saved, js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	note := fmt.Sprintf("Hessian of each block's parameters alone (the others fixed), %d minibatches of 16 MNIST training images, eval mode, no L2 term; top 5 by magnitude (Lanczos, 1e-4) and Hutch++ trace (30 products) per block and minibatch", *curvBatches)
	fig, err := reports.BlockCurvatureFigure(figModels, &reports.BlockCurvatureOptions{Note: note})
	if err == nil {
		err = fig.Save(filepath.Join(*curvOut, "block-spectra.png"))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCurvatureProduct times one product of each curvature operator
// per mini preset at batch 16 (eval mode, random weights): the Hessian
// (double backward), the GGN with J v by the double-vjp trick and by
// forward mode, and the Fisher; plus each operator's set-up. Then the
// Hessian of the stem's and of the head's parameters alone, by
// differentiating with respect to them (HessianOptions.Params) and by
// restricting products with the full Hessian (hessian.Restrict).
func BenchmarkCurvatureProduct(b *testing.B) {
	for _, name := range benchNames() {
		for _, v := range []struct {
			name    string
			c       Curvature
			forward bool
			block   int // 0: every parameter; 1: the stem; 2: the head
			masked  bool
		}{{"hessian", CurvatureHessian, false, 0, false}, {"ggn-double-vjp", CurvatureGGN, false, 0, false},
			{"ggn-forward", CurvatureGGN, true, 0, false}, {"fisher-double-vjp", CurvatureFisher, false, 0, false},
			{"hessian-stem", CurvatureHessian, false, 1, false}, {"hessian-stem-masked", CurvatureHessian, false, 1, true},
			{"hessian-head", CurvatureHessian, false, 2, false}, {"hessian-head-masked", CurvatureHessian, false, 2, true}} {
			b.Run(name+"/"+v.name, func(b *testing.B) {
				m, batch := benchSetup(b, name)
				var g ParamGroup
				o := &CurvatureOptions{ForwardMode: v.forward}
				if v.block > 0 {
					groups, err := BlockGroups(m)
					if err != nil {
						b.Fatal(err)
					}
					g = groups[0]
					if v.block == 2 {
						g = groups[len(groups)-1]
					}
					if !v.masked {
						o.Params = g.Params
					}
				}
				t0 := time.Now()
				cop, err := NewCurvature(v.c, m, batch, o)
				if err != nil {
					b.Fatal(err)
				}
				setup := time.Since(t0)
				defer cop.Close()
				var op hessian.Operator = cop
				if v.masked {
					spans, err := g.Spans(m)
					if err != nil {
						b.Fatal(err)
					}
					if op, err = hessian.Restrict(cop, spans); err != nil {
						b.Fatal(err)
					}
				}
				vec := randVec(op.Dim(), 1)
				dst := make([]float64, op.Dim())
				if err := op.MulVec(dst, vec); err != nil { // warm-up
					b.Fatal(err)
				}
				var ts []time.Duration
				b.ResetTimer()
				for range b.N {
					t1 := time.Now()
					if err := op.MulVec(dst, vec); err != nil {
						b.Fatal(err)
					}
					ts = append(ts, time.Since(t1))
				}
				reportMedian(b, ts)
				b.ReportMetric(float64(setup.Microseconds())/1e3, "setup-ms")
			})
		}
	}
}

// BenchmarkCurvatureInterleaved compares, per mini preset at batch 16, the
// product of the Hessian, of the GGN with J v by the double-vjp trick and
// by forward mode, and of the stem's Hessian by differentiating with
// respect to its parameters alone and by restricting full products: each
// iteration computes one product of every operator in turn, so that a
// machine whose load drifts slows all of them alike; it reports each one's
// median time and the medians' ratios to the Hessian's.
func BenchmarkCurvatureInterleaved(b *testing.B) {
	for _, name := range benchNames() {
		b.Run(name, func(b *testing.B) {
			m, batch := benchSetup(b, name)
			groups, err := BlockGroups(m)
			if err != nil {
				b.Fatal(err)
			}
			stem := groups[0]
			spans, err := stem.Spans(m)
			if err != nil {
				b.Fatal(err)
			}
			type entry struct {
				name string
				op   hessian.Operator
				ts   []time.Duration
			}
			var entries []*entry
			add := func(name string, c Curvature, o *CurvatureOptions, restrict bool) {
				op, err := NewCurvature(c, m, batch, o)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(op.Close)
				var h hessian.Operator = op
				if restrict {
					if h, err = hessian.Restrict(op, spans); err != nil {
						b.Fatal(err)
					}
				}
				entries = append(entries, &entry{name: name, op: h})
			}
			add("hessian", CurvatureHessian, nil, false)
			add("ggn-double-vjp", CurvatureGGN, nil, false)
			add("ggn-forward", CurvatureGGN, &CurvatureOptions{ForwardMode: true}, false)
			add("stem", CurvatureHessian, &CurvatureOptions{HessianOptions: HessianOptions{Params: stem.Params}}, false)
			add("stem-masked", CurvatureHessian, nil, true)
			run := func(e *entry) time.Duration {
				v := randVec(e.op.Dim(), 1)
				dst := make([]float64, e.op.Dim())
				t0 := time.Now()
				if err := e.op.MulVec(dst, v); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			for _, e := range entries {
				run(e) // warm-up
			}
			b.ResetTimer()
			for range b.N {
				for _, e := range entries {
					e.ts = append(e.ts, run(e))
				}
			}
			med := func(ts []time.Duration) float64 {
				s := slices.Clone(ts)
				slices.Sort(s)
				return float64(s[len(s)/2].Microseconds()) / 1e3
			}
			h := med(entries[0].ts)
			for _, e := range entries {
				b.ReportMetric(med(e.ts), e.name+"-ms")
				if e != entries[0] {
					b.ReportMetric(med(e.ts)/h, e.name+"/hessian")
				}
			}
		})
	}
}

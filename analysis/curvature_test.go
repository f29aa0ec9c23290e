package analysis

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// denseRef holds the curvature matrices of the float64 tinyNet on one
// batch, computed without the operators under test.
type denseRef struct {
	n, b, c int
	hess    *mat.Dense // central differences of exact gradients
	jac     *mat.Dense // (b·c) × n, row by row from exact gradients of each logit
	ggn     *mat.Dense // Jᵀ H_z J
	fisher  *mat.Dense // (1/B) Σ g_i g_iᵀ, per-example exact gradients
}

// logitsOf returns the logits of m on b as float64, row-major.
func logitsOf(t *testing.T, m *tinyNet, b *torchdata.Batch) ([]float64, int, int) {
	t.Helper()
	z := must(m.Forward(b.Images, models.Eval, nil))
	defer z.MustDrop()
	shape := must(z.Size())
	out := make([]float64, shape[0]*shape[1])
	if err := torchx.CopyOut(out, z); err != nil {
		t.Fatal(err)
	}
	return out, int(shape[0]), int(shape[1])
}

// weightedGrad returns the exact gradient of Σ_rc w_rc f(z)_rc over m's
// parameters, where f is the identity (logits) or log-softmax.
func weightedGrad(t *testing.T, m *tinyNet, b *torchdata.Batch, w []float64, logSoftmax bool) []float64 {
	t.Helper()
	var s torchx.Scope
	defer s.Close()
	z := s.Add(must(m.Forward(b.Images, models.Eval, nil)))
	if logSoftmax {
		z = s.Add(must(z.LogSoftmax(1, gotch.Double, false)))
	}
	wt := s.Add(must(torchx.FromSlice(w, must(z.Size()), gotch.Double)))
	prod := s.Add(must(z.Mul(wt, false)))
	sum := s.Add(must(prod.Sum(gotch.Double, false)))
	g := s.AddAll(must(torchx.Grad(sum, m.tensors())))
	out := make([]float64, m.dim())
	if err := torchx.Flatten(out, g); err != nil {
		t.Fatal(err)
	}
	return out
}

// targetsOf returns the batch's targets as a b×c row-major matrix: its
// soft targets, or one-hot labels.
func targetsOf(t *testing.T, bt *torchdata.Batch, b, c int) []float64 {
	t.Helper()
	out := make([]float64, b*c)
	if bt.Targets != nil {
		if err := torchx.CopyOut(out, bt.Targets); err != nil {
			t.Fatal(err)
		}
		return out
	}
	labels := make([]int64, b)
	if err := torchx.CopyOut(labels, bt.Labels); err != nil {
		t.Fatal(err)
	}
	for i, y := range labels {
		out[i*c+int(y)] = 1
	}
	return out
}

// newDenseRef computes the reference matrices: the Hessian by central
// differences (step 1e-5) of exact gradients, column by column; the
// Jacobian of the logits row by row; the GGN Jᵀ H_z J with H_z from the
// softmax computed here; the Fisher from per-example gradients of
// -Σ_c t_ic log p_ic.
func newDenseRef(t *testing.T, m *tinyNet, bt *torchdata.Batch) *denseRef {
	t.Helper()
	n := m.dim()
	z, b, c := logitsOf(t, m, bt)
	r := &denseRef{n: n, b: b, c: c}

	w0 := make([]float64, n)
	if err := torchx.Flatten(w0, m.tensors()); err != nil {
		t.Fatal(err)
	}
	r.hess = mat.NewDense(n, n, nil)
	e := make([]float64, n)
	const step = 1e-5
	for j := range n {
		e[j] = 1
		gp := gradAt(t, m, bt, w0, e, step)
		gm := gradAt(t, m, bt, w0, e, -step)
		e[j] = 0
		for i := range n {
			r.hess.Set(i, j, (gp[i]-gm[i])/(2*step))
		}
	}

	r.jac = mat.NewDense(b*c, n, nil)
	onehot := make([]float64, b*c)
	for row := range b * c {
		onehot[row] = 1
		r.jac.SetRow(row, weightedGrad(t, m, bt, onehot, false))
		onehot[row] = 0
	}

	// H_z = (1/B) blockdiag(s_i (diag p_i - p_i p_iᵀ)), s_i = Σ_c t_ic.
	tg := targetsOf(t, bt, b, c)
	p := make([]float64, b*c)
	for i := range b {
		var sum float64
		mx := math.Inf(-1)
		for k := range c {
			mx = math.Max(mx, z[i*c+k])
		}
		for k := range c {
			p[i*c+k] = math.Exp(z[i*c+k] - mx)
			sum += p[i*c+k]
		}
		for k := range c {
			p[i*c+k] /= sum
		}
	}
	hz := mat.NewDense(b*c, b*c, nil)
	for i := range b {
		var si float64
		for k := range c {
			si += tg[i*c+k]
		}
		for k := range c {
			for l := range c {
				v := -p[i*c+k] * p[i*c+l]
				if k == l {
					v += p[i*c+k]
				}
				hz.Set(i*c+k, i*c+l, si*v/float64(b))
			}
		}
	}
	var hj mat.Dense
	hj.Mul(hz, r.jac)
	r.ggn = mat.NewDense(n, n, nil)
	r.ggn.Mul(r.jac.T(), &hj)

	// Per-example gradients of ℓ_i = -Σ_c t_ic log p_ic.
	r.fisher = mat.NewDense(n, n, nil)
	w := make([]float64, b*c)
	for i := range b {
		clear(w)
		for k := range c {
			w[i*c+k] = -tg[i*c+k]
		}
		g := mat.NewVecDense(n, weightedGrad(t, m, bt, w, true))
		var outer mat.Dense
		outer.Outer(1/float64(b), g, g)
		r.fisher.Add(r.fisher, &outer)
	}
	return r
}

// relFro returns |a - b|_F / |b|_F.
func relFro(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

// sub returns the principal submatrix of a on the coordinates of spans.
func sub(a mat.Matrix, spans []hessian.Span) *mat.SymDense {
	var idx []int
	for _, s := range spans {
		for i := s.Start; i < s.End; i++ {
			idx = append(idx, i)
		}
	}
	s := mat.NewSymDense(len(idx), nil)
	for i, ci := range idx {
		for j := i; j < len(idx); j++ {
			s.SetSym(i, j, (a.At(ci, idx[j])+a.At(idx[j], ci))/2)
		}
	}
	return s
}

// TestCurvaturesMatchDenseReferences assembles the Hessian, the GGN (J v
// by the double-vjp trick and by forward mode) and the empirical Fisher
// of the float64 tinyNet column by column from the operators' products,
// and compares them with matrices computed independently (newDenseRef):
// the Hessian with central differences of exact gradients (truncation
// and rounding about 1e-9 relative for this smooth net; 1e-6 asked), the
// GGN and the Fisher, exact in both computations, to 1e-10. On hard labels
// and on label-smoothed soft targets (the Fisher's residuals change, the
// GGN does not). Then per block (the conv and the fc parameters, chosen by
// pattern): the restricted operators assemble to the principal submatrices
// of the full ones, and their top eigenvalues (Lanczos), trace (Hutch++
// with as many products as the block has parameters) and density moments
// equal those of the dense block (mat.EigenSym).
func TestCurvaturesMatchDenseReferences(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Double, 31)
	for _, tc := range []struct {
		name string
		aug  data.Augment
	}{{"hard labels", data.Augment{}}, {"smoothing 0.3", data.Augment{Smoothing: 0.3}}} {
		t.Run(tc.name, func(t *testing.T) {
			bt := batchOf(t, 40, 8, tc.aug)
			ref := newDenseRef(t, m, bt)
			assemble := func(c Curvature, o *CurvatureOptions) *mat.Dense {
				op := must(NewCurvature(c, m, bt, o))
				defer op.Close()
				return must(AssembleHessian(op))
			}
			hess := assemble(CurvatureHessian, nil)
			ggn := assemble(CurvatureGGN, nil)
			ggnFwd := assemble(CurvatureGGN, &CurvatureOptions{ForwardMode: true})
			fisher := assemble(CurvatureFisher, nil)
			fisherFwd := assemble(CurvatureFisher, &CurvatureOptions{ForwardMode: true})
			soft := tc.aug.Smoothing > 0
			checks := []struct {
				name      string
				got, want *mat.Dense
				tol       float64
			}{
				{"GGN (double vjp) vs JᵀH_zJ", ggn, ref.ggn, 1e-10},
				{"GGN (forward mode) vs JᵀH_zJ", ggnFwd, ref.ggn, 1e-10},
				{"Fisher (double vjp) vs Σ g gᵀ/B", fisher, ref.fisher, 1e-10},
				{"Fisher (forward mode) vs Σ g gᵀ/B", fisherFwd, ref.fisher, 1e-10},
			}
			// train.Loss computes the soft-target loss in float32 (its
			// log-softmax), so that central differences of its gradients
			// carry errors of 1e-7/1e-5 = 1e-2: there the Hessian is checked
			// on the fc block instead, where the logits are linear in the
			// parameters and the Hessian equals the GGN (float32 rounding:
			// 1e-6).
			// The restricted Hessian's products are computed on another
			// graph: the same numbers in float64, up to float32 rounding
			// (1e-8 measured) with soft targets.
			hessTol, hessSub := 1e-6, 1e-12
			if soft {
				hessSub = 1e-6
				fc := must(GroupByPattern(m, "", `^fc\.`))
				sp := must(fc.Spans(m))
				e := relFro(sub(hess, sp), sub(ref.ggn, sp))
				t.Logf("Hessian vs JᵀH_zJ on the fc block: relative Frobenius difference %.2g", e)
				if e > 1e-6 {
					t.Errorf("Hessian on the fc block differs from the GGN by %.3g", e)
				}
			} else {
				checks = append(checks, struct {
					name      string
					got, want *mat.Dense
					tol       float64
				}{"Hessian vs finite differences", hess, ref.hess, 1e-6})
			}
			for _, c := range checks {
				e := relFro(c.got, c.want)
				t.Logf("%s: relative Frobenius difference %.2g (|ref|_F = %.3g)", c.name, e, mat.Norm(c.want, 2))
				if e > c.tol {
					t.Errorf("%s: relative difference %.3g, want <= %g", c.name, e, c.tol)
				}
			}
			// The GGN is positive semi-definite; the Hessian here is not.
			var es mat.EigenSym
			gs, _ := Symmetrize(ggn)
			es.Factorize(gs, false)
			gv := es.Values(nil)
			if gv[0] < -1e-12*gv[len(gv)-1] {
				t.Errorf("GGN has eigenvalue %v (largest %v)", gv[0], gv[len(gv)-1])
			}
			hs, _ := Symmetrize(hess)
			es.Factorize(hs, false)
			t.Logf("eigenvalues: Hessian [%.3g, %.3g], GGN [%.3g, %.3g]", es.Values(nil)[0], es.Values(nil)[ref.n-1], gv[0], gv[ref.n-1])

			for _, pattern := range []string{`^conv\.`, `^fc\.`} {
				g := must(GroupByPattern(m, "", pattern))
				spans := must(g.Spans(m))
				for _, c := range []struct {
					kind        Curvature
					full        *mat.Dense
					ref         *mat.Dense
					tol, subTol float64
				}{
					{CurvatureHessian, hess, hessRef(ref.hess, hess, soft), hessTol, hessSub},
					{CurvatureGGN, ggn, ref.ggn, 1e-10, 1e-12},
					{CurvatureFisher, fisher, ref.fisher, 1e-10, 1e-12},
				} {
					op := must(NewCurvature(c.kind, m, bt, &CurvatureOptions{HessianOptions: HessianOptions{Params: g.Params}}))
					if op.Dim() != g.Size {
						t.Fatalf("%v on %s: dimension %d, want %d", c.kind, pattern, op.Dim(), g.Size)
					}
					blk := must(AssembleHessian(op))
					if e := relFro(blk, sub(c.full, spans)); e > c.subTol {
						t.Errorf("%v on %s: assembled block differs from the submatrix by %.2g", c.kind, pattern, e)
					}
					dense := sub(c.ref, spans)
					es.Factorize(dense, false)
					vals := es.Values(nil)
					k := min(5, g.Size)
					top := must(hessian.Lanczos(op, k, &hessian.LanczosSettings{Tol: 1e-10}))
					want := topMagnitude(vals, k)
					for i := range k {
						if d := math.Abs(top.Values[i] - want[i]); d > 10*c.tol*math.Abs(want[0]) {
							t.Errorf("%v on %s: eigenvalue %d %v, dense block %v", c.kind, pattern, i, top.Values[i], want[i])
						}
					}
					var trace float64
					for _, x := range vals {
						trace += x
					}
					// Hutch++ with 3·Size products sketches the whole block:
					// the trace is then exact.
					tr := must(hessian.HutchPlusPlus(op, &hessian.HutchPPSettings{Products: 3*g.Size + 2}))
					if d := math.Abs(tr.Mean - trace); d > 10*c.tol*mat.Norm(dense, 2) {
						t.Errorf("%v on %s: Hutch++ trace %v, dense block %v", c.kind, pattern, tr.Mean, trace)
					}
					op.Close()
					t.Logf("%v on %s (%d parameters): top %.4g, trace %.4g", c.kind, pattern, g.Size, top.Values, tr.Mean)
				}
			}
		})
	}
}

// hessRef is the reference of the Hessian's blocks: the finite
// differences, or with soft targets (see above) the assembled Hessian.
func hessRef(fd, assembled *mat.Dense, soft bool) *mat.Dense {
	if soft {
		return assembled
	}
	return fd
}

// topMagnitude returns the k values of largest magnitude, largest first.
func topMagnitude(vals []float64, k int) []float64 {
	s := slices.Clone(vals)
	slices.SortFunc(s, func(a, b float64) int {
		switch {
		case math.Abs(a) > math.Abs(b):
			return -1
		case math.Abs(a) < math.Abs(b):
			return 1
		}
		return 0
	})
	return s[:k]
}

// TestGGNWeightDecay: the L2 term adds wd·I to the GGN and the Fisher as
// to the Hessian.
func TestGGNWeightDecay(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Double, 32)
	bt := batchOf(t, 60, 6, data.Augment{})
	for _, c := range []Curvature{CurvatureGGN, CurvatureFisher} {
		g0 := must(NewCurvature(c, m, bt, nil))
		g1 := must(NewCurvature(c, m, bt, &CurvatureOptions{HessianOptions: HessianOptions{WeightDecay: 0.05}}))
		a0, a1 := must(AssembleHessian(g0)), must(AssembleHessian(g1))
		g0.Close()
		g1.Close()
		for i := range m.dim() {
			a0.Set(i, i, a0.At(i, i)+0.05)
		}
		if e := relFro(a1, a0); e > 1e-15 {
			t.Errorf("%v: with wd differs from without + wd·I by %.2g", c, e)
		}
	}
}

// TestGGNForwardModeOnPresets: on each mini preset (random weights,
// float32, 4 test images) J v by forward mode and by the double-vjp trick
// give the same GGN product to float32 rounding (1e-4 relative): forward
// mode works through every layer the presets use (convolutions, batch and
// layer norms, attention, GELU, relative position biases). Skipped with
// -short.
func TestGGNForwardModeOnPresets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the three presets")
	}
	lockThread(t)
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		t.Run(name, func(t *testing.T) {
			torchx.Seed(5)
			cfg := must(models.Defaults(name))
			m := must(models.New(name, cfg, gotch.CPU))
			defer m.Close()
			bt := batchOf(t, 0, 4, data.Augment{})
			blocks := must(BlockGroups(m))
			for _, params := range [][]string{nil, blocks[len(blocks)/2].Params} {
				o := &CurvatureOptions{HessianOptions: HessianOptions{Params: params}}
				a := must(NewBatchGGN(CurvatureGGN, m, bt, o))
				o.ForwardMode = true
				b := must(NewBatchGGN(CurvatureGGN, m, bt, o))
				v := randVec(a.Dim(), 9)
				ga, gb := make([]float64, a.Dim()), make([]float64, a.Dim())
				must(0, a.MulVec(ga, v))
				must(0, b.MulVec(gb, v))
				a.Close()
				b.Close()
				e := relDiff(gb, ga)
				t.Logf("%d parameters: |Gv (forward) - Gv (double vjp)| / |Gv| = %.2g", len(v), e)
				if e > 1e-4 {
					t.Errorf("forward mode and double vjp differ by %.3g relative", e)
				}
			}
		})
	}
}

// TestBlockGroupsCoverEveryParameter: on every mini preset the block
// groups partition the trainable parameters, follow the layers' order and
// kinds, and a pattern selects what it names.
func TestBlockGroupsCoverEveryParameter(t *testing.T) {
	lockThread(t)
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		cfg := must(models.Defaults(name))
		m := must(models.New(name, cfg, gotch.CPU))
		groups := must(BlockGroups(m))
		seen := map[string]string{}
		total := 0
		for i, g := range groups {
			if i > 0 && g.Index <= groups[i-1].Index {
				t.Errorf("%s: group %s after %s", name, g.Name, groups[i-1].Name)
			}
			for _, p := range g.Params {
				if prev, ok := seen[p]; ok {
					t.Errorf("%s: %s in %s and %s", name, p, prev, g.Name)
				}
				seen[p] = g.Name
			}
			total += g.Size
		}
		_, n := paramTensors(TrainableParams(m))
		if total != n || len(seen) != len(TrainableParams(m)) {
			t.Errorf("%s: groups hold %d values of %d parameters, the model %d of %d", name, total, len(seen), n, len(TrainableParams(m)))
		}
		if groups[0].Kind != models.KindStem || groups[len(groups)-1].Kind != models.KindHead || groups[len(groups)-1].Depth != 1 {
			t.Errorf("%s: first group %v, last %v at depth %v", name, groups[0].Kind, groups[len(groups)-1].Kind, groups[len(groups)-1].Depth)
		}
		switch name {
		case "vit-mini":
			for p, want := range map[string]string{"blocks.2.norm1.weight": "blocks.2.attn", "blocks.2.norm2.bias": "blocks.2.mlp",
				"cls_token": "patch_embed", "pos_embed": "patch_embed", "norm.weight": "head"} {
				if seen[p] != want {
					t.Errorf("vit-mini: %s in %s, want %s", p, seen[p], want)
				}
			}
			g := must(GroupByPattern(m, "attention", `attn\.qkv`))
			if len(g.Params) != 6 || g.Kind != models.KindMSA || g.Index != -1 {
				t.Errorf("vit-mini: pattern attn.qkv: %d parameters, kind %v, index %d", len(g.Params), g.Kind, g.Index)
			}
		case "resnet-mini":
			if seen["bn1.weight"] != "conv1" || seen["fc.bias"] != "fc" {
				t.Errorf("resnet-mini: bn1.weight in %s, fc.bias in %s", seen["bn1.weight"], seen["fc.bias"])
			}
		case "alternet-mini":
			if seen["bn.weight"] != "fc" || seen["layer2.1.attn.rel_pos"] != "layer2.1" {
				t.Errorf("alternet-mini: bn.weight in %s, layer2.1.attn.rel_pos in %s", seen["bn.weight"], seen["layer2.1.attn.rel_pos"])
			}
		}
		if _, err := GroupByPattern(m, "", "no-such"); err == nil {
			t.Errorf("%s: a pattern matching nothing accepted", name)
		}
		if _, err := NewBatchHessian(m, batchOf(t, 0, 2, data.Augment{}), &HessianOptions{Params: []string{"no.such"}}); err == nil {
			t.Errorf("%s: an unknown parameter accepted", name)
		}
		m.Close()
	}
}

// TestBlockSpectraMatchDenseBlocks runs BlockSpectra on the float64 tinyNet
// with two groups (conv, fc) and two minibatches, and compares each
// result with the dense block of that batch's assembled Hessian: the top 5
// by magnitude to 1e-4 (the default solver's accuracy), the trace to
// 1e-9 (Hutch++ with three times the block's size in products sketches it
// whole), and the SLQ nodes lie within the block's spectrum. Per-kind
// summaries pool the blocks' values.
func TestBlockSpectraMatchDenseBlocks(t *testing.T) {
	lockThread(t)
	m := newTinyNet(t, gotch.Double, 33)
	mb := must(NewMinibatches(mnist(t), nil, 8, 2, 4, data.Augment{}))
	groups := []ParamGroup{must(GroupByPattern(m, "conv", `^conv\.`)), must(GroupByPattern(m, "fc", `^fc\.`))}
	var seen []string
	res := must(BlockSpectra(context.Background(), m, mb, groups, &BlockSpectrumOptions{TraceProducts: 3*90 + 2,
		Density: &hessian.SLQSettings{Steps: 90}}, func(b BlockSpectrum) error {
		seen = append(seen, b.Group.Name)
		return nil
	}))
	if !slices.Equal(seen, []string{"conv", "fc"}) || len(res) != 2 {
		t.Fatalf("done saw %v, %d results", seen, len(res))
	}
	for _, r := range res {
		spans := must(r.Group.Spans(m))
		for _, bb := range r.Batches {
			batch := must(mb.Batch(bb.Batch))
			h := must(NewBatchHessian(m, batch, nil))
			full := must(AssembleHessian(h))
			h.Close()
			batch.Close()
			dense := sub(full, spans)
			var es mat.EigenSym
			es.Factorize(dense, false)
			vals := es.Values(nil)
			want := topMagnitude(vals, 5)
			for i := range want {
				if math.Abs(bb.Values[i]-want[i]) > 1e-4*math.Abs(want[i]) {
					t.Errorf("%s, batch %d: eigenvalue %d %v, dense block %v", r.Group.Name, bb.Batch, i, bb.Values[i], want[i])
				}
			}
			var tr float64
			for _, x := range vals {
				tr += x
			}
			if math.Abs(bb.Trace.Mean-tr) > 1e-9*math.Abs(tr) {
				t.Errorf("%s, batch %d: trace %v, dense block %v", r.Group.Name, bb.Batch, bb.Trace.Mean, tr)
			}
			// The quadrature's nodes are Ritz values of the block: they lie
			// within its spectrum (on another operator they would not).
			for _, x := range bb.Density.Nodes[0] {
				if x < vals[0]-1e-9 || x > vals[len(vals)-1]+1e-9 {
					t.Errorf("%s, batch %d: SLQ node %v outside the spectrum [%v, %v]", r.Group.Name, bb.Batch, x, vals[0], vals[len(vals)-1])
				}
			}
			t.Logf("%s, batch %d: top %.4g (dense %.4g), trace %.4g, %d products", r.Group.Name, bb.Batch, bb.Values, want, bb.Trace.Mean, bb.Products)
		}
	}
	ks := must(SummarizeKinds(res))
	if len(ks) != 1 || ks[0].Blocks != 2 || ks[0].N != 20 {
		t.Errorf("kind summaries %+v, want one kind of 2 blocks and 20 values", ks)
	}
}

// TestCurvatureErrors: names round-trip, bad arguments are errors, and a
// product after Close is an error rather than a crash.
func TestCurvatureErrors(t *testing.T) {
	lockThread(t)
	for _, c := range []Curvature{CurvatureHessian, CurvatureGGN, CurvatureFisher} {
		if got, err := ParseCurvature(c.String()); err != nil || got != c {
			t.Errorf("ParseCurvature(%q) = %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseCurvature("kfac"); err == nil {
		t.Error("unknown curvature name accepted")
	}
	m := newTinyNet(t, gotch.Float, 34)
	bt := batchOf(t, 0, 4, data.Augment{})
	if _, err := NewBatchGGN(CurvatureHessian, m, bt, nil); err == nil {
		t.Error("NewBatchGGN of the Hessian accepted")
	}
	if _, err := NewCurvature(Curvature(7), m, bt, nil); err == nil {
		t.Error("unknown curvature accepted")
	}
	if op, err := NewCurvature(CurvatureGGN, m, nil, nil); err == nil || op != nil {
		t.Errorf("GGN of no batch: %v, %v", op, err)
	}
	if _, err := NewCurvature(CurvatureFisher, m, bt, &CurvatureOptions{HessianOptions: HessianOptions{Params: []string{}}}); err == nil {
		t.Error("empty parameter group accepted")
	}
	g := must(NewCurvature(CurvatureGGN, m, bt, nil))
	g.Close()
	g.Close()
	v := make([]float64, g.Dim())
	if err := g.MulVec(v, v); err == nil {
		t.Error("product after Close accepted")
	}
}

package analysis

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"
)

// Curvature names a curvature matrix of a batch's loss.
type Curvature int

const (
	// CurvatureHessian is the Hessian of the loss (BatchHessian).
	CurvatureHessian Curvature = iota
	// CurvatureGGN is the generalised Gauss-Newton matrix JᵀH_zJ (BatchGGN).
	CurvatureGGN
	// CurvatureFisher is the empirical Fisher matrix (1/B)Σ g_i g_iᵀ
	// (BatchGGN with the Fisher's logit matrix).
	CurvatureFisher
)

var curvatureNames = [...]string{"hessian", "ggn", "fisher"}

// String returns the curvature's short name: hessian, ggn or fisher.
func (c Curvature) String() string {
	if c < 0 || int(c) >= len(curvatureNames) {
		return fmt.Sprintf("Curvature(%d)", int(c))
	}
	return curvatureNames[c]
}

// ParseCurvature is String's inverse.
func ParseCurvature(s string) (Curvature, error) {
	for i, n := range curvatureNames {
		if n == s {
			return Curvature(i), nil
		}
	}
	return 0, fmt.Errorf("analysis: unknown curvature %q (want hessian, ggn or fisher)", s)
}

// CurvatureOperator is a curvature matrix of one batch's loss as a
// hessian.Operator, holding libtorch memory until Close.
type CurvatureOperator interface {
	hessian.Operator
	// Loss returns the batch's loss (without the L2 term).
	Loss() float64
	// Products returns the number of products computed so far.
	Products() int
	// Close releases the graphs; products after Close are errors.
	Close()
}

// CurvatureOptions configures NewCurvature and NewBatchGGN. The zero
// value, or a nil pointer, is the NLL over every trainable parameter, J v
// by the double-vjp trick.
type CurvatureOptions struct {
	HessianOptions
	// ForwardMode computes the GGN's and the Fisher's J v by forward-mode
	// differentiation (a forward pass carrying tangents, per product)
	// instead of the double-vjp trick (a double-backward pass through a
	// kept graph). Both are exact; their costs are compared in
	// docs/benchmarks.md. Ignored for the Hessian. libtorch 1.13 has one
	// forward-mode level per process: operators with ForwardMode must not
	// compute products on several threads at once (OnWorkers, Workers).
	ForwardMode bool
}

// NewCurvature builds the operator of kind c for m's loss on b: a
// *BatchHessian or a *BatchGGN (for the GGN and the Fisher).
func NewCurvature(c Curvature, m models.Model, b *torchdata.Batch, o *CurvatureOptions) (CurvatureOperator, error) {
	var opt CurvatureOptions
	if o != nil {
		opt = *o
	}
	switch c {
	case CurvatureHessian:
		h, err := NewBatchHessian(m, b, &opt.HessianOptions)
		if err != nil {
			return nil, err
		}
		return h, nil
	case CurvatureGGN, CurvatureFisher:
		g, err := newBatchGGN(c, m, b, &opt)
		if err != nil {
			return nil, err
		}
		return g, nil
	}
	return nil, fmt.Errorf("analysis: unknown %v", c)
}

// BatchGGN is the generalised Gauss-Newton matrix or the empirical Fisher
// matrix of a model's loss on one batch, with respect to its trainable
// parameters (or a group of them, HessianOptions.Params), as a
// hessian.Operator. With z the batch's logits (B × C, in eval mode), J =
// ∂z/∂θ, p_i = softmax(z_i), t_i the targets (one-hot labels, or the
// batch's soft targets: label smoothing, mixup, CutMix) and the loss
// L = (1/B) Σ_i ℓ_i, ℓ_i = -Σ_c t_ic log p_ic (train.Loss):
//
//	GGN    G v = Jᵀ H_z J v,   H_z = (1/B) blockdiag_i(s_i (diag(p_i) - p_i p_iᵀ)),
//	Fisher F v = Jᵀ R J v,     R   = (1/B) blockdiag_i(r_i r_iᵀ),  r_i = s_i p_i - t_i,
//
// with s_i = Σ_c t_ic (one, up to the rounding of float32 soft targets),
// plus wd·v for the L2 term (wd/2)|θ|², exactly as BatchHessian adds it
// (HessianOptions.WeightDecay), so that the three operators differ only in
// the data term. H_z is the Hessian of L in logit space and r_i = ∂ℓ_i/∂z_i;
// neither depends on the targets beyond s_i, for label smoothing, mixup or
// CutMix alike. F = (1/B) Σ_i g_i g_iᵀ with g_i = J_iᵀ r_i the gradient of
// example i's loss. Both are positive semi-definite (plus wd·I).
//
// Each product computes J v (the double-vjp trick on a kept graph, or a
// forward pass in forward mode), multiplies by H_z or R in float64, and
// computes Jᵀu (a backward pass through the kept graph). NewBatchGGN runs
// one forward pass and two backward passes (one keeping the graph of Jᵀu).
// Vectors are float64; products are computed in the model's precision. A
// BatchGGN holds libtorch memory until Close; it is not safe for
// concurrent use and must be used on the OS thread that built it.
type BatchGGN struct {
	kind     Curvature
	label    string
	wd       float64
	forward  bool
	m        models.Model
	images   *ts.Tensor // the batch's images (shared), for forward mode
	params   []*ts.Tensor
	shapes   []int
	n        int
	logits   *ts.Tensor
	jac      *torchx.Jacobian
	p, r     []float64 // softmax and residual s·p - t, B×C row-major
	s        []float64 // target sums, per example
	b, c     int
	v        []*ts.Tensor // input tensors, reused by every product
	u        *ts.Tensor   // logit-space vector, reused
	jv, hu   []float64
	loss     float64
	products int
	scope    torchx.Scope // tensors owned for the operator's lifetime
}

// NewBatchGGN builds the GGN (c = CurvatureGGN) or empirical Fisher (c =
// CurvatureFisher) operator of m's loss on b; see BatchGGN. The batch is
// borrowed; it may be closed once NewBatchGGN returns. A non-finite loss is
// an error naming the batch.
func NewBatchGGN(c Curvature, m models.Model, b *torchdata.Batch, o *CurvatureOptions) (*BatchGGN, error) {
	var opt CurvatureOptions
	if o != nil {
		opt = *o
	}
	if c != CurvatureGGN && c != CurvatureFisher {
		return nil, fmt.Errorf("analysis: NewBatchGGN of %v", c)
	}
	return newBatchGGN(c, m, b, &opt)
}

func newBatchGGN(c Curvature, m models.Model, b *torchdata.Batch, o *CurvatureOptions) (*BatchGGN, error) {
	opt, err := o.values()
	if err != nil {
		return nil, err
	}
	if m == nil || b == nil || b.Images == nil || b.Labels == nil {
		return nil, fmt.Errorf("analysis: %s: %v needs a model and a batch", opt.Label, c)
	}
	params, err := operatorParams(m, opt.Params)
	if err != nil {
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	tensors, n := paramTensors(params)
	g := &BatchGGN{kind: c, label: opt.Label, wd: opt.WeightDecay, forward: o.ForwardMode, m: m,
		params: tensors, n: n, shapes: make([]int, len(params))}
	for i, p := range params {
		g.shapes[i] = sizeOf(p.Shape)
	}
	if err := g.build(b); err != nil {
		g.Close()
		return nil, fmt.Errorf("analysis: %s: %w", opt.Label, err)
	}
	return g, nil
}

// build runs the forward pass, the loss and the kept backward graph.
func (g *BatchGGN) build(b *torchdata.Batch) error {
	prev := torchx.SetGradEnabled(true)
	defer torchx.SetGradEnabled(prev)
	var tmp torchx.Scope
	defer tmp.Close()
	dev, err := g.params[0].Device()
	if err != nil {
		return err
	}
	batch := b
	if dev != gotch.CPU {
		moved := &torchdata.Batch{Mixing: b.Mixing}
		for _, pair := range []struct{ dst, src **ts.Tensor }{{&moved.Images, &b.Images}, {&moved.Labels, &b.Labels}, {&moved.Targets, &b.Targets}} {
			if *pair.src == nil {
				continue
			}
			t, err := (*pair.src).To(dev, false)
			if err != nil {
				return fmt.Errorf("move batch to %v: %w", dev, err)
			}
			*pair.dst = g.scope.Add(t)
		}
		batch = moved
	}
	if g.forward {
		img, err := batch.Images.ShallowClone()
		if err != nil {
			return err
		}
		g.images = g.scope.Add(img)
	}
	logits, err := g.m.Forward(batch.Images, models.Eval, nil)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	g.logits = g.scope.Add(logits)
	shape, err := logits.Size()
	if err != nil {
		return err
	}
	if len(shape) != 2 {
		return fmt.Errorf("logits of shape %v, want (batch, classes)", shape)
	}
	g.b, g.c = int(shape[0]), int(shape[1])
	loss, err := train.Loss(logits, batch)
	if err != nil {
		return err
	}
	tmp.Add(loss)
	if g.loss, err = train.Scalar(loss); err != nil {
		return err
	}
	if math.IsNaN(g.loss) || math.IsInf(g.loss, 0) {
		return fmt.Errorf("non-finite loss %v (diverged model?)", g.loss)
	}
	if err := g.softmax(batch); err != nil {
		return err
	}
	if g.jac, err = torchx.NewJacobian(logits, g.params); err != nil {
		return err
	}
	for _, t := range g.params {
		z, err := t.ZerosLike(false)
		if err != nil {
			return err
		}
		g.v = append(g.v, g.scope.Add(z))
	}
	u, err := logits.ZerosLike(false)
	if err != nil {
		return err
	}
	g.u = g.scope.Add(u)
	g.jv = make([]float64, g.b*g.c)
	g.hu = make([]float64, g.b*g.c)
	return nil
}

// softmax computes p = softmax(z), the target sums s and r = s·p - t in
// float64 from the logits and the batch's targets.
func (g *BatchGGN) softmax(b *torchdata.Batch) error {
	z := make([]float64, g.b*g.c)
	if err := torchx.CopyOut(z, g.logits); err != nil {
		return err
	}
	g.p = make([]float64, len(z))
	g.r = make([]float64, len(z))
	for i := range g.b {
		row := z[i*g.c : (i+1)*g.c]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, x)
		}
		var sum float64
		for j, x := range row {
			e := math.Exp(x - mx)
			g.p[i*g.c+j] = e
			sum += e
		}
		for j := range row {
			g.p[i*g.c+j] /= sum
		}
	}
	copy(g.r, g.p)
	g.s = make([]float64, g.b)
	if b.Targets != nil {
		t := make([]float64, len(z))
		if err := torchx.CopyOut(t, b.Targets); err != nil {
			return fmt.Errorf("targets: %w", err)
		}
		for i := range g.b {
			for _, x := range t[i*g.c : (i+1)*g.c] {
				g.s[i] += x
			}
			for j := i * g.c; j < (i+1)*g.c; j++ {
				g.r[j] = g.s[i]*g.p[j] - t[j]
			}
		}
		return nil
	}
	for i := range g.s {
		g.s[i] = 1
	}
	labels := make([]int64, g.b)
	if err := torchx.CopyOut(labels, b.Labels); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	for i, y := range labels {
		if y < 0 || int(y) >= g.c {
			return fmt.Errorf("label %d of example %d outside 0..%d", y, i, g.c-1)
		}
		g.r[i*g.c+int(y)]--
	}
	return nil
}

// Dim returns the number of parameters the operator acts on.
func (g *BatchGGN) Dim() int { return g.n }

// Loss returns the batch's NLL (without the L2 term) at the weights.
func (g *BatchGGN) Loss() float64 { return g.loss }

// Products returns the number of products computed so far.
func (g *BatchGGN) Products() int { return g.products }

// Kind returns CurvatureGGN or CurvatureFisher.
func (g *BatchGGN) Kind() Curvature { return g.kind }

// MulVec stores (G + wd·I) v or (F + wd·I) v in dst. A product holding a
// NaN or an infinity is an error naming the batch that wraps
// hessian.ErrNonFinite. It panics if the lengths differ from Dim.
func (g *BatchGGN) MulVec(dst, v []float64) error {
	if len(dst) != g.n || len(v) != g.n {
		panic(fmt.Sprintf("analysis: MulVec lengths %d and %d, dimension %d", len(dst), len(v), g.n))
	}
	if g.jac == nil {
		return fmt.Errorf("analysis: %s: %v used after Close", g.label, g.kind)
	}
	off := 0
	for i, t := range g.v {
		if err := torchx.CopyIn(t, v[off:off+g.shapes[i]]); err != nil {
			return fmt.Errorf("analysis: %s: %w", g.label, err)
		}
		off += g.shapes[i]
	}
	if err := g.jvp(); err != nil {
		return fmt.Errorf("analysis: %s: %w", g.label, err)
	}
	g.logitProduct(g.hu, g.jv)
	if err := torchx.CopyIn(g.u, g.hu); err != nil {
		return fmt.Errorf("analysis: %s: %w", g.label, err)
	}
	out, err := g.jac.ApplyT(g.u)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", g.label, err)
	}
	g.products++
	err = torchx.Flatten(dst, out)
	torchx.DropAll(out)
	if err != nil {
		return fmt.Errorf("analysis: %s: %w", g.label, err)
	}
	return finish(dst, v, g.wd, g.label)
}

// jvp stores J v in g.jv for v in g.v.
func (g *BatchGGN) jvp() (err error) {
	if !g.forward {
		var jv *ts.Tensor
		if jv, err = g.jac.Apply(g.v); err != nil {
			return err
		}
		defer torchx.DropTo(&err, jv)
		return torchx.CopyOut(g.jv, jv)
	}
	d, err := torchx.EnterDual()
	if err != nil {
		return err
	}
	defer func() { _ = d.Exit() }()
	for i, p := range g.params {
		if err := d.SetTangent(p, g.v[i]); err != nil {
			return err
		}
	}
	var tan *ts.Tensor
	err = torchx.NoGrad(func() (err error) {
		var out *ts.Tensor
		if out, err = g.m.Forward(g.images, models.Eval, nil); err != nil {
			return fmt.Errorf("forward-mode pass: %w", err)
		}
		defer torchx.DropTo(&err, out)
		tan, err = d.Tangent(out)
		return err
	})
	if err != nil {
		return err
	}
	defer torchx.DropTo(&err, tan)
	if err := torchx.CopyOut(g.jv, tan); err != nil {
		return err
	}
	return d.Exit()
}

// logitProduct stores H_z a (GGN) or R a (Fisher) in dst, per example.
func (g *BatchGGN) logitProduct(dst, a []float64) {
	inv := 1 / float64(g.b)
	for i := range g.b {
		lo, hi := i*g.c, (i+1)*g.c
		ai := a[lo:hi]
		switch g.kind {
		case CurvatureGGN:
			p := g.p[lo:hi]
			var pa float64
			for j, x := range ai {
				pa += p[j] * x
			}
			for j, x := range ai {
				dst[lo+j] = inv * g.s[i] * p[j] * (x - pa)
			}
		default:
			r := g.r[lo:hi]
			var ra float64
			for j, x := range ai {
				ra += r[j] * x
			}
			for j := range ai {
				dst[lo+j] = inv * r[j] * ra
			}
		}
	}
}

// Close releases the graphs and the tensors. It is safe to call more than
// once; products after Close are errors.
func (g *BatchGGN) Close() {
	if g.jac != nil {
		g.jac.Close()
		g.jac = nil
	}
	g.scope.Close()
	g.logits, g.u, g.v = nil, nil, nil
}

package models

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// fwd carries one forward pass: the mode, the probe, the intermediate
// tensors to drop at the end and the first error. Every op is a no-op
// returning nil once an error occurred, so forward code reads straight.
type fwd struct {
	s     torchx.Scope
	err   error
	mode  Mode
	probe Probe
	folds *folds    // the model's kept batch-norm folds (convBN); nil: fold at every pass
	drop  *dropRows // drop-path masks drawn ahead (ForwardTrainRows); nil: draw here
}

// t registers an op's result with the pass and records its error.
func (f *fwd) t(r *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		if f.err == nil {
			f.err = err
		}
		return nil
	}
	return f.s.Add(r)
}

func (f *fwd) ok(xs ...*ts.Tensor) bool {
	if f.err != nil {
		return false
	}
	for _, x := range xs {
		if x == nil {
			f.err = fmt.Errorf("models: internal error: nil tensor in forward pass")
			return false
		}
	}
	return true
}

// size returns x's shape, false once an error occurred (recorded).
func (f *fwd) size(x *ts.Tensor) ([]int64, bool) {
	if !f.ok(x) {
		return nil, false
	}
	shape, err := x.Size()
	if err != nil {
		f.err = err
		return nil, false
	}
	return shape, true
}

func orNone(t *ts.Tensor) *ts.Tensor {
	if t == nil {
		return ts.None
	}
	return t
}

func (f *fwd) conv(x *ts.Tensor, c *conv) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if fastDerivatives && onCPU(x) {
		// libtorch's conv2d with a double backward that stays in oneDNN.
		return f.t(torchx.Conv2d(x, c.w, c.b, c.stride, c.pad, c.groups))
	}
	return f.t(ts.Conv2d(x, c.w, orNone(c.b), []int64{c.stride, c.stride}, []int64{c.pad, c.pad}, []int64{1, 1}, c.groups))
}

// onCPU reports whether x lives on the CPU.
func onCPU(x *ts.Tensor) bool {
	dev, err := x.Device()
	// Compared by name: gotch's Device.OfCInt returns CPU with another
	// Value than gotch.CPU.
	return err == nil && dev.Name == gotch.CPU.Name
}

// fastDerivatives selects, on the CPU (the default), torchx.Conv2d for the
// convolutions and the affine form of batch norm in evaluation passes that
// are differentiated (bnAffine): the same first derivatives, and second
// derivatives (Hessian-vector products) without libtorch 1.13's slow
// paths. false selects libtorch's conv2d and batch_norm, which the tests
// compare them with.
var fastDerivatives = true

// bnMomentum and bnEps are torch.nn.BatchNorm2d's defaults.
const (
	bnMomentum = 0.1
	bnEps      = 1e-5
)

func (f *fwd) bn(x *ts.Tensor, b *batchNorm) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if fastDerivatives && f.mode == Eval && torchx.GradEnabled() {
		return f.bnAffine(x, b)
	}
	if f.mode == Train && f.drop != nil && f.drop.stats != nil {
		// One worker's rows of a split pass: the batch's statistics.
		return f.t(torchx.BatchNormShared(x, b.w, b.b, b.mean, b.vr, bnMomentum, bnEps, f.drop.stats, f.drop.rank))
	}
	if channelsLast && f.mode == Train && onCPU(x) {
		// libtorch's channels-last kernel sums in float32 and loses
		// digits on maps with a large mean; torchx's sums in double.
		return f.t(torchx.BatchNormTrain(x, b.w, b.b, b.mean, b.vr, bnMomentum, bnEps))
	}
	return f.t(ts.BatchNorm(x, b.w, b.b, b.mean, b.vr, f.mode == Train, bnMomentum, bnEps, false))
}

// bnReLU is relu(bn(x, b)): one kernel, with no pass of the ReLU's own
// over the map, where batch norm takes torchx's training kernel
// (torchx.BatchNormReLU); else the two operations.
func (f *fwd) bnReLU(x *ts.Tensor, b *batchNorm) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if f.mode == Train && f.drop != nil && f.drop.stats != nil {
		return f.t(torchx.BatchNormReLU(x, b.w, b.b, b.mean, b.vr, bnMomentum, bnEps, f.drop.stats, f.drop.rank))
	}
	if channelsLast && f.mode == Train && onCPU(x) {
		return f.t(torchx.BatchNormReLU(x, b.w, b.b, b.mean, b.vr, bnMomentum, bnEps, nil, 0))
	}
	return f.reluOwned(f.bn(x, b))
}

// bnAddReLU is relu(bn(x, b) + res): one kernel, with no pass of the
// addition's or the ReLU's own over the map, where batch norm takes
// torchx's training kernel (torchx.BatchNormAddReLU); else the three
// operations.
func (f *fwd) bnAddReLU(x *ts.Tensor, b *batchNorm, res *ts.Tensor) *ts.Tensor {
	if !f.ok(x, res) {
		return nil
	}
	if f.mode == Train && f.drop != nil && f.drop.stats != nil {
		return f.t(torchx.BatchNormAddReLU(x, b.w, b.b, res, b.mean, b.vr, bnMomentum, bnEps, f.drop.stats, f.drop.rank))
	}
	if channelsLast && f.mode == Train && onCPU(x) {
		return f.t(torchx.BatchNormAddReLU(x, b.w, b.b, res, b.mean, b.vr, bnMomentum, bnEps, nil, 0))
	}
	return f.reluOwned(f.addOwned(f.bn(x, b), res))
}

// bnAffine is batch norm in evaluation written as the per-channel affine
// map it is, x·α + β with α = w/sqrt(var + eps) and β = b − mean·α (the
// terms libtorch's own evaluation kernel forms), for passes that will be
// differentiated: libtorch 1.13 differentiates its batch_norm twice with
// the general formula for batch statistics, a long chain of elementwise
// operations on every activation (a quarter of a Hessian-vector product of
// resnet-mini, profiled), where the affine map's second derivatives are
// two multiplications. The values agree with batch_norm's to float32
// rounding.
func (f *fwd) bnAffine(x *ts.Tensor, b *batchNorm) *ts.Tensor {
	alpha, beta := f.bnCoeffs(b)
	alpha, beta = f.reshape(alpha, 1, -1, 1, 1), f.reshape(beta, 1, -1, 1, 1)
	if !f.ok(x, alpha, beta) {
		return nil
	}
	return f.t(beta.Addcmul(x, alpha, false))
}

// bnCoeffs returns batch norm's evaluation map as per-channel vectors
// (C): α = w/sqrt(var + eps) and β = b − mean·α.
func (f *fwd) bnCoeffs(b *batchNorm) (alpha, beta *ts.Tensor) {
	eps := ts.FloatScalar(bnEps)
	ve := f.t(b.vr.AddScalar(eps, false))
	if err := eps.Drop(); err != nil && f.err == nil {
		f.err = fmt.Errorf("models: drop a scalar: %w", err)
	}
	if !f.ok(ve) {
		return nil, nil
	}
	alpha = f.t(b.w.Div(f.t(ve.Sqrt(false)), false))
	if !f.ok(alpha) {
		return nil, nil
	}
	beta = f.t(b.b.Sub(f.t(b.mean.Mul(alpha, false)), false))
	return alpha, beta
}

// foldBN selects, for the ResNets' inference passes (evaluation mode
// without gradients, on the CPU: landscape points, feature probes, test
// accuracy), batch norm folded into the convolution before it and ReLUs
// and residual additions done in place (convBN, reluOwned, addOwned): an
// evaluation pass of resnet-mini 1.26 times faster (BenchmarkForward,
// batch 100). false computes them as in every other pass, which the tests
// compare with. AlterNet does not use them: its gain was 1.1x, and at the
// far corners of a landscape of an untrained alternet-mini (NLL 17,000)
// the rounding of the folded pass moved the NLL by 4e-4 relative from the
// op-by-op pass of its TorchScript twin, which the unfolded pass (the same
// operators) matches to 1e-7; which of the two is nearer the exact value
// was not established.
var foldBN = true

// inference reports whether this pass is an inference pass (foldBN).
func (f *fwd) inference(x *ts.Tensor) bool {
	return foldBN && f.mode == Eval && x != nil && !torchx.GradEnabled() && onCPU(x)
}

// convBN is convolution c followed by batch norm b. In inference the norm,
// the per-channel map y·α + β (bnCoeffs), is folded into the convolution:
// weights w·α per output channel and bias β (+ c's bias·α), so that the
// activations are written once instead of read and written again. The
// values agree with the unfolded pair's to float32 rounding. The fold is
// the model's kept one when it has not been written since (folds).
func (f *fwd) convBN(x *ts.Tensor, c *conv, b *batchNorm) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if !f.inference(x) {
		return f.bn(f.conv(x, c), b)
	}
	folded := *c
	if folded.w, folded.b = f.folded(c, b); !f.ok(folded.w, folded.b) {
		return nil
	}
	return f.conv(x, &folded)
}

// folded returns the weight and bias of c with b folded into them (the
// model's kept fold, or this pass's own when the model keeps none),
// registered with the pass; nil, with the error recorded, on failure.
func (f *fwd) folded(c *conv, b *batchNorm) (w, bias *ts.Tensor) {
	fs := f.folds
	if fs == nil { // a model that keeps none: this pass's own
		fs = &folds{}
		defer fs.drop()
	}
	w, bias, err := fs.get(c, b)
	if err != nil {
		f.err = err
		return nil, nil
	}
	return f.s.Add(w), f.s.Add(bias)
}

// fuseConv selects, for the ResNets' inference passes, convolution, folded
// batch norm, residual addition and ReLU as one oneDNN primitive
// (torchx.ConvInfer, convBNAct), which writes each map once. false runs
// them as convBN, addOwned and reluOwned, which the tests compare with.
var fuseConv = true

// convBNAct is ReLU(bn(conv(x)) + res) (res may be nil, relu selects the
// ReLU): in inference with fuseConv, one fused oneDNN call with batch norm
// folded into the convolution (convBN's kept fold); otherwise convBN, then
// the addition and the ReLU. res is only read unless resOwned: then it is
// a tensor of this pass that nothing reads afterwards, and the fused call
// writes the result into its memory (saving a copy).
func (f *fwd) convBNAct(x *ts.Tensor, c *conv, b *batchNorm, res *ts.Tensor, resOwned, relu bool) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if !fuseConv || !f.inference(x) || c.groups != 1 {
		if relu && !f.inference(x) {
			if res == nil {
				return f.bnReLU(f.conv(x, c), b)
			}
			return f.bnAddReLU(f.conv(x, c), b, res)
		}
		y := f.convBN(x, c, b)
		if res != nil {
			y = f.addOwned(y, res)
		}
		if relu {
			y = f.reluOwned(y)
		}
		return y
	}
	if res != nil && !f.ok(res) {
		return nil
	}
	w, bias := f.folded(c, b)
	if !f.ok(w, bias) {
		return nil
	}
	if res != nil && resOwned {
		return f.t(torchx.ConvInferAdd(res, x, w, bias, c.stride, c.pad, relu))
	}
	return f.t(torchx.ConvInfer(x, w, bias, res, c.stride, c.pad, relu))
}

// reluOwned is ReLU of x, a tensor this pass has just made and nothing
// else reads (never a block's input or output): in inference, in place.
func (f *fwd) reluOwned(x *ts.Tensor) *ts.Tensor {
	if !f.inference(x) || !f.ok(x) {
		return f.relu(x)
	}
	if err := torchx.InPlace(x, x.Relu_); err != nil {
		f.err = err
		return nil
	}
	return x
}

// addOwned is a + b for a tensor a this pass has just made and nothing
// else reads: in inference, added in place into a.
func (f *fwd) addOwned(a, b *ts.Tensor) *ts.Tensor {
	if !f.inference(a) || !f.ok(a, b) {
		return f.add(a, b)
	}
	if err := torchx.InPlace(a, func() error { return a.Add_(b) }); err != nil {
		f.err = err
		return nil
	}
	return a
}

func (f *fwd) relu(x *ts.Tensor) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Relu(false))
}

func (f *fwd) gelu(x *ts.Tensor) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	if channelsLast && onCPU(x) {
		// On the channels-last maps of AlterNet's MSA blocks, libtorch's
		// own GELU is 6-20 times slower (torchx.Gelu).
		return f.t(torchx.Gelu(x))
	}
	return f.t(x.Gelu(false))
}

func (f *fwd) add(a, b *ts.Tensor) *ts.Tensor {
	if !f.ok(a, b) {
		return nil
	}
	return f.t(a.Add(b, false))
}

func (f *fwd) linear(x *ts.Tensor, l *linear) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(ts.Linear(x, l.w, orNone(l.b)))
}

// lnEps is timm's ViT LayerNorm epsilon.
const lnEps = 1e-6

// layerNorm is libtorch's layer norm over the last dimension; recorded for
// autograd, its double backward (Hessian-vector products) is torchx's fused
// pass instead of libtorch's composite of about forty operators.
func (f *fwd) layerNorm(x *ts.Tensor, l *layerNorm) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(torchx.LayerNorm(x, l.w, l.b, lnEps))
}

func (f *fwd) mulScalar(x *ts.Tensor, v float64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	sc := ts.FloatScalar(v)
	out := f.t(x.MulScalar(sc, false))
	if err := sc.Drop(); err != nil && f.err == nil {
		f.err = fmt.Errorf("models: drop a scalar: %w", err)
	}
	return out
}

func (f *fwd) reshape(x *ts.Tensor, shape ...int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Reshape(shape, false))
}

func (f *fwd) permute(x *ts.Tensor, dims ...int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Permute(dims, false))
}

func (f *fwd) transpose(x *ts.Tensor, a, b int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Transpose(a, b, false))
}

func (f *fwd) matmul(a, b *ts.Tensor) *ts.Tensor {
	if !f.ok(a, b) {
		return nil
	}
	return f.t(a.Matmul(b, false))
}

func (f *fwd) einsum(eq string, xs ...*ts.Tensor) *ts.Tensor {
	if !f.ok(xs...) {
		return nil
	}
	vals := make([]ts.Tensor, len(xs))
	for i, x := range xs {
		vals[i] = *x
	}
	return f.t(ts.Einsum(eq, vals))
}

func (f *fwd) softmax(x *ts.Tensor, dim int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Softmax(dim, gotch.Float, false))
}

func (f *fwd) mean(x *ts.Tensor, dims ...int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.MeanDim(dims, false, gotch.Float, false))
}

func (f *fwd) sel(x *ts.Tensor, dim, index int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Select(dim, index, false))
}

func (f *fwd) cat(dim int64, xs ...*ts.Tensor) *ts.Tensor {
	if !f.ok(xs...) {
		return nil
	}
	vals := make([]ts.Tensor, len(xs))
	for i, x := range xs {
		vals[i] = *x
	}
	return f.t(ts.Cat(vals, dim))
}

func (f *fwd) expand(x *ts.Tensor, shape ...int64) *ts.Tensor {
	if !f.ok(x) {
		return nil
	}
	return f.t(x.Expand(shape, false, false))
}

// dropMask draws a stochastic-depth mask for n examples: shape (n, 1, …, 1)
// of the given rank, each entry 1 with probability 1 − rate, else 0 (one
// Bernoulli draw per example from libtorch's generator). The caller owns it.
func dropMask(n int64, rank int, rate float64, dev gotch.Device) (*ts.Tensor, error) {
	shape := make([]int64, rank)
	shape[0] = n
	for i := 1; i < rank; i++ {
		shape[i] = 1
	}
	mask, err := ts.Empty(shape, gotch.Float, dev)
	if err != nil {
		return nil, fmt.Errorf("models: drop-path mask: %w", err)
	}
	if err := torchx.InPlace(mask, func() error { return mask.BernoulliFloat_(1 - rate) }); err != nil {
		return nil, errors.Join(fmt.Errorf("models: drop-path mask: %w", err), mask.Drop())
	}
	return mask, nil
}

// dropPath applies stochastic depth to a residual branch in training mode:
// each sample's branch is kept with probability 1 - rate and scaled by
// 1/(1 - rate), as timm's DropPath does.
func (f *fwd) dropPath(x *ts.Tensor, rate float64) *ts.Tensor {
	if f.mode != Train || rate <= 0 || !f.ok(x) {
		return x
	}
	if f.drop != nil {
		mask := f.nextDropMask()
		if !f.ok(mask) {
			return nil
		}
		return f.mulScalar(f.t(x.Mul(mask, false)), 1/(1-rate))
	}
	shape, err := x.Size()
	if err != nil {
		f.err = err
		return nil
	}
	dev, err := x.Device()
	if err != nil {
		f.err = err
		return nil
	}
	mask := f.t(dropMask(shape[0], len(shape), rate, dev))
	if !f.ok(mask) {
		return nil
	}
	return f.mulScalar(f.t(x.Mul(mask, false)), 1/(1-rate))
}

// endBlock frees what a block made: every tensor registered since mark
// except the block's output out, and the block's input prev (when the pass
// owns it: the network's input belongs to the caller). Autograd keeps what
// backward needs, so this only lowers peak memory, most in evaluation.
func (f *fwd) endBlock(mark int, prev, out *ts.Tensor) {
	if f.err != nil {
		return
	}
	f.s.DropSince(mark, out)
	if prev != out {
		f.s.DropOwned(prev)
	}
}

// observe reports a layer's output to the probe, if any.
func (f *fwd) observe(l Layer, x *ts.Tensor) {
	if f.probe == nil || !f.ok(x) {
		return
	}
	if err := f.probe.Observe(l, x); err != nil {
		f.err = fmt.Errorf("models: probe at layer %d (%s): %w", l.Index, l.Name, err)
	}
}

// finish returns the pass's output, owned by the caller, and drops every
// intermediate tensor.
func (f *fwd) finish(out *ts.Tensor) (*ts.Tensor, error) {
	if f.err != nil {
		f.s.Close()
		return nil, f.err
	}
	f.s.Release(out)
	f.s.Close()
	return out, nil
}

// checkInput validates a batch against the model's configuration before any
// torch call, so a wrong shape is a clear error rather than a libtorch abort.
func checkInput(x *ts.Tensor, c Config) error {
	if x == nil {
		return fmt.Errorf("models: nil input")
	}
	shape, err := x.Size()
	if err != nil {
		return fmt.Errorf("models: input: %w", err)
	}
	if len(shape) != 4 || shape[0] < 1 || shape[1] != int64(c.InChannels) ||
		shape[2] != int64(c.ImageSize) || shape[3] != int64(c.ImageSize) {
		return fmt.Errorf("models: input of shape %v, want (B, %d, %d, %d)", shape, c.InChannels, c.ImageSize, c.ImageSize)
	}
	k, err := torchx.Kind(x)
	if err != nil {
		return fmt.Errorf("models: input: %w", err)
	}
	if k != gotch.Float {
		return fmt.Errorf("models: input of element type %v, want float32", k)
	}
	return nil
}

// dropRates returns stochastic-depth rates growing linearly from 0 to max
// over n blocks (timm's convention: torch.linspace(0, max, n)).
func dropRates(max float64, n int) []float64 {
	r := make([]float64, n)
	if n == 1 {
		return r
	}
	for i := range r {
		r[i] = max * float64(i) / float64(n-1)
	}
	return r
}

// fusedAttention selects torchx.Attention for the attention of the ViT and
// AlterNet blocks on the CPU (the default); false selects the composite of
// libtorch operators (matrix products, softmax) that it replaced, which
// the tests compare it with.
var fusedAttention = true

// useFused reports whether the fused attention applies to x: CPU tensors
// (the operator is CPU code), when selected.
func useFused(x *ts.Tensor) bool {
	return fusedAttention && x != nil && onCPU(x)
}

// channelsLast selects the channels-last layout for the activations of the
// convolutional presets on the CPU (the default): the input is converted
// once (the stem's output: a one-channel image is both layouts at once,
// and libtorch then picks the standard one), and every convolution, batch
// norm and elementwise operation after it keeps the layout, so that oneDNN runs the convolutions without
// converting to and from its blocked layout at every call. The weights
// stay in the standard layout (they are small; oneDNN reorders them). The
// numbers differ from the standard layout's by float32 rounding (other
// summation orders inside the convolutions). false selects the standard
// layout, which the tests compare it with.
var channelsLast = true

// layout converts a feature map to the activation layout in use.
func (f *fwd) layout(x *ts.Tensor) *ts.Tensor {
	if !channelsLast || !f.ok(x) {
		return x
	}
	if !onCPU(x) {
		return x
	}
	return f.t(torchx.ChannelsLast(x))
}

package torchx

// #include "shim.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// BatchNormTrain is batch norm with batch statistics, as in training:
// y = (x − μ)/sqrt(σ² + eps)·w + b per channel of the (N, C, H, W) map x,
// μ and σ² the mean and biased variance over N, H and W, and the running
// statistics (nil for none) updated in place as torch.nn.BatchNorm2d does
// (momentum; the unbiased variance). It is differentiable (twice).
//
// Channels-last float32 maps on the CPU take vitprobe's own kernel, whose
// per-channel sums run in double: libtorch 1.13's channels-last kernel
// sums in float32, which on maps whose mean is large against their spread
// loses digits in proportion (its gradients of an AlterNet with spatial
// smoothing were 1e-3 away from float64, against 1e-6 in the standard
// layout). Other inputs take libtorch's batch_norm. The caller owns the
// result.
func BatchNormTrain(x, w, b, runningMean, runningVar *ts.Tensor, momentum, eps float64) (*ts.Tensor, error) {
	return batchNormTrain(x, w, b, nil, runningMean, runningVar, momentum, eps, nil, 0, false)
}

// BatchNormReLU is max(0, BatchNormTrain(...)), or of BatchNormShared's
// with a group g (nil: none), differentiable (twice). Where batch norm
// takes vitprobe's kernel the ReLU is part of it: the forward pass writes
// the rectified map and the backward pass takes the gradient where the
// normalised value was positive (recomputed from x), so the ReLU costs no
// pass over the map of its own, forward or backward; the values and
// gradients are those of the two operations one after the other. Other
// inputs take libtorch's batch_norm and relu. The caller owns the result.
func BatchNormReLU(x, w, b, runningMean, runningVar *ts.Tensor, momentum, eps float64, g *StatsGroup, rank int) (*ts.Tensor, error) {
	return batchNormTrain(x, w, b, nil, runningMean, runningVar, momentum, eps, g, rank, true)
}

// BatchNormAddReLU is max(0, BatchNormTrain(...) + res), or with
// BatchNormShared's statistics given a group g (nil: none), for res a map
// of x's size (a residual block's shortcut), differentiable (twice) in
// x, w, b and res. Where batch norm takes vitprobe's kernel the addition
// and the ReLU are part of it: the forward pass writes the rectified sum,
// and the backward pass's sum pass forms and writes the gradient where
// the output was positive (which is also res's gradient), so neither the
// addition nor the ReLU has a pass over the map of its own. Other inputs
// take libtorch's operations. The caller owns the result.
func BatchNormAddReLU(x, w, b, res, runningMean, runningVar *ts.Tensor, momentum, eps float64, g *StatsGroup, rank int) (*ts.Tensor, error) {
	if res == nil {
		if g != nil {
			g.Abort()
		}
		return nil, fmt.Errorf("torchx: batch norm: nil residual map")
	}
	return batchNormTrain(x, w, b, res, runningMean, runningVar, momentum, eps, g, rank, true)
}

// BatchNormShared is BatchNormTrain for one worker's rows of a batch split
// over the participants of g: the statistics are those of the whole
// batch, the per-channel sums of every participant added in rank order
// (the same numbers whichever worker arrives first), and so are the sums
// of the backward pass, so that each worker's gradient with respect to its
// rows is the unsplit pass's; the gradients of w and b are this worker's
// part (the caller adds the parts). Every participant's running
// statistics take the batch's. Each participant must make the same calls
// in the same order, forward and backward (copies of one model), on its
// own OS thread; a call blocks until all have made it. x must be a float32
// (N, C, H, W) map on the CPU (taken to the channels-last layout if it is
// not), and the backward pass must not itself be differentiated. A failure
// abandons the exchange: the other participants' calls fail too, until
// g.Reset.
func BatchNormShared(x, w, b, runningMean, runningVar *ts.Tensor, momentum, eps float64, g *StatsGroup, rank int) (*ts.Tensor, error) {
	if g == nil || g.p == nil {
		return nil, fmt.Errorf("torchx: batch norm: no statistics group")
	}
	return batchNormTrain(x, w, b, nil, runningMean, runningVar, momentum, eps, g, rank, false)
}

func batchNormTrain(x, w, b, res, runningMean, runningVar *ts.Tensor, momentum, eps float64, g *StatsGroup, rank int, relu bool) (*ts.Tensor, error) {
	if g != nil && g.p == nil {
		return nil, fmt.Errorf("torchx: batch norm: a closed statistics group")
	}
	if x == nil || w == nil || b == nil {
		if g != nil {
			g.Abort()
		}
		return nil, fmt.Errorf("torchx: batch norm: nil input, weight or bias")
	}
	var rm, rv C.vp_tensor
	if runningMean != nil {
		rm = C.vp_tensor(runningMean.Ctensor())
	}
	if runningVar != nil {
		rv = C.vp_tensor(runningVar.Ctensor())
	}
	var grp C.vp_stats_group
	if g != nil {
		grp = g.p
	}
	var rs C.vp_tensor
	if res != nil {
		rs = C.vp_tensor(res.Ctensor())
	}
	var out C.vp_tensor
	if err := errFrom(C.vp_batch_norm_train(C.vp_tensor(x.Ctensor()), C.vp_tensor(w.Ctensor()), C.vp_tensor(b.Ctensor()),
		rm, rv, C.double(momentum), C.double(eps), grp, C.int(rank), cbool(relu), rs, &out)); err != nil {
		return nil, fmt.Errorf("torchx: batch norm: %w", err)
	}
	return ts.FromCtensor(unsafe.Pointer(out)), nil
}

// StatsGroup is the exchange through which the workers of a split
// training pass share batch norm's statistics (BatchNormShared). Reset
// opens it for a pass; a worker that fails calls Abort, so that the others
// fail instead of waiting for it.
type StatsGroup struct {
	p C.vp_stats_group
}

// NewStatsGroup makes an exchange for up to capacity workers, open for
// all of them. Close frees it.
func NewStatsGroup(capacity int) (*StatsGroup, error) {
	var p C.vp_stats_group
	if err := errFrom(C.vp_stats_group_new(C.int(capacity), &p)); err != nil {
		return nil, fmt.Errorf("torchx: %w", err)
	}
	return &StatsGroup{p: p}, nil
}

// Reset opens the exchange for a pass of n ≤ capacity participants, ranks
// 0..n-1; no call may be waiting in it.
func (g *StatsGroup) Reset(n int) error {
	if g.p == nil {
		return fmt.Errorf("torchx: statistics group used after Close")
	}
	if err := errFrom(C.vp_stats_group_reset(g.p, C.int(n))); err != nil {
		return fmt.Errorf("torchx: %w", err)
	}
	return nil
}

// Abort abandons the pass: waiting participants, and later calls until
// Reset, fail with an error.
func (g *StatsGroup) Abort() {
	if g.p != nil {
		C.vp_stats_group_abort(g.p)
	}
}

// Close frees the exchange; no graph built with it may be differentiated
// afterwards.
func (g *StatsGroup) Close() {
	if g.p != nil {
		C.vp_stats_group_free(g.p)
		g.p = nil
	}
}

// batchNormSIMD selects batch norm's AVX2 row kernels (on, where the CPU
// has AVX2 and FMA: the default) or the generic ones everywhere (off), and
// returns whether the AVX2 ones were in use; the tests run both.
func batchNormSIMD(on bool) bool { return C.vp_batch_norm_simd(cbool(on)) != 0 }

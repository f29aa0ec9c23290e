package torchx_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestBatchNormSharedMatchesWhole splits a batch of 7 maps (channel means
// 10, spread 1) over 3 workers (rows 3, 2, 2) that share batch norm's
// statistics, and compares with libtorch's batch_norm over the whole batch
// in float64: the outputs, the gradient of the nonlinear loss
// Σ r ⊙ y + ½ Σ y² with respect to every row (which depends on the other
// workers' rows through the statistics), the weight's and bias's gradients
// (the workers' parts added) and every worker's running statistics.
// Worker 1's map comes in the standard layout. Asked 1e-6 as
// BatchNormTrain is; a worker that took only its own rows' statistics is
// off by about 0.1 (logged).
func TestBatchNormSharedMatchesWhole(t *testing.T) {
	const n, ch, hw = 7, 5, 6
	rows := []int64{3, 2, 2}
	r := rand.New(rand.NewPCG(7, 5))
	per := int64(ch * hw * hw)
	xv := randVals(r, n*per, 1)
	for i := range xv {
		xv[i] = float64(float32(xv[i] + 10))
	}
	rv := randVals(r, n*per, 1)
	wv, bv := randVals(r, ch, 1), randVals(r, ch, 1)
	rmv, rvv := randVals(r, ch, 1), randVals(r, ch, 0.1)
	for i := range rvv {
		rvv[i] += 1
	}
	type result struct{ y, gx, gw, gb, stats []float64 }
	// part runs rows [lo, lo+m) with the statistics of g (nil: its own).
	part := func(k gotch.DType, lo, m int64, g *torchx.StatsGroup, rank int, channelsLast bool) (res result, err error) {
		var s torchx.Scope
		defer s.Close()
		mk := func(v []float64, shape []int64, grad bool) *ts.Tensor { return scoped(&s, k, v, shape, grad) }
		shape := []int64{m, ch, hw, hw}
		x := mk(xv[lo*per:(lo+m)*per], shape, true)
		w, b := mk(wv, []int64{ch}, true), mk(bv, []int64{ch}, true)
		rm, rvar := mk(rmv, []int64{ch}, false), mk(rvv, []int64{ch}, false)
		in := x
		if channelsLast {
			in = s.Add(must(torchx.ChannelsLast(x)))
		}
		var y *ts.Tensor
		switch {
		case g != nil:
			if y, err = torchx.BatchNormShared(in, w, b, rm, rvar, 0.1, 1e-5, g, rank); err != nil {
				return res, err
			}
			s.Add(y)
		case k == gotch.Double:
			y = s.Add(must(ts.BatchNorm(in, w, b, rm, rvar, true, 0.1, 1e-5, false)))
		default:
			y = s.Add(must(torchx.BatchNormTrain(in, w, b, rm, rvar, 0.1, 1e-5)))
		}
		gs, err := torchx.Grad(attnLoss(&s, y, mk(rv[lo*per:(lo+m)*per], shape, false)), []*ts.Tensor{x, w, b})
		if err != nil {
			return res, err
		}
		s.AddAll(gs)
		return result{flat(t, []*ts.Tensor{y}), flat(t, gs[:1]), flat(t, gs[1:2]), flat(t, gs[2:]), flat(t, []*ts.Tensor{rm, rvar})}, nil
	}
	ref := must(part(gotch.Double, 0, n, nil, 0, false))

	w := must(torchx.StartWorkers(len(rows)))
	defer w.Close(nil)
	g := must(torchx.NewStatsGroup(len(rows)))
	defer g.Close()
	parts := make([]result, len(rows))
	if err := w.All(func(i int) error {
		var lo int64
		for _, m := range rows[:i] {
			lo += m
		}
		var err error
		parts[i], err = part(gotch.Float, lo, rows[i], g, i, i != 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var got result
	got.gw, got.gb = make([]float64, ch), make([]float64, ch)
	for i, p := range parts {
		got.y = append(got.y, p.y...)
		got.gx = append(got.gx, p.gx...)
		for c := range ch {
			got.gw[c] += p.gw[c]
			got.gb[c] += p.gb[c]
		}
		if e := relErr(p.stats, ref.stats); !(e <= 1e-6) {
			t.Errorf("worker %d: running statistics %.3g from the whole batch's", i, e)
		}
	}
	for _, c := range []struct {
		what string
		a, b []float64
	}{
		{"output", got.y, ref.y},
		{"gradient of the maps", got.gx, ref.gx},
		{"gradient of the weight", got.gw, ref.gw},
		{"gradient of the bias", got.gb, ref.gb},
	} {
		e := relErr(c.a, c.b)
		t.Logf("%s: shared statistics vs float64 whole batch %.2g", c.what, e)
		if !(e <= 1e-6) {
			t.Errorf("%s: relative error %.3g, want <= 1e-6", c.what, e)
		}
	}
	own := must(part(gotch.Float, 0, rows[0], nil, 0, true))
	t.Logf("worker 0 with its own rows' statistics: output %.2g from the whole batch's", relErr(own.y, ref.y[:len(own.y)]))
}

// TestBatchNormSharedFailures: a participant that never arrives is
// abandoned by Abort, and the waiting one fails with a one-line error
// rather than waiting for ever; the group then works after Reset; workers
// whose maps disagree fail both; bad groups and ranks are refused.
func TestBatchNormSharedFailures(t *testing.T) {
	w := must(torchx.StartWorkers(2))
	defer w.Close(nil)
	g := must(torchx.NewStatsGroup(2))
	defer g.Close()
	call := func(chans int64, rank int) error {
		var s torchx.Scope
		defer s.Close()
		x := s.Add(must(torchx.ChannelsLast(s.Add(must(ts.Randn([]int64{2, chans, 3, 3}, gotch.Float, gotch.CPU))))))
		wt := s.Add(must(ts.Ones([]int64{chans}, gotch.Float, gotch.CPU)))
		b := s.Add(must(ts.Zeros([]int64{chans}, gotch.Float, gotch.CPU)))
		y, err := torchx.BatchNormShared(x, wt, b, nil, nil, 0.1, 1e-5, g, rank)
		if err == nil {
			s.Add(y)
		}
		return err
	}
	errs := make([]error, 2)
	_ = w.All(func(i int) error {
		if i == 1 {
			time.Sleep(50 * time.Millisecond)
			g.Abort()
			return nil
		}
		errs[0] = call(3, 0)
		return nil
	})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "abandoned") || strings.Contains(errs[0].Error(), "\n") {
		t.Errorf("waiting worker after Abort: %v", errs[0])
	}
	if err := call(3, 0); err == nil {
		t.Error("a call after Abort and before Reset succeeded")
	}
	must(0, g.Reset(2))
	_ = w.All(func(i int) error { errs[i] = call(3, i); return nil })
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("after Reset: %v, %v", errs[0], errs[1])
	}
	must(0, g.Reset(2))
	_ = w.All(func(i int) error { errs[i] = call(int64(3+i), i); return nil })
	if errs[0] == nil || errs[1] == nil || !strings.Contains(errs[0].Error()+errs[1].Error(), "disagree") {
		t.Errorf("maps of 3 and 4 channels: %v; %v", errs[0], errs[1])
	}
	must(0, g.Reset(1))
	if err := call(3, 1); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("rank 1 of 1: %v", err)
	}
	if err := g.Reset(3); err == nil || !strings.Contains(err.Error(), "3 participants in a statistics group of 2") {
		t.Errorf("Reset(3) of 2: %v", err)
	}
	if _, err := torchx.BatchNormShared(nil, nil, nil, nil, nil, 0.1, 1e-5, nil, 0); err == nil {
		t.Error("no group: no error")
	}
	if _, err := torchx.NewStatsGroup(0); err == nil {
		t.Error("NewStatsGroup(0): no error")
	}
}

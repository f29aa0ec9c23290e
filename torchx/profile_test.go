package torchx_test

import (
	"errors"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestProfileOps profiles three matrix products and a fused attention
// forward and backward: every call is counted, the shim's own operators
// appear by name, the product's callee (aten::mm) is inside its total, and
// self times plus the time outside operators add up to the wall time (one
// thread: the outermost calls' union is the sum of all self times).
func TestProfileOps(t *testing.T) {
	pin(t)
	var s torchx.Scope
	defer s.Close()
	a := s.Add(must(ts.Randn([]int64{256, 256}, gotch.Float, gotch.CPU)))
	qkv := s.Add(must(must(ts.Randn([]int64{2, 5, 3 * 8}, gotch.Float, gotch.CPU)).SetRequiresGrad(true, false)))
	p, err := torchx.ProfileOps(func() error {
		for range 3 {
			s.Add(must(a.Matmul(a, false)))
		}
		o := s.Add(must(torchx.Attention(qkv, nil, 2, 0.5)))
		l := s.Add(must(o.Sum(gotch.Float, false)))
		g := must(torchx.Grad(l, []*ts.Tensor{qkv}))
		s.AddAll(g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]torchx.OpTime{}
	var self float64
	for _, o := range p.Ops {
		ops[o.Name] = o
		self += o.Self.Seconds()
		if o.Self < 0 || o.Self > o.Total {
			t.Errorf("%s: self %v, total %v", o.Name, o.Self, o.Total)
		}
	}
	if ops["aten::matmul"].Calls != 3 {
		t.Errorf("aten::matmul: %d calls, want 3 (%+v)", ops["aten::matmul"].Calls, p.Ops)
	}
	if mm := ops["aten::mm"]; mm.Calls < 3 || mm.Total > ops["aten::matmul"].Total {
		t.Errorf("aten::mm: %d calls, total %v; aten::matmul total %v", mm.Calls, mm.Total, ops["aten::matmul"].Total)
	}
	for _, n := range []string{"vitprobe::attention", "vitprobe::attention_backward"} {
		if ops[n].Calls != 1 {
			t.Errorf("%s: %d calls, want 1", n, ops[n].Calls)
		}
	}
	sum := self + p.Outside.Seconds()
	if d := sum - p.Wall.Seconds(); d > 1e-3*p.Wall.Seconds() || d < -1e-3*p.Wall.Seconds() {
		t.Errorf("self times %.6fs + outside %v = %.6fs, wall %v", self, p.Outside, sum, p.Wall)
	}
	t.Logf("wall %v, outside %v, %d operators", p.Wall, p.Outside, len(p.Ops))

	// fn's error comes back with the profile; profiles do not nest.
	boom := errors.New("boom")
	if _, err := torchx.ProfileOps(func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("fn's error: %v", err)
	}
	_, err = torchx.ProfileOps(func() error {
		_, err := torchx.ProfileOps(func() error { return nil })
		return err
	})
	if err == nil {
		t.Error("a nested profile: no error")
	}
}

// TestProfileOpsLeavesTheHeapAlone profiles 3,000 calls of an operator
// with a long name, each output freed: the heap in use must not grow with
// the calls. A profiler that kept each name as a string on the heap (as the
// first version did) left a block per call there, where freed activations'
// holes were, and the next step's activations then came from fresh pages:
// the profile measured its own page faults (docs/benchmarks.md).
func TestProfileOpsLeavesTheHeapAlone(t *testing.T) {
	pin(t)
	x := must(ts.Ones([]int64{4, 4}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	op := func() error {
		y, err := x.ZerosLike(false) // aten::zeros_like, aten::empty_like: names past the 15 bytes a string holds inline
		if err != nil {
			return err
		}
		return y.Drop()
	}
	var grown int64
	p, err := torchx.ProfileOps(func() error {
		if err := op(); err != nil { // the first call of each name may store it
			return err
		}
		before := torchx.HeapInUse()
		for range 3000 {
			if err := op(); err != nil {
				return err
			}
		}
		grown = torchx.HeapInUse() - before
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, o := range p.Ops {
		if o.Name == "aten::zeros_like" {
			calls = o.Calls
		}
	}
	if calls != 3001 {
		t.Errorf("aten::zeros_like: %d calls, want 3001", calls)
	}
	if grown > 4<<10 {
		t.Errorf("the heap in use grew by %d bytes over 3,000 profiled calls, want at most 4 KiB", grown)
	}
}

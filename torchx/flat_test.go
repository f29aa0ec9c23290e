package torchx_test

import (
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// adamwManyPy runs torch.optim.AdamW and clip_grad_norm_ over several
// parameters (as training does) and prints them after every step.
const adamwManyPy = `
import json, sys, torch
torch.set_num_threads(1)
d = json.load(sys.stdin)
ps = [torch.nn.Parameter(torch.tensor(v, dtype=torch.float32).reshape(s)) for v, s in zip(d["p"], d["shapes"])]
opt = torch.optim.AdamW(ps, lr=d["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=d["wd"])
out = []
for step in d["grads"]:
    for p, g, s in zip(ps, step, d["shapes"]):
        p.grad = torch.tensor(g, dtype=torch.float32).reshape(s)
    norm = torch.nn.utils.clip_grad_norm_(ps, d["clip"])
    opt.step()
    out.append({"norm": float(norm), "p": [p.detach().reshape(-1).tolist() for p in ps]})
print(json.dumps(out))
`

// TestFlatAdamWMatchesPyTorch packs parameters of several sizes (vector
// remainders included) into one buffer, clips and updates them with
// ClipFlat and one AdamWStep on the buffers, and compares every parameter
// after every step with torch.optim.AdamW and clip_grad_norm_ over the
// separate parameters: the same libtorch operations element for element,
// so the numbers must be identical to the bit, and so must the norm.
func TestFlatAdamWMatchesPyTorch(t *testing.T) {
	shapes := [][]int64{{5}, {3, 7}, {1}, {4, 4, 2, 2}, {33}, {2, 50}}
	r := rand.New(rand.NewPCG(5, 6))
	vals := func() [][]float32 {
		out := make([][]float32, len(shapes))
		for i, s := range shapes {
			n := int64(1)
			for _, x := range s {
				n *= x
			}
			out[i] = make([]float32, n)
			for j := range out[i] {
				out[i][j] = float32(r.NormFloat64())
			}
		}
		return out
	}
	p0 := vals()
	var grads [][][]float32
	for range 4 {
		grads = append(grads, vals())
	}
	const lr, wd, clip = 0.01, 0.05, 2.0

	var s torchx.Scope
	defer s.Close()
	params := make([]*ts.Tensor, len(shapes))
	for i, sh := range shapes {
		params[i] = s.Add(must(torchx.FromSlice(p0[i], sh, gotch.Float)))
	}
	pflat := s.Add(must(torchx.Pack(params)))
	for i := range params {
		got := must(torchx.Values[float32](params[i]))
		for j := range got {
			if got[j] != p0[i][j] {
				t.Fatalf("Pack changed parameter %d", i)
			}
		}
	}
	var total int64
	for _, v := range p0 {
		total += int64(len(v))
	}
	zeros := func() *ts.Tensor { return s.Add(must(ts.Zeros([]int64{total}, gotch.Float, gotch.CPU))) }
	gflat, m, v := zeros(), zeros(), zeros()
	gviews := s.AddAll(must(torchx.Views(gflat, shapes)))
	type stepOut struct {
		Norm float64     `json:"norm"`
		P    [][]float32 `json:"p"`
	}
	var got []stepOut
	for k, g := range grads {
		var all []float32
		for _, x := range g {
			all = append(all, x...)
		}
		if err := torchx.CopyIn(gflat, all); err != nil {
			t.Fatal(err)
		}
		// The per-tensor clip on copies: the same norm, bit for bit.
		sep := make([]*ts.Tensor, len(shapes))
		for i, sh := range shapes {
			sep[i] = s.Add(must(torchx.FromSlice(g[i], sh, gotch.Float)))
		}
		want := must(torchx.ClipGradNorm(sep, clip))
		norm := must(torchx.ClipFlat(gviews, gflat, clip))
		if norm != want {
			t.Errorf("step %d: flat norm %v, per-tensor %v", k+1, norm, want)
		}
		if err := torchx.AdamWStep([]*ts.Tensor{pflat}, []*ts.Tensor{gflat}, []*ts.Tensor{m}, []*ts.Tensor{v}, lr, 0.9, 0.999, 1e-8, wd, int64(k+1)); err != nil {
			t.Fatal(err)
		}
		o := stepOut{Norm: norm}
		for _, p := range params {
			o.P = append(o.P, must(torchx.Values[float32](p)))
		}
		got = append(got, o)
	}

	py, err := exec.LookPath("/usr/bin/python3")
	if err != nil {
		t.Skip("no /usr/bin/python3 for the PyTorch comparison")
	}
	in, _ := json.Marshal(map[string]any{"p": p0, "shapes": shapes, "grads": grads, "lr": lr, "wd": wd, "clip": clip})
	cmd := exec.Command(py, "-c", adamwManyPy)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("PyTorch not available: %v", err)
	}
	var want []stepOut
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	bad := 0
	for k := range want {
		if float32(got[k].Norm) != float32(want[k].Norm) {
			t.Errorf("step %d: norm Go %v, PyTorch %v", k+1, got[k].Norm, want[k].Norm)
		}
		for i := range want[k].P {
			for j := range want[k].P[i] {
				if got[k].P[i][j] != want[k].P[i][j] {
					bad++
					if bad <= 5 {
						t.Errorf("step %d, parameter %d[%d]: Go %v, PyTorch %v", k+1, i, j, got[k].P[i][j], want[k].P[i][j])
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d numbers differ", bad)
	}
}

// TestGradIntoMatchesGrad checks that GradInto writes Grad's numbers, bit
// for bit, in the order of the parameters, with zeros for an unused one.
func TestGradIntoMatchesGrad(t *testing.T) {
	var s torchx.Scope
	defer s.Close()
	a := s.Add(must(must(torchx.FromSlice([]float32{1, -2, 3}, []int64{3}, gotch.Float)).SetRequiresGrad(true, true)))
	b := s.Add(must(must(torchx.FromSlice([]float32{0.5, 4}, []int64{2, 1}, gotch.Float)).SetRequiresGrad(true, true)))
	unused := s.Add(must(must(torchx.FromSlice([]float32{7}, []int64{1}, gotch.Float)).SetRequiresGrad(true, true)))
	loss := func() *ts.Tensor {
		a2 := s.Add(must(a.Mul(a, false)))
		a3 := s.Add(must(a2.Mul(a, false)))
		sa := s.Add(must(a3.Sum(gotch.Float, false)))
		bb := s.Add(must(b.Mul(b, false)))
		sb := s.Add(must(bb.Sum(gotch.Float, false)))
		return s.Add(must(sa.Mul(sb, false)))
	}
	params := []*ts.Tensor{a, b, unused}
	ref := s.AddAll(must(torchx.Grad(loss(), params)))
	flat := s.Add(must(ts.Zeros([]int64{6}, gotch.Float, gotch.CPU)))
	if err := torchx.GradInto(flat, loss(), params); err != nil {
		t.Fatal(err)
	}
	got := must(torchx.Values[float32](flat))
	var want []float32
	for _, g := range ref {
		want = append(want, must(torchx.Values[float32](g))...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d: GradInto %v, Grad %v", i, got[i], want[i])
		}
	}
	if got[5] != 0 {
		t.Errorf("unused parameter's gradient %v, want 0", got[5])
	}
}

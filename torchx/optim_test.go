package torchx_test

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// adamwPy runs torch.optim.AdamW and clip_grad_norm_ on the same numbers
// and prints the parameters after every step.
const adamwPy = `
import json, sys, torch
torch.set_num_threads(1)
d = json.load(sys.stdin)
p = torch.nn.Parameter(torch.tensor(d["p"], dtype=torch.float32))
opt = torch.optim.AdamW([p], lr=d["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=d["wd"])
out = []
for g in d["grads"]:
    p.grad = torch.tensor(g, dtype=torch.float32)
    torch.nn.utils.clip_grad_norm_([p], d["clip"])
    opt.step()
    out.append(p.detach().tolist())
print(json.dumps(out))
`

func TestAdamWMatchesPyTorch(t *testing.T) {
	p0 := []float32{0.5, -1.25, 3, 0.001, -2}
	grads := [][]float32{{0.1, -0.2, 0.3, 4, -5}, {1, 1, -1, 0.5, 0.25}, {-0.3, 0.01, 2, -2, 0.7}}
	const lr, wd, clip = 0.01, 0.05, 1.0

	p := must(torchx.FromSlice(p0, []int64{5}, gotch.Float))
	m := must(ts.Zeros([]int64{5}, gotch.Float, gotch.CPU))
	v := must(ts.Zeros([]int64{5}, gotch.Float, gotch.CPU))
	defer torchx.DropAll([]*ts.Tensor{p, m, v})
	var got [][]float32
	for i, g := range grads {
		gt := must(torchx.FromSlice(g, []int64{5}, gotch.Float))
		norm := must(torchx.ClipGradNorm([]*ts.Tensor{gt}, clip))
		var want float64
		for _, x := range g {
			want += float64(x) * float64(x)
		}
		if math.Abs(norm-math.Sqrt(want)) > 1e-5*math.Sqrt(want) {
			t.Errorf("step %d: norm %v, want %v", i, norm, math.Sqrt(want))
		}
		if err := torchx.AdamWStep([]*ts.Tensor{p}, []*ts.Tensor{gt}, []*ts.Tensor{m}, []*ts.Tensor{v}, lr, 0.9, 0.999, 1e-8, wd, int64(i+1)); err != nil {
			t.Fatal(err)
		}
		gt.MustDrop()
		got = append(got, must(torchx.Values[float32](p)))
	}
	// First step by hand (float64): Adam's first step moves every
	// coordinate by lr·sign(g) after decay, up to eps; clipping does not
	// change signs.
	for j := range p0 {
		want := float64(p0[j])*(1-lr*wd) - lr*math.Copysign(1, float64(grads[0][j]))
		if math.Abs(float64(got[0][j])-want) > 1e-6 {
			t.Errorf("step 1, coordinate %d: %v, want %v", j, got[0][j], want)
		}
	}

	py := testdep.Python(t)
	in, _ := json.Marshal(map[string]any{"p": p0, "grads": grads, "lr": lr, "wd": wd, "clip": clip})
	cmd := exec.Command(py, "-c", adamwPy)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the PyTorch AdamW reference failed: %v\n%s", err, stderr.String())
	}
	var want [][]float32
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	// The same libtorch kernels in the same order: bit-identical.
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("step %d, coordinate %d: Go %v, PyTorch %v", i+1, j, got[i][j], want[i][j])
			}
		}
	}
}

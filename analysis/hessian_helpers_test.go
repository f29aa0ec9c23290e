package analysis

import (
	"runtime"
	"sync"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// must panics on error: a failed torch call in a test is a test failure.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tinyNet is a real gotch model small enough for its Hessian to be
// assembled and diagonalised: conv 3x3 (1->2 channels, stride 4, padding 1)
// -> tanh -> 4x4 average pooling -> linear 8 -> 10. 110 trainable
// parameters, plus one buffer that must not count. The smooth tanh keeps
// finite differences honest (no ReLU kinks). kind selects float32 (as the
// presets) or float64 (for finite differences).
type tinyNet struct {
	kind   gotch.DType
	params []models.Param
}

func newTinyNet(t testing.TB, kind gotch.DType, seed uint64) *tinyNet {
	t.Helper()
	torchx.Seed(seed)
	mk := func(name string, pk models.ParamKind, scale float64, shape ...int64) models.Param {
		r := must(ts.Randn(shape, kind, gotch.CPU))
		r = must(r.MulScalar(ts.FloatScalar(scale), true))
		if pk != models.ParamBuffer {
			r = must(r.SetRequiresGrad(true, true))
		}
		return models.Param{Name: name, Kind: pk, Shape: shape, Tensor: r}
	}
	n := &tinyNet{kind: kind}
	// Sorted by name, as models.Model requires.
	n.params = []models.Param{
		mk("conv.bias", models.ParamBias, 0.1, 2),
		mk("conv.running", models.ParamBuffer, 1, 2),
		mk("conv.weight", models.ParamWeight, 0.5, 2, 1, 3, 3),
		mk("fc.bias", models.ParamBias, 0.1, 10),
		mk("fc.weight", models.ParamWeight, 0.7, 10, 8),
	}
	t.Cleanup(n.Close)
	return n
}

func (n *tinyNet) Spec() models.Spec {
	return models.Spec{Name: "tiny", Config: models.Config{Classes: 10, InChannels: 1, ImageSize: 32}}
}
func (n *tinyNet) Layers() []models.Layer { return nil }
func (n *tinyNet) Params() []models.Param { return append([]models.Param(nil), n.params...) }
func (n *tinyNet) param(i int) *ts.Tensor { return n.params[i].Tensor }
func (n *tinyNet) dim() int               { return 2 + 18 + 10 + 80 }
func (n *tinyNet) tensors() []*ts.Tensor {
	return []*ts.Tensor{n.param(0), n.param(2), n.param(3), n.param(4)}
}
func (n *tinyNet) Close() { torchx.DropAll(n.tensors()); _ = n.param(1).Drop() }

func (n *tinyNet) Forward(x *ts.Tensor, _ models.Mode, _ models.Probe) (*ts.Tensor, error) {
	var s torchx.Scope
	defer s.Close()
	in := x
	if n.kind != gotch.Float {
		in = s.Add(must(x.Totype(n.kind, false)))
	}
	c, err := ts.Conv2d(in, n.param(2), n.param(0), []int64{4, 4}, []int64{1, 1}, []int64{1, 1}, 1)
	if err != nil {
		return nil, err
	}
	s.Add(c)
	a := s.Add(must(c.Tanh(false)))
	p := s.Add(must(a.AvgPool2d([]int64{4, 4}, []int64{4, 4}, []int64{0, 0}, false, true, nil, false)))
	f := s.Add(must(p.Flatten(1, -1, false)))
	return ts.Linear(f, n.param(4), n.param(3))
}

var (
	mnistOnce sync.Once
	mnistTest *data.Dataset
	mnistErr  error
)

// mnist returns MNIST's test split, loaded once.
func mnist(t testing.TB) *data.Dataset {
	t.Helper()
	mnistOnce.Do(func() { mnistTest, mnistErr = data.Load("mnist", "", data.Test) })
	if mnistErr != nil {
		t.Fatal(mnistErr)
	}
	return mnistTest
}

// batchOf returns the batch of MNIST test examples lo..lo+size-1.
func batchOf(t testing.TB, lo, size int, aug data.Augment) *torchdata.Batch {
	t.Helper()
	idx := make([]int, size)
	for i := range idx {
		idx[i] = lo + i
	}
	var r = torchx.Seed(uint64(lo))
	b, err := torchdata.NewBatch(mnist(t), idx, aug, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// lockThread pins the test's goroutine to its OS thread: libtorch's grad
// mode is per thread and an HVP must be used where it was built. It also
// sets the thread count on that thread to the count in effect: OpenMP keeps
// it per thread, and oneDNN's convolutions would otherwise read the process
// default on a fresh thread (two runs could differ in the last bit).
func lockThread(t testing.TB) {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if _, err := torchx.SetThreads(torchx.Threads()); err != nil {
		t.Fatal(err)
	}
}

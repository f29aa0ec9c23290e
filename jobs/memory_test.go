package jobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/results"
)

func settings(method string, k, maxIter int, density bool, slqSteps int, params ...int64) results.HessianSettings {
	h := results.HessianSettings{Method: method, K: k, MaxIter: maxIter, Density: density, SLQSteps: slqSteps}
	for _, p := range params {
		h.Checkpoints = append(h.Checkpoints, results.HessianCheckpoint{Params: p})
	}
	return h
}

// TestBasisBytes: the vectors each method keeps, times the parameters,
// times 8 bytes; the largest checkpoint and computation decide.
func TestBasisBytes(t *testing.T) {
	const resnet50 = 23_705_252 // trainable parameters of the paper's ResNet-50 (CIFAR-100 head)
	for _, c := range []struct {
		h    results.HessianSettings
		want int64
		flag string
	}{
		// Lanczos at the defaults: max(100, 4k) steps + 4 work vectors.
		{settings("lanczos", 5, 0, false, 0, resnet50), 104 * resnet50 * 8, "--max-iter"},
		{settings("lanczos", 50, 0, false, 0, 1000, resnet50), 204 * resnet50 * 8, "--max-iter"},
		// Never more steps than the dimension.
		{settings("lanczos", 5, 500, false, 0, 300), 304 * 300 * 8, "--max-iter"},
		// Power iteration: k eigenvectors and 3 work vectors.
		{settings("power", 5, 0, false, 0, 1000), 8 * 1000 * 8, "--k"},
		// SLQ's basis when it is the larger.
		{settings("power", 5, 0, true, 100, 1000), 102 * 1000 * 8, "--slq-steps"},
	} {
		got, flag := BasisBytes(c.h)
		if got != c.want || flag != c.flag {
			t.Errorf("%s k=%d max-iter=%d density=%v: %d bytes (%s), want %d (%s)", c.h.Method, c.h.K, c.h.MaxIter, c.h.Density,
				got, flag, c.want, c.flag)
		}
	}
	// ResNet-50 with the defaults: the "about 19 GiB".
	if got, _ := BasisBytes(settings("lanczos", 5, 0, false, 0, resnet50)); got>>30 != 18 {
		t.Errorf("ResNet-50 at the defaults: %d GiB", got>>30)
	}
}

// TestOverMemoryRefused: a Lanczos run whose basis exceeds the available
// memory is refused before any work, naming the flag that lowers it; one
// that fits, or a machine that cannot say, runs.
func TestOverMemoryRefused(t *testing.T) {
	h := settings("lanczos", 5, 0, false, 0, 23_705_252)
	have := func(b int64) func() (int64, error) { return func() (int64, error) { return b, nil } }
	err := checkHessianMemory(h, have(8<<30))
	if err == nil || !strings.Contains(err.Error(), "--max-iter") || !strings.Contains(err.Error(), "18.4 GiB") ||
		!strings.Contains(err.Error(), "8.0 GiB are available") {
		t.Errorf("over memory: %v", err)
	}
	if err := checkHessianMemory(h, have(32<<30)); err != nil {
		t.Errorf("within memory: %v", err)
	}
	if err := checkHessianMemory(h, func() (int64, error) { return 0, errors.New("no /proc") }); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
	d := settings("power", 5, 0, true, 5000, 1_000_000)
	if err := checkHessianMemory(d, have(1<<30)); err == nil || !strings.Contains(err.Error(), "--slq-steps") {
		t.Errorf("SLQ over memory: %v", err)
	}
}

// TestBlocksOverMemoryRefused: BlocksBytes is the largest block's Lanczos
// basis (min(n, max(100, 4k)) vectors, the start vector, the new direction
// and the k Ritz vectors, float64) or its SLQ basis, times the workers; a
// run over the available memory is refused naming --workers and the flag,
// one within it or on a machine that cannot say runs.
func TestBlocksOverMemoryRefused(t *testing.T) {
	const big = 7_087_872 // a ViT-B/16 encoder block
	h := results.BlocksSettings{K: 5, Checkpoints: []results.BlocksCheckpoint{{Blocks: []results.BlockInfo{
		{Name: "blocks.0", Size: 1000}, {Name: "blocks.1", Size: big}}}}}
	lanczos := int64(100+5+2) * big * 8
	if got, flag := BlocksBytes(h, 1); got != lanczos || flag != "--k" {
		t.Errorf("one worker: %d bytes (%s), want %d (--k)", got, flag, lanczos)
	}
	if got, _ := BlocksBytes(h, 3); got != 3*lanczos {
		t.Errorf("three workers: %d bytes, want %d", got, 3*lanczos)
	}
	d := h
	d.SLQSteps = 400
	if got, flag := BlocksBytes(d, 1); got != int64(400+2)*big*8 || flag != "--slq-steps" {
		t.Errorf("SLQ of 400 steps: %d bytes (%s)", got, flag)
	}
	have := func(b int64) func() (int64, error) { return func() (int64, error) { return b, nil } }
	err := checkBlocksMemory(h, 2, have(8<<30))
	if err == nil || !strings.Contains(err.Error(), "--workers") || !strings.Contains(err.Error(), "11.3 GiB") ||
		!strings.Contains(err.Error(), "8.0 GiB are available") || strings.Contains(err.Error(), "\n") {
		t.Errorf("two workers over memory: %v", err)
	}
	if err := checkBlocksMemory(h, 1, have(8<<30)); err != nil {
		t.Errorf("one worker within memory: %v", err)
	}
	if err := checkBlocksMemory(h, 8, func() (int64, error) { return 0, errors.New("no /proc") }); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
}

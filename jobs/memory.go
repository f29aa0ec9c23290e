package jobs

import (
	"fmt"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/mem"
	"github.com/vitprobe/vitprobe/results"
)

// memAvailable is the memory a new allocation can get (a variable for
// tests).
var memAvailable = mem.Available

// BasisBytes is the memory of the Krylov bases of a Hessian run: Lanczos
// with full reorthogonalisation keeps (steps + 4) vectors of the model's
// parameter count in float64, SLQ (steps + 2), power iteration k + 3. The
// largest over the run's computations and checkpoints is what it needs at
// once, besides the model and its graph. It returns the flag that lowers
// the largest.
func BasisBytes(h results.HessianSettings) (bytes int64, flag string) {
	for _, c := range h.Checkpoints {
		n := c.Params
		vectors, f := int64(h.K+3), "--k"
		if h.Method == "lanczos" {
			steps := int64(h.MaxIter)
			if steps == 0 {
				steps = int64(max(100, 4*h.K))
			}
			vectors, f = min(steps, n)+4, "--max-iter"
		}
		if h.Density {
			if v := min(int64(h.SLQSteps), n) + 2; v > vectors {
				vectors, f = v, "--slq-steps"
			}
		}
		if b := vectors * n * 8; b > bytes {
			bytes, flag = b, f
		}
	}
	return bytes, flag
}

// checkHessianMemory refuses a run whose bases alone exceed the memory
// available, naming the flag that lowers them, before any work.
func checkHessianMemory(h results.HessianSettings, available func() (int64, error)) error {
	need, flag := BasisBytes(h)
	how := "lower " + flag
	if flag == "--max-iter" {
		how = "lower --max-iter (Krylov steps, at least --k) or use --method power"
	}
	return overMemory("the eigensolver's vectors", need, available, how)
}

// overMemory is the error of a run whose what needs more than the memory
// available, how saying what lowers it; nil when it fits or when there is
// no figure to compare with (not Linux): then it runs.
func overMemory(what string, need int64, available func() (int64, error), how string) error {
	have, err := available()
	if err != nil || need <= have {
		return nil
	}
	return fmt.Errorf("%s need %.1f GiB and %.1f GiB are available: %s", what, mem.GiB(need), mem.GiB(have), how)
}

// BlocksBytes is the memory the eigensolvers of a blocks run keep at once:
// on each of workers (block, minibatch) items at a time, the largest
// block's Lanczos basis, Hutch++ sketch or SLQ basis (hessian.Memory),
// times the number of workers. It returns the flag that lowers the
// largest term.
func BlocksBytes(h results.BlocksSettings, workers int) (bytes int64, flag string) {
	workers = max(workers, 1)
	take := func(b int64, f string) {
		if need := b * int64(workers); need > bytes {
			bytes, flag = need, f
		}
	}
	for _, c := range h.Checkpoints {
		for _, b := range c.Blocks {
			take(analysis.FastLanczos().Memory(b.Size, h.K).RAM(), "--k")
			if h.TraceProducts > 0 {
				take((&hessian.HutchPPSettings{Products: h.TraceProducts}).Memory(b.Size).RAM(), "--trace-products")
			}
			if h.SLQSteps > 0 {
				take((&hessian.SLQSettings{Steps: h.SLQSteps, Vectors: 1}).Memory(b.Size).RAM(), "--slq-steps")
			}
		}
	}
	return bytes, flag
}

// checkBlocksMemory refuses a blocks run whose solvers alone exceed the
// memory available, before any work, naming what lowers it.
func checkBlocksMemory(h results.BlocksSettings, workers int, available func() (int64, error)) error {
	need, flag := BlocksBytes(h, workers)
	how := "lower " + flag
	if workers > 1 {
		how = fmt.Sprintf("lower --workers (each of the %d holds its own), %s, or choose smaller blocks with --params", workers, how)
	} else {
		how += " or choose smaller blocks with --params"
	}
	return overMemory("the eigensolvers' vectors", need, available, how)
}

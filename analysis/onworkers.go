package analysis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// WorkerOptions says how OnWorkers runs its items.
type WorkerOptions struct {
	// Workers is the number of workers (at most one per item; below 1:
	// one).
	Workers int
	// ThreadsPerWorker is each worker's libtorch thread count (0: 1).
	ThreadsPerWorker int
	// Replica builds the model copies of workers after the first
	// (models.Replicate; nil: models.Rebuild).
	Replica func() (models.Model, error)
}

// OnWorkers computes items 0..n-1 on opt.Workers workers, each an OS thread
// of its own with grad mode on, opt.ThreadsPerWorker libtorch threads and
// its own copy of m (the first worker uses m), and hands the results to
// done, on the calling goroutine, in item order. newWorker is called once
// per worker, on its thread, with its model and a context cancelled at the
// first error; the function it returns computes one item (a panic in it is
// the item's error). At the first error, an item's or done's, OnWorkers
// stops handing out items, waits for those under way, hands done every
// finished result still in item order, so that nothing computed is lost
// (unless done itself failed: it is not called again, since what it writes
// may be left half-written), and returns the error of the lowest item that
// failed. A cancelled ctx
// stops it the same way with ctx's error. The calling thread's libtorch
// thread count is the same afterwards.
func OnWorkers[T any](ctx context.Context, m models.Model, opt WorkerOptions, n int,
	newWorker func(ctx context.Context, m models.Model) func(i int) (T, error),
	done func(i int, r T) error) error {
	if n <= 0 {
		return nil
	}
	workers := min(max(opt.Workers, 1), n)
	threads := max(opt.ThreadsPerWorker, 1)
	replicas := []models.Model{m}
	defer func() {
		for _, r := range replicas[1:] {
			r.Close()
		}
	}()
	for range workers - 1 {
		r, err := models.Replicate(m, opt.Replica)
		if err != nil {
			return fmt.Errorf("analysis: %w", err)
		}
		replicas = append(replicas, r)
	}
	// The calling thread's count, put back for what runs after.
	defer func(n int) { _, _ = torchx.SetThreads(n) }(torchx.Threads())
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i   int
		r   T
		err error
	}
	jobs := make(chan int)
	results := make(chan result)
	var wg sync.WaitGroup
	for _, rm := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := torchx.WorkerThread(true, threads); err != nil {
				for i := range jobs {
					results <- result{i: i, err: err}
				}
				return
			}
			compute := newWorker(ctx, rm)
			for i := range jobs {
				r, err := safely(compute, i)
				results <- result{i: i, r: r, err: err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var failed []result // the errors, an item's or done's
	fail := func(i int, err error) {
		failed = append(failed, result{i: i, err: err})
		cancel()
	}
	pending := map[int]T{}
	next := 0 // the item done waits for
	doneFailed := false
	deliver := func(i int, r T) {
		if doneFailed {
			return
		}
		if err := done(i, r); err != nil {
			doneFailed = true
			fail(i, err)
		}
	}
	for res := range results {
		if res.err != nil {
			fail(res.i, res.err)
			continue
		}
		pending[res.i] = res.r
		for ; next < n && failed == nil; next++ {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			deliver(next, r)
		}
	}
	// After an error: the finished items still waiting, in order.
	for i := next; i < n; i++ {
		if r, ok := pending[i]; ok {
			deliver(i, r)
		}
	}
	if len(failed) == 0 {
		if err := parent.Err(); err != nil && next < n {
			return &stoppedError{item: next, err: err}
		}
		return nil
	}
	// The error of the lowest item, as one worker would have met first;
	// items stopped by the cancel that followed it do not count.
	var first *result
	for k := range failed {
		f := &failed[k]
		ours := errors.Is(f.err, context.Canceled) && parent.Err() == nil
		if ours && len(failed) > 1 {
			continue
		}
		if first == nil || f.i < first.i {
			first = f
		}
	}
	if first == nil {
		first = &failed[0]
	}
	return first.err
}

// stoppedError is OnWorkers's error when its context was cancelled before
// item was handed to done.
type stoppedError struct {
	item int
	err  error
}

func (e *stoppedError) Error() string {
	return fmt.Sprintf("stopped before item %d: %v", e.item, e.err)
}
func (e *stoppedError) Unwrap() error { return e.err }

// safely runs compute(i), turning a panic into an error: a worker's panic
// would otherwise end the process.
func safely[T any](compute func(int) (T, error), i int) (r T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("analysis: item %d: worker panicked: %v", i, p)
		}
	}()
	return compute(i)
}

package torchx

import (
	"fmt"
	"runtime"
	"sync"
)

// Workers is a set of OS threads, each running one libtorch thread with
// grad mode on, that run functions at the caller's request: All runs one
// function on every worker at once. What a function builds on a worker (a
// kept autograd graph, say) is used and released on that worker's thread.
//
// Each worker calls SetThreads(1) on its thread. OpenMP's count is kept per
// OS thread, so the caller's own libtorch thread count is unchanged, but
// OpenBLAS's is process-wide: while any Workers lives, matrix products run
// on one thread wherever they are called (and Threads, called on another
// thread, imposes the workers' count of 1 on it: read the count before
// starting workers). The count the caller had when the first of the live
// sets started is set again, on the thread that closes the last one.
// Small operations gain more from two one-thread workers than from one
// two-thread call (docs/benchmarks.md, "One product on several workers").
type Workers struct {
	w      []*worker
	once   sync.Once
	closed bool
}

type worker struct {
	jobs chan func()
	done chan struct{}
}

// liveWorkers counts the live sets and keeps the thread count to put back
// when the last one closes.
var liveWorkers struct {
	sync.Mutex
	live, saved int
}

// StartWorkers starts n ≥ 1 workers. On an error it stops those started and
// leaves the thread count as it was.
func StartWorkers(n int) (*Workers, error) {
	if n < 1 {
		return nil, fmt.Errorf("torchx: %d workers: need at least one", n)
	}
	liveWorkers.Lock()
	if liveWorkers.live == 0 {
		liveWorkers.saved = Threads()
	}
	liveWorkers.live++
	liveWorkers.Unlock()
	p := &Workers{}
	for range n {
		w, err := startWorker()
		if err != nil {
			p.Close(nil)
			return nil, err
		}
		p.w = append(p.w, w)
	}
	return p, nil
}

// startWorker starts one worker's thread.
func startWorker() (*worker, error) {
	w := &worker{jobs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(w.done)
		if err := WorkerThread(true, 1); err != nil {
			started <- err
			return
		}
		started <- nil
		for f := range w.jobs {
			f() // given by All, which recovers panics
		}
	}()
	if err := <-started; err != nil {
		<-w.done
		return nil, err
	}
	return w, nil
}

// WorkerThread starts a worker goroutine's libtorch state: it locks the
// goroutine to its OS thread for good (the thread ends with the goroutine,
// and with it the thread-local grad mode and thread count), then sets grad
// mode and the thread count.
func WorkerThread(grad bool, threads int) error {
	runtime.LockOSThread()
	SetGradEnabled(grad)
	_, err := SetThreads(threads)
	return err
}

// Len returns the number of workers.
func (p *Workers) Len() int { return len(p.w) }

// Closed reports whether Close has been called.
func (p *Workers) Closed() bool { return p.closed }

// All runs f(i) on every worker i at once and returns, once all have
// returned, the error of the lowest-numbered worker that failed (a panic in
// f is an error naming its worker). It must not be called after Close, nor
// from inside f.
func (p *Workers) All(f func(i int) error) error {
	if p.closed {
		return fmt.Errorf("torchx: workers used after Close")
	}
	errs := make([]error, len(p.w))
	var wg sync.WaitGroup
	for i, w := range p.w {
		wg.Add(1)
		w.jobs <- func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("worker %d: panic: %v", i, r)
				}
			}()
			errs[i] = f(i)
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close runs release(i) on every worker (release may be nil: what the
// workers built must be freed on their threads), stops the workers and, if
// this is the last live set, puts back the thread count. It is safe to call
// more than once.
func (p *Workers) Close(release func(i int)) {
	p.once.Do(func() {
		if release != nil {
			_ = p.All(func(i int) error { release(i); return nil })
		}
		p.closed = true
		for _, w := range p.w {
			close(w.jobs)
			<-w.done
		}
		liveWorkers.Lock()
		defer liveWorkers.Unlock()
		if liveWorkers.live--; liveWorkers.live == 0 {
			_, _ = SetThreads(liveWorkers.saved)
		}
	})
}

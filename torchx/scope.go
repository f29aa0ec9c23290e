package torchx

// #include "shim.h"
import "C"

import (
	"runtime"

	"github.com/sugarme/gotch/ts"
)

// Scope owns the tensors registered with it and drops them together, so a
// batch's intermediate tensors are freed deterministically instead of by
// finalizers (libtorch memory is invisible to Go's garbage collector).
// The zero value is ready to use. A Scope is not safe for concurrent use.
type Scope struct {
	owned []*ts.Tensor
}

// Add registers t with the scope and returns it, for use inline.
func (s *Scope) Add(t *ts.Tensor) *ts.Tensor {
	if t != nil {
		s.owned = append(s.owned, t)
	}
	return t
}

// AddAll registers every tensor of list and returns list.
func (s *Scope) AddAll(list []*ts.Tensor) []*ts.Tensor {
	for _, t := range list {
		s.Add(t)
	}
	return list
}

// Release removes t from the scope without dropping it: the caller takes
// ownership (for a result that must outlive the scope).
func (s *Scope) Release(t *ts.Tensor) *ts.Tensor {
	for i := len(s.owned) - 1; i >= 0; i-- {
		if s.owned[i] == t {
			s.owned = append(s.owned[:i], s.owned[i+1:]...)
			break
		}
	}
	return t
}

// Mark returns a position in the scope for DropSince.
func (s *Scope) Mark() int { return len(s.owned) }

// DropSince drops the tensors registered since mark, except those in keep,
// which stay owned by the scope. A forward pass calls it at the end of each
// block so that only the block's output outlives it: in evaluation, peak
// memory is then one block's intermediates, not the whole network's (in
// training, autograd keeps what backward needs either way).
func (s *Scope) DropSince(mark int, keep ...*ts.Tensor) {
	if mark < 0 || mark > len(s.owned) {
		return
	}
	kept := s.owned[:mark]
	for _, t := range s.owned[mark:] {
		k := false
		for _, x := range keep {
			if x == t {
				k = true
				break
			}
		}
		if k {
			kept = append(kept, t)
		} else {
			_ = t.Drop()
		}
	}
	s.owned = kept
}

// DropOwned drops t if the scope owns it and reports whether it did;
// tensors the scope does not own are left alone.
func (s *Scope) DropOwned(t *ts.Tensor) bool {
	for i := len(s.owned) - 1; i >= 0; i-- {
		if s.owned[i] == t {
			s.owned = append(s.owned[:i], s.owned[i+1:]...)
			_ = t.Drop()
			return true
		}
	}
	return false
}

// Len returns the number of tensors the scope owns.
func (s *Scope) Len() int { return len(s.owned) }

// Close drops every tensor the scope owns, newest first. The scope can be
// reused afterwards.
func (s *Scope) Close() {
	for i := len(s.owned) - 1; i >= 0; i-- {
		_ = s.owned[i].Drop()
	}
	s.owned = s.owned[:0]
}

// DropAll drops every non-nil tensor of list.
func DropAll(list []*ts.Tensor) {
	for _, t := range list {
		if t != nil {
			_ = t.Drop()
		}
	}
}

// GradEnabled reports whether autograd records operations on this OS thread.
func GradEnabled() bool { return C.vp_grad_enabled() != 0 }

// SetGradEnabled switches autograd recording on this OS thread and returns
// the previous state.
func SetGradEnabled(on bool) bool {
	prev := GradEnabled()
	v := C.int(0)
	if on {
		v = 1
	}
	C.vp_set_grad_enabled(v)
	return prev
}

// NoGrad runs fn with autograd recording off and restores the previous mode
// afterwards, even if fn panics. Grad mode is per OS thread: the calling
// goroutine is locked to its thread for the duration.
func NoGrad(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := SetGradEnabled(false)
	defer SetGradEnabled(prev)
	return fn()
}

// OnLockedThread runs fn on a fresh goroutine locked to one OS thread and
// waits for it. Torch work that relies on per-thread state (grad mode, the
// last-error slot, the thread count) belongs in such a function, or on a
// main goroutine that called runtime.LockOSThread at start-up. The OS
// thread gets libtorch's thread count (SetThreads) before fn runs: OpenMP
// keeps the count per OS thread, and on a thread where libtorch has not set
// it yet oneDNN would use OpenMP's process default.
func OnLockedThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		syncThreads()
		done <- fn()
	}()
	return <-done
}

// syncThreads sets OpenMP's count on the calling OS thread to the one
// SetThreads last set (libtorch copies its count onto a thread only once,
// at the thread's first parallel loop or count query, so an OS thread that
// ran torch work before the count changed keeps the old one; oneDNN reads
// OpenMP's count directly).
func syncThreads() { C.vp_get_num_threads() }

// ompThreads is OpenMP's count on the calling OS thread as oneDNN reads it.
func ompThreads() int { return int(C.vp_omp_max_threads()) }

// Version returns t's version counter: libtorch moves it at every in-place
// write to t's memory through an operator (copy_, in-place arithmetic such
// as the optimisers' updates), on t, on a view of it, on the tensor
// it is a view of, or on the buffer it was packed into (Pack), so an
// unchanged version means unchanged values. Writes that bypass libtorch's
// operators (a raw pointer) do not move it; -1 means t has no counter.
func Version(t *ts.Tensor) int64 { return int64(C.vp_version(C.vp_tensor(t.Ctensor()))) }

// UseCount returns the number of handles (Go tensors, autograd's saved
// references, views' bases) that share t's tensor: 1 when t is the only
// one, so that dropping t frees it. For leak checks.
func UseCount(t *ts.Tensor) int { return int(C.vp_use_count(C.vp_tensor(t.Ctensor()))) }

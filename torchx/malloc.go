package torchx

/*
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

// vitprobe_one_arena runs when the program is loaded, before any thread
// exists: every thread then allocates from glibc's main arena (see
// KeepFreedMemory). A user's MALLOC_ARENA_MAX or malloc tunables win.
__attribute__((constructor)) static void vitprobe_one_arena(void) {
	const char *t = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (t != NULL && strstr(t, "arena_max") != NULL)) {
		return;
	}
	mallopt(M_ARENA_MAX, 1);
}
*/
import "C"

// KeepFreedMemory tunes glibc's malloc for libtorch's allocation pattern:
// tensors are allocated and freed with malloc for every operation, and by
// default a block above the mmap threshold (128 KiB at first) is mmap'ed
// and unmapped on free, and a heap whose free top exceeds the trim
// threshold is shrunk, so every activation of every batch page-faults its
// memory in again, zeroed by the kernel. Blocks up to 32 MiB (the largest
// threshold glibc allows) then come from the heap, and up to 1 GiB of
// free heap is kept for reuse: the process keeps what its largest step
// needed, which it needed anyway. Commands call it once at start-up.
//
// Besides, when a program that imports this package is loaded, before any
// thread exists, the package limits glibc's malloc to one arena
// (M_ARENA_MAX = 1) unless $MALLOC_ARENA_MAX or a glibc.malloc.arena_max
// tunable is set. The analyses run libtorch on OS threads of their own (a
// landscape evaluator's workers, for one), and glibc gives such threads
// arenas of their own, built from heaps of at most 64 MiB that are
// unmapped as soon as they are empty, whatever the trim threshold: whether
// a batch's activations fitted an existing heap depended on the arena's
// history, so one evaluator ran every point without a page fault and the
// next faulted 16-24 MiB in again at every point, 2 to 7 times slower
// (docs/benchmarks.md). In the main arena the freed memory stays, as this
// function asks.
func KeepFreedMemory() {
	C.mallopt(C.M_MMAP_THRESHOLD, 32<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<30)
}

// heapInUse is the number of bytes glibc's malloc has handed out and not
// yet had back, blocks in the heap only (not those mapped apart), for tests
// of what a piece of code leaves on the heap.
func heapInUse() int64 { return int64(C.mallinfo2().uordblks) }

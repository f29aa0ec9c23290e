package torchx

// #include <malloc.h>
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
func KeepFreedMemory() {
	C.mallopt(C.M_MMAP_THRESHOLD, 32<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<30)
}

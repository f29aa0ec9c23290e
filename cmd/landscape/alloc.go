package main

// #include <malloc.h>
import "C"

// keepFreedMemory stops glibc's malloc from handing freed memory back to
// the kernel after every tensor: by default a block above the mmap
// threshold (128 KiB at first) is mmap'ed and unmapped on free, and a heap
// whose free top exceeds the trim threshold is shrunk, so that every
// activation of every batch page-faults its memory in again, zeroed by the
// kernel. For the mini models that was about 170,000 page faults and a
// third of the time of every grid point (docs/benchmarks-landscape.md).
// Blocks up to 32 MiB (the largest threshold glibc allows) now come from
// the heap, and up to 1 GiB of free heap is kept for reuse; the process
// keeps what its largest point needed, which it needed anyway.
func keepFreedMemory() {
	C.mallopt(C.M_MMAP_THRESHOLD, 32<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 1<<30)
}

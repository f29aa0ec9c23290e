package torchx

// OMPThreads exposes ompThreads to the external tests.
var OMPThreads = ompThreads

// ParallelWidth exposes parallelWidth to the external tests.
var ParallelWidth = parallelWidth

// HeapInUse exposes heapInUse to the external tests.
var HeapInUse = heapInUse

// BatchNormSIMD selects batch norm's AVX2 row kernels (on, where the CPU
// has them) or the generic ones, and returns whether the AVX2 ones were in
// use, for the tests to run both.
var BatchNormSIMD = batchNormSIMD

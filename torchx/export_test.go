package torchx

// OMPThreads exposes ompThreads to the external tests.
var OMPThreads = ompThreads

// HeapInUse exposes heapInUse to the external tests.
var HeapInUse = heapInUse

package torchx

// OMPThreads exposes ompThreads to the external tests.
var OMPThreads = ompThreads

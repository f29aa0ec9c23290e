// Package torchx is vitprobe's thin layer over libtorch (through gotch): a
// small cgo shim over torch::autograd::grad for exact gradients and
// Hessian-vector products over many tensors, thread and seed control, and the
// helpers that own tensor lifetimes (scopes, no-grad sections, locked OS
// threads).
//
// Everything else in vitprobe that touches torch goes through here or
// through gotch's error-returning functions.
package torchx

// Forward-mode tangents, as the shim's custom operators test for them.
#pragma once

#include <ATen/ATen.h>

// vp_tangent reports whether t carries a forward-mode tangent (libtorch
// 1.13 has one forward-mode level, 0). The shim's custom autograd Functions
// have no forward-mode formula, so an input with a tangent (the GGN's J v)
// takes libtorch's own operators, which carry it.
inline bool vp_tangent(const at::Tensor &t) { return t.defined() && t._fw_grad(/*level=*/0).defined(); }

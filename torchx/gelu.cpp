// vitprobe's GELU for channels-last maps.
//
// libtorch 1.13's CPU GELU kernels have two defects on channels-last maps
// (measured on this project's VM, and reproduced with Debian's
// python3-torch):
//   - speed: on a channels-last (N, C, H, W) tensor they take a scalar path,
//     9-20 times slower forward and 6 times slower backward than on the same
//     values laid out contiguously;
//   - correctness: gelu_backward(grad, self) returns wrong values (garbage,
//     NaN) when grad and self have different memory layouts, either way
//     round.
// A channels-last (N, C, H, W) tensor is a contiguous (N, H, W, C) one, so
// the functions below run the kernels on that permuted view and permute
// the result back (no copies), and give gelu_backward both arguments in
// that same layout. The backward pass is itself a function (GeluGrad)
// whose derivatives are: with respect to the incoming gradient, GeluGrad
// again; with respect to x, gg·g·φ(x)·(2 − x²) from elementwise operators
// (GELU(x) = x·Φ(x), GELU'(x) = Φ(x) + x·φ(x), GELU''(x) = φ(x)·(2 − x²)),
// so Hessian-vector products go through it.
#include "shim.h"
#include "shim_error.h"
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// nhwc is the contiguous (N, H, W, C) view of a channels-last (N, C, H, W)
// tensor t (t is made channels-last first if it is not).
at::Tensor nhwc(const at::Tensor &t) {
  return t.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1});
}

// GeluGrad is g·GELU'(x) for channels-last g and x.
struct GeluGrad : public torch::autograd::Function<GeluGrad> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &g, const at::Tensor &x) {
    RECORD_FUNCTION("vitprobe::gelu_backward", std::vector<c10::IValue>());
    ctx->save_for_backward({g, x});
    at::Tensor out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    at::Tensor o = nhwc(out);
    at::gelu_backward_out(o, nhwc(g), nhwc(x));
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &g = saved[0], &x = saved[1];
    const at::Tensor &gg = grads[0];
    if (!gg.defined()) return {at::Tensor(), at::Tensor()};
    at::Tensor dg = GeluGrad::apply(gg, x);
    at::Tensor x2 = x * x;
    at::Tensor pdf = at::exp(x2 * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
    at::Tensor dx = gg * g * pdf * (2.0 - x2);
    return {dg, dx};
  }
};

// Gelu is GELU(x) for a channels-last x.
struct Gelu : public torch::autograd::Function<Gelu> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x) {
    ctx->save_for_backward({x});
    at::Tensor out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    at::Tensor o = nhwc(out);
    at::gelu_out(o, nhwc(x));
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor()};
    return {GeluGrad::apply(grads[0], ctx->get_saved_variables()[0])};
  }
};

}  // namespace

extern "C" char *vp_gelu(vp_tensor t, vp_tensor *out) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    // A forward-mode tangent (the GGN's forward mode) takes libtorch's
    // gelu, as before: custom functions have no forward-mode formula here.
    bool tangent = vp_tangent(x);
    if (!tangent && x.dim() == 4 && !x.is_contiguous() &&
        x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      *out = new at::Tensor(Gelu::apply(x));
    } else {
      *out = new at::Tensor(at::gelu(x));
    }
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

// vitprobe's 2-D convolution with a double backward that stays in oneDNN.
//
// The forward pass and the backward pass are libtorch's own (at::convolution
// and at::convolution_backward, what autograd runs for conv2d), so values and
// first-order gradients are identical to conv2d's. The difference is the
// backward of the backward, which Hessian-vector products run: libtorch
// 1.13's _convolution_double_backward computes one of its terms as a
// transposed convolution, which for a strided convolution falls to the slow
// im2col path (slow_conv_transpose2d: 16-18% of a resnet-mini or
// alternet-mini product, profiled). Here every term is a convolution or a
// convolution's backward pass, which oneDNN runs:
//
// with y = conv(x, w) + b, its backward gx = ∂x⟨gy, y⟩, gw = ∂w⟨gy, y⟩,
// gb = Σ gy, and cotangents ggx, ggw, ggb of (gx, gw, gb),
//   ⟨ggx, gx⟩ + ⟨ggw, gw⟩ + ⟨ggb, gb⟩ = ⟨gy, conv(ggx, w) + conv(x, ggw) + ggb⟩,
// so the double backward is
//   g_gy = conv(ggx, w) + conv(x, ggw) + ggb,
//   g_w  = the weight gradient of conv(ggx, ·) for the output gradient gy,
//   g_x  = the input gradient of conv(·, ggw) for the output gradient gy.
#include "shim.h"
#include "shim_error.h"
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace vp_conv {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Geometry of one convolution.
struct Geom {
  std::vector<int64_t> stride, pad, dil;
  int64_t groups;
};

Geom geom_of(AutogradContext *ctx) {
  Geom g;
  g.stride = ctx->saved_data["stride"].toIntVector();
  g.pad = ctx->saved_data["pad"].toIntVector();
  g.dil = ctx->saved_data["dil"].toIntVector();
  g.groups = ctx->saved_data["groups"].toInt();
  return g;
}

void save_geom(AutogradContext *ctx, const Geom &g) {
  ctx->saved_data["stride"] = g.stride;
  ctx->saved_data["pad"] = g.pad;
  ctx->saved_data["dil"] = g.dil;
  ctx->saved_data["groups"] = g.groups;
}

at::Tensor conv(const at::Tensor &x, const at::Tensor &w, const Geom &g) {
  return at::convolution(x, w, c10::nullopt, g.stride, g.pad, g.dil, false, {0, 0}, g.groups);
}

// conv_backward returns libtorch's (input, weight) gradients of conv(x, w)
// for the output gradient gy, as the mask asks.
std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(const at::Tensor &gy, const at::Tensor &x,
                                                             const at::Tensor &w, const Geom &g,
                                                             bool want_x, bool want_w, bool want_b) {
  std::vector<int64_t> bias_sizes{w.size(0)};
  at::OptionalIntArrayRef bs = c10::nullopt;
  if (want_b) bs = at::IntArrayRef(bias_sizes);
  return at::convolution_backward(gy, x, w, bs, g.stride, g.pad, g.dil, false, {0, 0}, g.groups,
                                  {want_x, want_w, want_b});
}

// The backward pass as a differentiable operator. Inputs x, w, gy; outputs
// gw, then gx if asked (x needs a gradient), then gb if the convolution
// has a bias.
struct ConvBackward : public torch::autograd::Function<ConvBackward> {
  static variable_list forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                               const at::Tensor &gy, Geom g, bool want_x, bool has_b) {
    auto r = conv_backward(gy, x, w, g, want_x, true, has_b);
    ctx->save_for_backward({x, w, gy});
    save_geom(ctx, g);
    ctx->saved_data["want_x"] = want_x;
    ctx->saved_data["has_b"] = has_b;
    variable_list out{std::get<1>(r)};
    if (want_x) out.push_back(std::get<0>(r));
    if (has_b) out.push_back(std::get<2>(r));
    return out;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    TORCH_CHECK(!torch::autograd::GradMode::is_enabled(),
                "vitprobe convolution: third derivatives are not implemented");
    RECORD_FUNCTION("vitprobe::conv2d_double_backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &gy = saved[2];
    Geom g = geom_of(ctx);
    const bool want_x = ctx->saved_data["want_x"].toBool();
    const bool has_b = ctx->saved_data["has_b"].toBool();
    at::Tensor ggw = grads[0];
    at::Tensor ggx = want_x ? grads[1] : at::Tensor();
    at::Tensor ggb = has_b ? grads[want_x ? 2 : 1] : at::Tensor();
    at::Tensor g_gy, g_w, g_x;
    if (ggw.defined()) {
      g_gy = conv(x, ggw, g);
      if (want_x) {
        g_x = std::get<0>(conv_backward(gy, x, ggw, g, true, false, false));
      }
    }
    if (ggx.defined()) {
      at::Tensor t = conv(ggx, w, g);
      g_gy = g_gy.defined() ? g_gy.add_(t) : t;
      g_w = std::get<1>(conv_backward(gy, ggx, w, g, false, true, false));
    }
    if (ggb.defined()) {
      at::Tensor t = ggb.reshape({1, -1, 1, 1}).expand_as(gy);
      g_gy = g_gy.defined() ? g_gy.add_(t) : t.contiguous(gy.suggest_memory_format());
    }
    return {g_x, g_w, g_gy, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct Conv : public torch::autograd::Function<Conv> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                            const at::Tensor &b, Geom g) {
    const bool has_b = b.numel() > 0;
    at::Tensor y = at::convolution(x, w, has_b ? c10::optional<at::Tensor>(b) : c10::nullopt, g.stride, g.pad,
                                   g.dil, false, {0, 0}, g.groups);
    ctx->save_for_backward({x, w});
    save_geom(ctx, g);
    ctx->saved_data["want_x"] = x.requires_grad();
    ctx->saved_data["has_b"] = has_b;
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    Geom g = geom_of(ctx);
    const bool want_x = ctx->saved_data["want_x"].toBool();
    const bool has_b = ctx->saved_data["has_b"].toBool();
    auto r = ConvBackward::apply(saved[0], saved[1], grads[0], g, want_x, has_b);
    at::Tensor gx = want_x ? r[1] : at::Tensor();
    at::Tensor gb = has_b ? r[want_x ? 2 : 1] : at::Tensor();
    return {gx, r[0], gb, at::Tensor()};
  }
};

}  // namespace vp_conv

extern "C" char *vp_conv2d(vp_tensor x, vp_tensor w, vp_tensor b, long long stride, long long pad,
                           long long groups, vp_tensor *out) {
  try {
    const at::Tensor &xt = *static_cast<at::Tensor *>(x);
    const at::Tensor &wt = *static_cast<at::Tensor *>(w);
    at::Tensor bt = b != nullptr ? *static_cast<at::Tensor *>(b) : at::empty({0}, wt.options().requires_grad(false));
    vp_conv::Geom g{{stride, stride}, {pad, pad}, {1, 1}, groups};
    if (vp_tangent(xt) || vp_tangent(wt) || vp_tangent(bt)) {
      // libtorch 1.13 runs no forward mode through a C++ custom Function;
      // its own convolution has the forward-mode formula.
      *out = new at::Tensor(at::convolution(xt, wt, bt.numel() > 0 ? c10::optional<at::Tensor>(bt) : c10::nullopt,
                                            g.stride, g.pad, g.dil, false, {0, 0}, g.groups));
      return nullptr;
    }
    *out = new at::Tensor(vp_conv::Conv::apply(xt, wt, bt, g));
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

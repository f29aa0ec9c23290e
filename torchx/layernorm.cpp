// vitprobe's layer norm over the last dimension, with a fused double backward.
//
// The forward pass and the backward pass are libtorch's own
// (native_layer_norm and native_layer_norm_backward, what autograd runs for
// layer_norm), so values and first-order gradients are identical to
// layer_norm's. The difference is the backward of the backward, which
// Hessian-vector products run: libtorch 1.13 builds it from about forty
// elementwise operators and reductions per call (a quarter of a vit-mini
// product on two threads, profiled); here it is one pass over the rows.
//
// Per row of D values, with μ and r = 1/σ the row's mean and inverse
// standard deviation, x̂ = (x − μ)·r, and J the Jacobian of x̂ with respect
// to x, which is symmetric:
//   J v = r·(v − mean(v) − x̂·⟨v, x̂⟩/D).
// The backward pass, for the output gradient gy and g = gy ⊙ w:
//   gx = J g,  gw = Σ_rows gy ⊙ x̂,  gb = Σ_rows gy.
// With cotangents u (of gx), ggw (of gw) and ggb (of gb):
//   - through gx = J g, ⟨u, J g⟩ = r·C − (r/D)·A·B with A = ⟨u, x̂⟩,
//     B = ⟨g, x̂⟩, C = ⟨u, g⟩ − D·mean(u)·mean(g), and ∂r/∂x = −r²·x̂/D,
//     ∂A/∂x = J u, ∂B/∂x = J g:
//       g_x  = −(r²/D)·(C − A·B/D)·x̂ − (r/D)·(B·J u + A·J g),
//       g_gy = w ⊙ J u,  g_w = Σ_rows gy ⊙ J u;
//   - through gw: g_x += J (gy ⊙ ggw), g_gy += ggw ⊙ x̂;
//   - through gb: g_gy += ggb.
// Each row's sums are in double; g_w is added over fixed blocks of rows in
// block order, so the result does not depend on the thread count.
#include "shim.h"
#include "shim_error.h"
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <vector>

namespace vp_ln {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kRows = 64;  // rows per block of g_w's partial sums

// Inputs of the double backward pass, rows of D floats; ggx, ggw and ggb
// may be null (no cotangent).
struct Dbl {
  int64_t M, D;
  const float *x, *mean, *rstd, *w, *gy, *ggx, *ggw, *ggb;
  float *gx, *ggy;
  double *gw;  // nb·D partial sums, one row per block
};

// dbl_rows runs the double backward pass on rows [lo, hi) of block b.
// Compiled for AVX-512, AVX2 or plain x86-64 (chosen at load time), with
// its row sums reassociated so that they vectorise: the order of a sum's
// terms is fixed by the code and the CPU, not by the thread count.
__attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),
               optimize("O3", "associative-math", "no-signed-zeros", "no-trapping-math"))) void
dbl_rows(const Dbl &a, int64_t lo, int64_t hi, int64_t b) {
  const int64_t D = a.D;
  const double invD = 1.0 / static_cast<double>(D);
  std::vector<double> xh(D), g(D), ju(D), jg(D), t(D), ox(D), oy(D);
  double *gw = a.gw + b * D;
  for (int64_t i = lo; i < hi; i++) {
    const float *x = a.x + i * D, *gy = a.gy + i * D;
    const double mu = a.mean[i], r = a.rstd[i];
    double gbar = 0, B = 0;
    for (int64_t j = 0; j < D; j++) {
      xh[j] = (static_cast<double>(x[j]) - mu) * r;
      g[j] = static_cast<double>(gy[j]) * a.w[j];
      gbar += g[j];
      B += g[j] * xh[j];
    }
    gbar *= invD;
    float *gx = a.gx + i * D, *ggy = a.ggy + i * D;
    std::fill(ox.begin(), ox.end(), 0.0);
    std::fill(oy.begin(), oy.end(), 0.0);
    if (a.ggx != nullptr) {
      const float *u = a.ggx + i * D;
      double ubar = 0, A = 0, S = 0;
      for (int64_t j = 0; j < D; j++) {
        const double uj = u[j];
        ubar += uj;
        A += uj * xh[j];
        S += uj * g[j];
      }
      ubar *= invD;
      const double C = S - static_cast<double>(D) * ubar * gbar;
      const double k = -r * r * invD * (C - A * B * invD);
      for (int64_t j = 0; j < D; j++) {
        ju[j] = r * (u[j] - ubar - xh[j] * A * invD);
        jg[j] = r * (g[j] - gbar - xh[j] * B * invD);
        ox[j] += k * xh[j] - r * invD * (B * ju[j] + A * jg[j]);
        oy[j] += a.w[j] * ju[j];
        gw[j] += static_cast<double>(gy[j]) * ju[j];
      }
    }
    if (a.ggw != nullptr) {
      double tbar = 0, T = 0;
      for (int64_t j = 0; j < D; j++) {
        t[j] = static_cast<double>(gy[j]) * a.ggw[j];
        tbar += t[j];
        T += t[j] * xh[j];
      }
      tbar *= invD;
      for (int64_t j = 0; j < D; j++) {
        ox[j] += r * (t[j] - tbar - xh[j] * T * invD);
        oy[j] += a.ggw[j] * xh[j];
      }
    }
    if (a.ggb != nullptr) {
      for (int64_t j = 0; j < D; j++) oy[j] += a.ggb[j];
    }
    for (int64_t j = 0; j < D; j++) {
      gx[j] = static_cast<float>(ox[j]);
      ggy[j] = static_cast<float>(oy[j]);
    }
  }
}

// float_or_null returns t's data as floats (t made contiguous into keep),
// or null for an undefined t.
const float *float_or_null(const at::Tensor &t, at::Tensor *keep) {
  if (!t.defined()) return nullptr;
  *keep = t.contiguous();
  return keep->data_ptr<float>();
}

// The backward pass as a differentiable operator. Inputs x, w, gy; outputs
// gx, gw, gb. The row statistics and the bias are kept aside (not
// differentiated: the formulas account for the statistics).
struct LNBackward : public torch::autograd::Function<LNBackward> {
  static variable_list forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w, const at::Tensor &gy,
                               const at::Tensor &b, const at::Tensor &mean, const at::Tensor &rstd) {
    const int64_t D = x.size(-1);
    auto r = at::native_layer_norm_backward(gy, x, {D}, mean, rstd, w, b, {true, true, true});
    ctx->save_for_backward({x, w, gy});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["rstd"] = rstd;
    return {std::get<0>(r), std::get<1>(r), std::get<2>(r)};
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    TORCH_CHECK(!torch::autograd::GradMode::is_enabled(),
                "vitprobe layer norm: third derivatives are not implemented");
    RECORD_FUNCTION("vitprobe::layer_norm_double_backward", std::vector<c10::IValue>());
    if (!grads[0].defined() && !grads[1].defined() && !grads[2].defined()) {
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    auto saved = ctx->get_saved_variables();
    const at::Tensor x = saved[0].contiguous(), w = saved[1].contiguous(), gy = saved[2].contiguous();
    const at::Tensor mean = ctx->saved_data["mean"].toTensor().contiguous();
    const at::Tensor rstd = ctx->saved_data["rstd"].toTensor().contiguous();
    const int64_t D = x.size(-1), M = x.numel() / std::max<int64_t>(D, 1);
    at::Tensor k0, k1, k2;
    Dbl a{M, D, x.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(), w.data_ptr<float>(),
          gy.data_ptr<float>(), float_or_null(grads[0], &k0), float_or_null(grads[1], &k1),
          float_or_null(grads[2], &k2), nullptr, nullptr, nullptr};
    at::Tensor gx = at::empty_like(x), ggy = at::empty_like(gy);
    a.gx = gx.data_ptr<float>();
    a.ggy = ggy.data_ptr<float>();
    const int64_t nb = (M + kRows - 1) / kRows;
    std::vector<double> part(static_cast<size_t>(nb * D), 0.0);
    a.gw = part.data();
    at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; b++) dbl_rows(a, b * kRows, std::min(M, (b + 1) * kRows), b);
    });
    at::Tensor gw = at::zeros({D}, x.options());
    if (a.ggx != nullptr) {
      std::vector<double> sum(static_cast<size_t>(D), 0.0);
      for (int64_t b = 0; b < nb; b++) {
        for (int64_t j = 0; j < D; j++) sum[j] += part[b * D + j];
      }
      float *o = gw.data_ptr<float>();
      for (int64_t j = 0; j < D; j++) o[j] = static_cast<float>(sum[j]);
    }
    return {gx, gw.view_as(w), ggy, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct LN : public torch::autograd::Function<LN> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                            double eps) {
    const int64_t D = x.size(-1);
    auto r = at::native_layer_norm(x, {D}, w, b, eps);
    ctx->save_for_backward({x, w});
    ctx->saved_data["b"] = b;
    ctx->saved_data["mean"] = std::get<1>(r);
    ctx->saved_data["rstd"] = std::get<2>(r);
    return std::get<0>(r);
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    auto saved = ctx->get_saved_variables();
    auto r = LNBackward::apply(saved[0], saved[1], grads[0], ctx->saved_data["b"].toTensor(),
                               ctx->saved_data["mean"].toTensor(), ctx->saved_data["rstd"].toTensor());
    return {r[0], r[1], r[2], at::Tensor()};
  }
};

}  // namespace vp_ln

extern "C" char *vp_layer_norm(vp_tensor x, vp_tensor w, vp_tensor b, double eps, vp_tensor *out) {
  try {
    const at::Tensor &xt = *static_cast<at::Tensor *>(x);
    const at::Tensor &wt = *static_cast<at::Tensor *>(w);
    const at::Tensor &bt = *static_cast<at::Tensor *>(b);
    const int64_t D = xt.dim() > 0 ? xt.size(-1) : 0;
    const bool fused = wt.defined() && bt.defined() && torch::autograd::GradMode::is_enabled() &&
                       (xt.requires_grad() || wt.requires_grad() || bt.requires_grad()) && xt.dim() >= 1 &&
                       xt.device().is_cpu() && xt.scalar_type() == at::kFloat && wt.scalar_type() == at::kFloat &&
                       bt.scalar_type() == at::kFloat && wt.dim() == 1 && bt.dim() == 1 && wt.size(0) == D &&
                       bt.size(0) == D && !vp_tangent(xt) && !vp_tangent(wt) && !vp_tangent(bt);
    if (!fused) {
      // No graph to record, another dtype or device, or a forward-mode
      // tangent (libtorch 1.13 runs no forward mode through a C++ custom
      // Function): libtorch's layer_norm, the same forward pass.
      *out = new at::Tensor(at::layer_norm(xt, {D}, wt, bt, eps));
      return nullptr;
    }
    *out = new at::Tensor(vp_ln::LN::apply(xt, wt, bt, eps));
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

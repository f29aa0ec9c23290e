// vitprobe's batch norm with batch statistics for channels-last maps.
//
// libtorch 1.13's CPU kernel for channels-last input adds the N·H·W values of
// each channel one after the other in float32, for the mean, the variance
// and the two sums of its backward pass. When a channel's mean is large
// against its spread (residual streams, smoothed maps), the rounding of
// those sums is amplified by mean/std: on such maps its outputs and
// gradients are 10 times further from float64 than its kernel for the
// standard layout (4e-4 against 3.5e-5 relative at mean/std = 1000), and a
// network's gradients 1e-3 against 1e-6. Here every per-channel sum is
// accumulated in double, in blocks of rows whose partial sums are added in
// block order (so the numbers do not depend on the number of threads), and
// the per-element work, (x − mean)·scale + b forward and
// k1·dy + k2·(x − mean) + k3 backward, runs in double too.
//
// The statistics are computed before the autograd node (the running
// averages are updated there), and its backward pass is the usual one,
// with the batch statistics' dependence on x:
//   x̂ = (x − μ)·σ⁻¹,  gb = Σ dy,  gw = Σ dy·x̂,
//   gx = w·σ⁻¹·(dy − gb/M − x̂·gw/M)        (sums over the M = N·H·W rows).
// When that backward pass is itself differentiated (create_graph), it is
// computed from libtorch operators (var_mean, sums), which autograd
// differentiates; forward-mode tangents take libtorch's batch_norm.
#include "shim.h"
#include "shim_error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#pragma GCC optimize("O3")

namespace vp_bn {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The row kernels are compiled three times and picked at load (an ifunc).
#define VP_CLONES __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// Rows [lo, hi) of the row-major (M, C) arrays: the channels-last layout of
// an (N, C, H, W) map, one row per pixel.

// acc[c] += Σ x[i][c].
VP_CLONES void sum_rows(int64_t lo, int64_t hi, int64_t C, const float *__restrict x,
                        double *__restrict acc) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C;
    for (int64_t c = 0; c < C; c++) acc[c] += static_cast<double>(r[c]);
  }
}

// acc[c] += Σ (x[i][c] − mean[c])².
VP_CLONES void sqdev_rows(int64_t lo, int64_t hi, int64_t C, const float *__restrict x,
                          const double *__restrict mean, double *__restrict acc) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C;
    for (int64_t c = 0; c < C; c++) {
      const double d = static_cast<double>(r[c]) - mean[c];
      acc[c] += d * d;
    }
  }
}

// y[i][c] = (x[i][c] − mean[c])·scale[c] + shift[c].
VP_CLONES void affine_rows(int64_t lo, int64_t hi, int64_t C, const float *__restrict x,
                           const double *__restrict mean, const double *__restrict scale,
                           const double *__restrict shift, float *__restrict y) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C;
    float *__restrict o = y + i * C;
    for (int64_t c = 0; c < C; c++) {
      o[c] = static_cast<float>((static_cast<double>(r[c]) - mean[c]) * scale[c] + shift[c]);
    }
  }
}

// acc[c] += Σ dy[i][c] and acc[C + c] += Σ dy[i][c]·(x[i][c] − mean[c]).
VP_CLONES void bwd_sum_rows(int64_t lo, int64_t hi, int64_t C, const float *__restrict x,
                            const float *__restrict dy, const double *__restrict mean,
                            double *__restrict acc) {
  double *__restrict a = acc, *__restrict b = acc + C;
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C, *__restrict g = dy + i * C;
    for (int64_t c = 0; c < C; c++) {
      const double gd = static_cast<double>(g[c]);
      a[c] += gd;
      b[c] += gd * (static_cast<double>(r[c]) - mean[c]);
    }
  }
}

// gx[i][c] = k1[c]·dy[i][c] + k2[c]·(x[i][c] − mean[c]) + k3[c].
VP_CLONES void bwd_rows(int64_t lo, int64_t hi, int64_t C, const float *__restrict x,
                        const float *__restrict dy, const double *__restrict mean,
                        const double *__restrict k1, const double *__restrict k2,
                        const double *__restrict k3, float *__restrict gx) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C, *__restrict g = dy + i * C;
    float *__restrict o = gx + i * C;
    for (int64_t c = 0; c < C; c++) {
      o[c] = static_cast<float>(k1[c] * static_cast<double>(g[c]) +
                                k2[c] * (static_cast<double>(r[c]) - mean[c]) + k3[c]);
    }
  }
}

constexpr int64_t kBlock = 256;    // rows per partial sum
constexpr int64_t kGrain = 2048;   // rows per task of the elementwise passes

// block_sums runs kernel(lo, hi, acc) on blocks of kBlock rows, each into a
// zeroed accumulator of width n, and returns the accumulators added in
// block order.
template <typename K>
std::vector<double> block_sums(int64_t M, int64_t n, K kernel) {
  const int64_t nb = (M + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(nb * n), 0.0);
  at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b++) {
      kernel(b * kBlock, std::min(M, (b + 1) * kBlock), part.data() + b * n);
    }
  });
  std::vector<double> out(static_cast<size_t>(n), 0.0);
  for (int64_t b = 0; b < nb; b++) {
    for (int64_t j = 0; j < n; j++) out[j] += part[b * n + j];
  }
  return out;
}

// rows returns the number of rows (N·H·W) and channels of a 4-D map.
void dims(const at::Tensor &x, int64_t *M, int64_t *C) {
  *C = x.size(1);
  *M = x.numel() / std::max<int64_t>(*C, 1);
}

at::Tensor doubles(const std::vector<double> &v) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::TensorOptions().dtype(at::kDouble));
  std::memcpy(t.data_ptr<double>(), v.data(), v.size() * sizeof(double));
  return t;
}

// BNTrain normalises x with the batch statistics mean and invstd (double,
// (C), computed by the caller from x) and applies w, b.
struct BNTrain : public torch::autograd::Function<BNTrain> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                            const at::Tensor &b, const at::Tensor &mean, const at::Tensor &invstd,
                            double eps) {
    RECORD_FUNCTION("vitprobe::batch_norm_affine", std::vector<c10::IValue>());
    int64_t M, C;
    dims(x, &M, &C);
    at::Tensor wd = w.detach().to(at::kDouble).contiguous(), bd = b.detach().to(at::kDouble).contiguous();
    std::vector<double> scale(C);
    const double *is = invstd.data_ptr<double>(), *wp = wd.data_ptr<double>();
    for (int64_t c = 0; c < C; c++) scale[c] = wp[c] * is[c];
    at::Tensor y = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const float *xp = x.data_ptr<float>();
    const double *mp = mean.data_ptr<double>(), *bp = bd.data_ptr<double>();
    float *yp = y.data_ptr<float>();
    at::parallel_for(0, M, kGrain, [&](int64_t lo, int64_t hi) {
      affine_rows(lo, hi, C, xp, mp, scale.data(), bp, yp);
    });
    ctx->save_for_backward({x, w});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["invstd"] = invstd;
    ctx->saved_data["eps"] = eps;
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    RECORD_FUNCTION("vitprobe::batch_norm_backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    if (torch::autograd::GradMode::is_enabled()) {
      auto r = composite_backward(x, w, ctx->saved_data["mean"].toTensor(), grads[0], eps);
      return {r[0], r[1], r[2], at::Tensor(), at::Tensor(), at::Tensor()};
    }
    at::Tensor mean = ctx->saved_data["mean"].toTensor(), invstd = ctx->saved_data["invstd"].toTensor();
    at::Tensor dy = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    int64_t M, C;
    dims(x, &M, &C);
    const float *xp = x.data_ptr<float>(), *gp = dy.data_ptr<float>();
    const double *mp = mean.data_ptr<double>(), *is = invstd.data_ptr<double>();
    std::vector<double> s = block_sums(M, 2 * C, [&](int64_t lo, int64_t hi, double *acc) {
      bwd_sum_rows(lo, hi, C, xp, gp, mp, acc);
    });
    at::Tensor wd = w.detach().to(at::kDouble).contiguous();
    const double *wp = wd.data_ptr<double>();
    std::vector<double> k1(C), k2(C), k3(C), gw(C), gb(C);
    for (int64_t c = 0; c < C; c++) {
      const double sdy = s[c], sdyx = s[C + c];
      gb[c] = sdy;
      gw[c] = sdyx * is[c];
      k1[c] = wp[c] * is[c];
      k2[c] = -wp[c] * is[c] * is[c] * is[c] * sdyx / static_cast<double>(M);
      k3[c] = -wp[c] * is[c] * sdy / static_cast<double>(M);
    }
    at::Tensor gx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    float *op = gx.data_ptr<float>();
    at::parallel_for(0, M, kGrain, [&](int64_t lo, int64_t hi) {
      bwd_rows(lo, hi, C, xp, gp, mp, k1.data(), k2.data(), k3.data(), op);
    });
    return {gx, doubles(gw).to(w.scalar_type()), doubles(gb).to(w.scalar_type()), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }

  // composite_backward is the backward pass from libtorch operators, for a
  // backward pass that is itself differentiated. x is first shifted by the
  // batch mean as a constant (mean0; exact in float32 for values within a
  // factor 2 of it), so that the float32 statistics and x̂ are formed from
  // small numbers; the derivatives are those of x.
  static std::vector<at::Tensor> composite_backward(const at::Tensor &x, const at::Tensor &w, const at::Tensor &mean0,
                                                    const at::Tensor &dy, double eps) {
    const int64_t C = x.size(1);
    const double M = static_cast<double>(x.numel() / std::max<int64_t>(C, 1));
    at::Tensor xs = x - mean0.to(x.scalar_type()).view({1, C, 1, 1});
    auto vm = at::var_mean(xs, at::IntArrayRef{0, 2, 3}, /*unbiased=*/false, /*keepdim=*/true);
    at::Tensor invstd = (std::get<0>(vm) + eps).rsqrt();
    at::Tensor xhat = (xs - std::get<1>(vm)) * invstd;
    at::Tensor gb = dy.sum(at::IntArrayRef{0, 2, 3});
    at::Tensor gw = (dy * xhat).sum(at::IntArrayRef{0, 2, 3});
    at::Tensor gx = w.view({1, C, 1, 1}) * invstd *
                    (dy - gb.view({1, C, 1, 1}) / M - xhat * gw.view({1, C, 1, 1}) / M);
    return {gx, gw, gb};
  }
};

bool has_tangent(const at::Tensor &t) { return t.defined() && t._fw_grad(/*level=*/0).defined(); }

}  // namespace vp_bn

extern "C" char *vp_batch_norm_train(vp_tensor x, vp_tensor w, vp_tensor b, vp_tensor running_mean,
                                     vp_tensor running_var, double momentum, double eps, vp_tensor *out) {
  using namespace vp_bn;
  try {
    const at::Tensor &xt = *static_cast<at::Tensor *>(x);
    const at::Tensor &wt = *static_cast<at::Tensor *>(w);
    const at::Tensor &bt = *static_cast<at::Tensor *>(b);
    at::Tensor rm = running_mean != nullptr ? *static_cast<at::Tensor *>(running_mean) : at::Tensor();
    at::Tensor rv = running_var != nullptr ? *static_cast<at::Tensor *>(running_var) : at::Tensor();
    const bool mine = xt.dim() == 4 && xt.is_cpu() && xt.scalar_type() == at::kFloat &&
                      xt.is_contiguous(at::MemoryFormat::ChannelsLast) && xt.numel() > 0 &&
                      xt.size(1) == wt.numel() && xt.size(1) == bt.numel() && !has_tangent(xt) &&
                      !has_tangent(wt) && !has_tangent(bt);
    if (!mine) {
      *out = new at::Tensor(at::batch_norm(xt, wt, bt, rm, rv, /*training=*/true, momentum, eps,
                                           /*cudnn_enabled=*/false));
      return nullptr;
    }
    int64_t M, C;
    dims(xt, &M, &C);
    TORCH_CHECK(M > 1, "vitprobe batch norm: expected more than 1 value per channel when training, got input size ",
                xt.sizes());
    at::Tensor mean_t, invstd_t;
    {
      RECORD_FUNCTION("vitprobe::batch_norm_stats", std::vector<c10::IValue>());
      at::NoGradGuard no_grad;
      const float *xp = xt.data_ptr<float>();
      std::vector<double> mean = block_sums(M, C, [&](int64_t lo, int64_t hi, double *acc) {
        sum_rows(lo, hi, C, xp, acc);
      });
      for (auto &m : mean) m /= static_cast<double>(M);
      std::vector<double> var = block_sums(M, C, [&](int64_t lo, int64_t hi, double *acc) {
        sqdev_rows(lo, hi, C, xp, mean.data(), acc);
      });
      std::vector<double> invstd(C), unbiased(C);
      for (int64_t c = 0; c < C; c++) {
        unbiased[c] = var[c] / static_cast<double>(M - 1);
        var[c] /= static_cast<double>(M);
        invstd[c] = 1.0 / std::sqrt(var[c] + eps);
      }
      mean_t = doubles(mean);
      invstd_t = doubles(invstd);
      if (rm.defined()) rm.mul_(1 - momentum).add_(mean_t.to(rm.scalar_type()), momentum);
      if (rv.defined()) rv.mul_(1 - momentum).add_(doubles(unbiased).to(rv.scalar_type()), momentum);
    }
    *out = new at::Tensor(BNTrain::apply(xt, wt, bt, mean_t, invstd_t, eps));
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

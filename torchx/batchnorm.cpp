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
// k1·dy + k2·(x − mean) + k3 backward, runs in double too. The mean and
// variance come from one pass (Σx and Σx² in double; see moments_rows).
//
// The workers of a split training pass (one worker's rows each, on its own
// thread) share the statistics through a Group: each hands in its sums
// (one exchange forward, one backward) and all continue with the sums of
// every worker, added in rank order, so each worker's rows are normalised,
// and differentiated, as in the unsplit pass.
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
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#pragma GCC optimize("O3")

namespace vp_bn {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The row kernels. Rows [lo, hi) of the row-major (M, C) arrays: the
// channels-last layout of an (N, C, H, W) map, one row per pixel.
//
// Each kernel has two forms. The generic one goes row by row over
// channels [c0, C), compiled three times and picked at load (an ifunc).
// On CPUs with AVX2 and FMA (Intel since Haswell, AMD since Zen) an
// intrinsic form does channels [0, C − C mod 16) first, four doubles per
// register: the sums over a strip of 16 channels at a time, the strip's
// sums held in registers across the block's rows, and the elementwise
// passes 4 channels at a time. The generic sums kept their accumulators in
// memory, so every row's additions waited for the previous row's stores to
// be read back, and GCC 12 converts float vectors to double ones two
// values at a time with shuffles: the two sum passes ran about three
// times slower than reading the map (perf annotate of resnet-mini's
// step). Both forms add each channel's values in row order, in blocks
// of rows added in block order, so neither depends on the thread count;
// the tests check both against float64 (vp_batch_norm_simd selects).
//
// With a ReLU after batch norm (relu, or scale and shift given to the
// backward kernels), the forward pass writes max(0, y) and the backward
// passes take dy only where y > 0, y recomputed from x with the forward's
// operations (so the same values): the ReLU has no pass of its own over
// the map, forward or backward. NaN stays NaN forward and has no
// gradient, as libtorch's relu.
#define VP_CLONES __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define VP_AVX2 __attribute__((noinline, target("avx2,fma")))

constexpr int64_t kStrip = 16;

// simd_here is whether the intrinsic forms can run here; simd whether
// they do (vp_batch_norm_simd).
const bool simd_here = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
std::atomic<bool> simd{simd_here};

// vector_channels is the number of leading channels the intrinsic forms
// do on this CPU: C − C mod 16, or none.
int64_t vector_channels(int64_t C) { return simd.load(std::memory_order_relaxed) ? C - C % kStrip : 0; }

// relu_grad is g where (x − mean)·scale + shift > 0, else 0 (g itself
// without scale: no ReLU).
inline double relu_grad(double g, double xc, const double *scale, const double *shift, int64_t c) {
  if (scale == nullptr) return g;
  return xc * scale[c] + shift[c] > 0 ? g : 0.0;
}

// acc[c] += Σ x[i][c] and acc[C + c] += Σ x[i][c]², in double, for
// channels [c0, C): the variance Σx²/M − (Σx/M)² then loses about
// (mean/std)²·1e-16 of itself, less than the float32 input's own rounding
// (mean/std·6e-8) for any ratio below 1e8, so one pass serves both
// statistics.
VP_CLONES void moments_generic(int64_t lo, int64_t hi, int64_t C, int64_t c0, const float *__restrict x,
                               double *__restrict acc) {
  double *__restrict a = acc, *__restrict b = acc + C;
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C;
    for (int64_t c = c0; c < C; c++) {
      const double d = static_cast<double>(r[c]);
      a[c] += d;
      b[c] += d * d;
    }
  }
}

// add_strip adds the four registers v (16 doubles) to p[0..16).
VP_AVX2 inline void add_strip(double *p, const __m256d v[4]) {
  for (int k = 0; k < 4; k++) _mm256_storeu_pd(p + 4 * k, _mm256_add_pd(_mm256_loadu_pd(p + 4 * k), v[k]));
}

// moments_avx2 is moments_generic for channels [0, cv), cv a multiple of
// 16, by strips.
VP_AVX2 void moments_avx2(int64_t lo, int64_t hi, int64_t C, int64_t cv, const float *__restrict x,
                          double *__restrict acc) {
  for (int64_t c0 = 0; c0 < cv; c0 += kStrip) {
    __m256d a[4], b[4];
    for (int k = 0; k < 4; k++) a[k] = b[k] = _mm256_setzero_pd();
    for (int64_t i = lo; i < hi; i++) {
      const float *r = x + i * C + c0;
      for (int k = 0; k < 4; k++) {
        const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(r + 4 * k));
        a[k] = _mm256_add_pd(a[k], d);
        b[k] = _mm256_fmadd_pd(d, d, b[k]);
      }
    }
    add_strip(acc + c0, a);
    add_strip(acc + C + c0, b);
  }
}

void moments_rows(int64_t lo, int64_t hi, int64_t C, const float *x, double *acc) {
  const int64_t cv = vector_channels(C);
  if (cv > 0) moments_avx2(lo, hi, C, cv, x, acc);
  if (cv < C) moments_generic(lo, hi, C, cv, x, acc);
}

// acc[c] += Σ dy[i][c] and acc[C + c] += Σ dy[i][c]·(x[i][c] − mean[c]),
// for channels [c0, C), dy masked by the ReLU when scale is not null.
VP_CLONES void bwd_sum_generic(int64_t lo, int64_t hi, int64_t C, int64_t c0, const float *__restrict x,
                               const float *__restrict dy, const double *__restrict mean,
                               const double *__restrict scale, const double *__restrict shift,
                               double *__restrict acc) {
  double *__restrict a = acc, *__restrict b = acc + C;
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C, *__restrict g = dy + i * C;
    for (int64_t c = c0; c < C; c++) {
      const double xc = static_cast<double>(r[c]) - mean[c];
      const double gd = relu_grad(static_cast<double>(g[c]), xc, scale, shift, c);
      a[c] += gd;
      b[c] += gd * xc;
    }
  }
}

// bwd_sum_avx2 is bwd_sum_generic for channels [0, cv), by strips.
template <bool Relu>
VP_AVX2 void bwd_sum_avx2(int64_t lo, int64_t hi, int64_t C, int64_t cv, const float *__restrict x,
                          const float *__restrict dy, const double *__restrict mean,
                          const double *__restrict scale, const double *__restrict shift, double *__restrict acc) {
  const __m256d zero = _mm256_setzero_pd();
  for (int64_t c0 = 0; c0 < cv; c0 += kStrip) {
    __m256d a[4], b[4], m[4], sc[4], sh[4];
    for (int k = 0; k < 4; k++) {
      a[k] = b[k] = zero;
      m[k] = _mm256_loadu_pd(mean + c0 + 4 * k);
      if (Relu) {
        sc[k] = _mm256_loadu_pd(scale + c0 + 4 * k);
        sh[k] = _mm256_loadu_pd(shift + c0 + 4 * k);
      }
    }
    for (int64_t i = lo; i < hi; i++) {
      const float *r = x + i * C + c0, *g = dy + i * C + c0;
      for (int k = 0; k < 4; k++) {
        __m256d gd = _mm256_cvtps_pd(_mm_loadu_ps(g + 4 * k));
        const __m256d xc = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + 4 * k)), m[k]);
        if (Relu) gd = _mm256_and_pd(gd, _mm256_cmp_pd(_mm256_fmadd_pd(xc, sc[k], sh[k]), zero, _CMP_GT_OQ));
        a[k] = _mm256_add_pd(a[k], gd);
        b[k] = _mm256_fmadd_pd(gd, xc, b[k]);
      }
    }
    add_strip(acc + c0, a);
    add_strip(acc + C + c0, b);
  }
}

void bwd_sum_rows(int64_t lo, int64_t hi, int64_t C, const float *x, const float *dy, const double *mean,
                  const double *scale, const double *shift, double *acc) {
  const int64_t cv = vector_channels(C);
  if (cv > 0 && scale != nullptr) bwd_sum_avx2<true>(lo, hi, C, cv, x, dy, mean, scale, shift, acc);
  if (cv > 0 && scale == nullptr) bwd_sum_avx2<false>(lo, hi, C, cv, x, dy, mean, scale, shift, acc);
  if (cv < C) bwd_sum_generic(lo, hi, C, cv, x, dy, mean, scale, shift, acc);
}

// y[i][c] = (x[i][c] − mean[c])·scale[c] + shift[c] (+ res[i][c] when res
// is not null), for channels [c0, C); max(0, y) with relu.
VP_CLONES void affine_generic(int64_t lo, int64_t hi, int64_t C, int64_t c0, const float *__restrict x,
                              const double *__restrict mean, const double *__restrict scale,
                              const double *__restrict shift, const float *__restrict res, bool relu,
                              float *__restrict y) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C;
    float *__restrict o = y + i * C;
    for (int64_t c = c0; c < C; c++) {
      double v = (static_cast<double>(r[c]) - mean[c]) * scale[c] + shift[c];
      if (res != nullptr) v += static_cast<double>(res[i * C + c]);
      o[c] = static_cast<float>(relu && v <= 0 ? 0.0 : v);
    }
  }
}

// affine_avx2 is affine_generic for channels [0, cv).
template <bool Res, bool Relu>
VP_AVX2 void affine_avx2(int64_t lo, int64_t hi, int64_t C, int64_t cv, const float *__restrict x,
                         const double *__restrict mean, const double *__restrict scale,
                         const double *__restrict shift, const float *__restrict res, float *__restrict y) {
  const __m256d zero = _mm256_setzero_pd();
  for (int64_t i = lo; i < hi; i++) {
    const float *r = x + i * C;
    float *o = y + i * C;
    for (int64_t c = 0; c < cv; c += 4) {
      const __m256d xc = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + c)), _mm256_loadu_pd(mean + c));
      __m256d v = _mm256_fmadd_pd(xc, _mm256_loadu_pd(scale + c), _mm256_loadu_pd(shift + c));
      if (Res) v = _mm256_add_pd(v, _mm256_cvtps_pd(_mm_loadu_ps(res + i * C + c)));
      if (Relu) v = _mm256_max_pd(zero, v);  // v when v is NaN
      _mm_storeu_ps(o + c, _mm256_cvtpd_ps(v));
    }
  }
}

void affine_rows(int64_t lo, int64_t hi, int64_t C, const float *x, const double *mean, const double *scale,
                 const double *shift, const float *res, bool relu, float *y) {
  const int64_t cv = vector_channels(C);
  if (cv > 0 && res != nullptr) affine_avx2<true, true>(lo, hi, C, cv, x, mean, scale, shift, res, y);
  if (cv > 0 && res == nullptr && relu) affine_avx2<false, true>(lo, hi, C, cv, x, mean, scale, shift, res, y);
  if (cv > 0 && res == nullptr && !relu) affine_avx2<false, false>(lo, hi, C, cv, x, mean, scale, shift, res, y);
  if (cv < C) affine_generic(lo, hi, C, cv, x, mean, scale, shift, res, relu, y);
}

// gx[i][c] = k1[c]·dy[i][c] + k2[c]·(x[i][c] − mean[c]) + k3[c], for
// channels [c0, C), dy masked by the ReLU when scale is not null.
VP_CLONES void bwd_generic(int64_t lo, int64_t hi, int64_t C, int64_t c0, const float *__restrict x,
                           const float *__restrict dy, const double *__restrict mean,
                           const double *__restrict scale, const double *__restrict shift,
                           const double *__restrict k1, const double *__restrict k2,
                           const double *__restrict k3, float *__restrict gx) {
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C, *__restrict g = dy + i * C;
    float *__restrict o = gx + i * C;
    for (int64_t c = c0; c < C; c++) {
      const double xc = static_cast<double>(r[c]) - mean[c];
      const double gd = relu_grad(static_cast<double>(g[c]), xc, scale, shift, c);
      o[c] = static_cast<float>(k1[c] * gd + k2[c] * xc + k3[c]);
    }
  }
}

// bwd_avx2 is bwd_generic for channels [0, cv).
template <bool Relu>
VP_AVX2 void bwd_avx2(int64_t lo, int64_t hi, int64_t C, int64_t cv, const float *__restrict x,
                      const float *__restrict dy, const double *__restrict mean, const double *__restrict scale,
                      const double *__restrict shift, const double *__restrict k1, const double *__restrict k2,
                      const double *__restrict k3, float *__restrict gx) {
  const __m256d zero = _mm256_setzero_pd();
  for (int64_t i = lo; i < hi; i++) {
    const float *r = x + i * C, *g = dy + i * C;
    float *o = gx + i * C;
    for (int64_t c = 0; c < cv; c += 4) {
      const __m256d xc = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + c)), _mm256_loadu_pd(mean + c));
      __m256d gd = _mm256_cvtps_pd(_mm_loadu_ps(g + c));
      if (Relu) {
        const __m256d y = _mm256_fmadd_pd(xc, _mm256_loadu_pd(scale + c), _mm256_loadu_pd(shift + c));
        gd = _mm256_and_pd(gd, _mm256_cmp_pd(y, zero, _CMP_GT_OQ));
      }
      const __m256d t = _mm256_fmadd_pd(_mm256_loadu_pd(k2 + c), xc, _mm256_loadu_pd(k3 + c));
      _mm_storeu_ps(o + c, _mm256_cvtpd_ps(_mm256_fmadd_pd(_mm256_loadu_pd(k1 + c), gd, t)));
    }
  }
}

void bwd_rows(int64_t lo, int64_t hi, int64_t C, const float *x, const float *dy, const double *mean,
              const double *scale, const double *shift, const double *k1, const double *k2, const double *k3,
              float *gx) {
  const int64_t cv = vector_channels(C);
  if (cv > 0 && scale != nullptr) bwd_avx2<true>(lo, hi, C, cv, x, dy, mean, scale, shift, k1, k2, k3, gx);
  if (cv > 0 && scale == nullptr) bwd_avx2<false>(lo, hi, C, cv, x, dy, mean, scale, shift, k1, k2, k3, gx);
  if (cv < C) bwd_generic(lo, hi, C, cv, x, dy, mean, scale, shift, k1, k2, k3, gx);
}

// With a residual map r added before the ReLU (the last batch norm of a
// residual block), the forward pass writes max(0, y + r), and the backward
// pass's sum pass forms g = dz where the output was positive, writes it
// (it is also the residual branch's gradient) and sums it; the elementwise
// pass then reads g. The ReLU's and the addition's passes are gone.

// g[i][c] = dz[i][c] where z[i][c] > 0, else 0; acc[c] += Σ g[i][c] and
// acc[C + c] += Σ g[i][c]·(x[i][c] − mean[c]), for channels [c0, C).
VP_CLONES void bwd_sum_res_generic(int64_t lo, int64_t hi, int64_t C, int64_t c0, const float *__restrict x,
                                   const float *__restrict dz, const float *__restrict z,
                                   const double *__restrict mean, float *__restrict g, double *__restrict acc) {
  double *__restrict a = acc, *__restrict b = acc + C;
  for (int64_t i = lo; i < hi; i++) {
    const float *__restrict r = x + i * C, *__restrict d = dz + i * C, *__restrict zz = z + i * C;
    float *__restrict o = g + i * C;
    for (int64_t c = c0; c < C; c++) {
      const float gf = zz[c] > 0 ? d[c] : 0.0f;
      o[c] = gf;
      const double gd = static_cast<double>(gf);
      a[c] += gd;
      b[c] += gd * (static_cast<double>(r[c]) - mean[c]);
    }
  }
}

// bwd_sum_res_avx2 is bwd_sum_res_generic for channels [0, cv), by strips.
VP_AVX2 void bwd_sum_res_avx2(int64_t lo, int64_t hi, int64_t C, int64_t cv, const float *__restrict x,
                              const float *__restrict dz, const float *__restrict z, const double *__restrict mean,
                              float *__restrict g, double *__restrict acc) {
  const __m128 zero = _mm_setzero_ps();
  for (int64_t c0 = 0; c0 < cv; c0 += kStrip) {
    __m256d a[4], b[4], m[4];
    for (int k = 0; k < 4; k++) {
      a[k] = b[k] = _mm256_setzero_pd();
      m[k] = _mm256_loadu_pd(mean + c0 + 4 * k);
    }
    for (int64_t i = lo; i < hi; i++) {
      const float *r = x + i * C + c0, *d = dz + i * C + c0, *zz = z + i * C + c0;
      float *o = g + i * C + c0;
      for (int k = 0; k < 4; k++) {
        const __m128 gf = _mm_and_ps(_mm_loadu_ps(d + 4 * k), _mm_cmp_ps(_mm_loadu_ps(zz + 4 * k), zero, _CMP_GT_OQ));
        _mm_storeu_ps(o + 4 * k, gf);
        const __m256d gd = _mm256_cvtps_pd(gf);
        const __m256d xc = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(r + 4 * k)), m[k]);
        a[k] = _mm256_add_pd(a[k], gd);
        b[k] = _mm256_fmadd_pd(gd, xc, b[k]);
      }
    }
    add_strip(acc + c0, a);
    add_strip(acc + C + c0, b);
  }
}

void bwd_sum_res_rows(int64_t lo, int64_t hi, int64_t C, const float *x, const float *dz, const float *z,
                      const double *mean, float *g, double *acc) {
  const int64_t cv = vector_channels(C);
  if (cv > 0) bwd_sum_res_avx2(lo, hi, C, cv, x, dz, z, mean, g, acc);
  if (cv < C) bwd_sum_res_generic(lo, hi, C, cv, x, dz, z, mean, g, acc);
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

// Group is the exchange through which the workers of a split training pass
// share batch norm's statistics: every participant hands in its partial
// sums and gets back the sums of all, added in rank order (so the result
// does not depend on which worker arrives first). A participant that fails
// abandons the exchange (abort), which wakes the others with an error
// instead of leaving them waiting; reset opens it again for n participants.
struct Group {
  // A new group is open for cap participants.
  explicit Group(int cap)
      : cap(cap), n(cap), parts(static_cast<size_t>(cap)), in(static_cast<size_t>(cap), false) {}

  // all_sum returns Σ_r v_r over the n participants' vectors, added in
  // rank order, once every participant has called it.
  std::vector<double> all_sum(int rank, std::vector<double> v) {
    std::unique_lock<std::mutex> lk(mu);
    TORCH_CHECK(!aborted, "vitprobe batch norm: the workers' statistics exchange was abandoned (another worker failed)");
    if (rank < 0 || rank >= n || in[rank]) {
      fail(lk);
      TORCH_CHECK(false, "vitprobe batch norm: worker ", rank, " of ", n, " handed in its statistics twice or out of range");
    }
    parts[rank] = std::move(v);
    in[rank] = true;
    if (++arrived == n) {
      std::vector<double> s(parts[0].size(), 0.0);
      for (int r = 0; r < n; r++) {
        if (parts[r].size() != s.size()) {
          fail(lk);
          TORCH_CHECK(false, "vitprobe batch norm: the workers' passes disagree (", parts[r].size(), " against ",
                      s.size(), " sums): are they copies of one model?");
        }
        for (size_t j = 0; j < s.size(); j++) s[j] += parts[r][j];
        in[r] = false;
      }
      sum = std::move(s);
      arrived = 0;
      round++;
      cv.notify_all();
      return sum;
    }
    const uint64_t mine = round;
    cv.wait(lk, [&] { return round != mine || aborted; });
    TORCH_CHECK(round != mine, "vitprobe batch norm: the workers' statistics exchange was abandoned (another worker failed)");
    return sum;
  }

  void abort() {
    std::lock_guard<std::mutex> lk(mu);
    aborted = true;
    cv.notify_all();
  }

  void reset(int participants) {
    std::lock_guard<std::mutex> lk(mu);
    n = participants;
    aborted = false;
    arrived = 0;
    std::fill(in.begin(), in.end(), false);
  }

  const int cap;

 private:
  void fail(std::unique_lock<std::mutex> &) {
    aborted = true;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  int n, arrived = 0;
  uint64_t round = 0;
  bool aborted = false;
  std::vector<std::vector<double>> parts;
  std::vector<bool> in;
  std::vector<double> sum;
};

// shared_sum is all_sum on g (nullptr: v itself). The callers abandon the
// exchange when they fail (their catch blocks call abort).
std::vector<double> shared_sum(Group *g, int rank, std::vector<double> v) {
  if (g == nullptr) return v;
  return g->all_sum(rank, std::move(v));
}

// BNTrain normalises x with the batch statistics mean and invstd (double,
// (C), computed by the caller from x) and applies w, b, then with relu
// max(0, ·), adding the residual map res first unless it is empty. With a group, the
// statistics are those of every participant's rows (rows of them in all),
// and so are the sums of the backward pass; the gradients of w and b are
// this participant's part (the caller adds the parts).
struct BNTrain : public torch::autograd::Function<BNTrain> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                            const at::Tensor &b, const at::Tensor &res, const at::Tensor &mean,
                            const at::Tensor &invstd, double eps, int64_t rows, int64_t group, int64_t rank,
                            bool relu) {
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
    const bool residual = res.numel() > 0;
    const float *rp = residual ? res.data_ptr<float>() : nullptr;
    at::parallel_for(0, M, kGrain, [&](int64_t lo, int64_t hi) {
      affine_rows(lo, hi, C, xp, mp, scale.data(), bp, rp, relu, yp);
    });
    // With the ReLU, b gives the mask's shift and y (an output: kept by
    // reference) the mask of a differentiated backward pass.
    ctx->save_for_backward(relu ? variable_list{x, w, b, y} : variable_list{x, w});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["invstd"] = invstd;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["group"] = group;
    ctx->saved_data["rank"] = rank;
    ctx->saved_data["relu"] = relu;
    ctx->saved_data["residual"] = residual;
    return y;
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    RECORD_FUNCTION("vitprobe::batch_norm_backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const double eps = ctx->saved_data["eps"].toDouble();
    Group *g = reinterpret_cast<Group *>(ctx->saved_data["group"].toInt());
    const int rank = static_cast<int>(ctx->saved_data["rank"].toInt());
    const bool relu = ctx->saved_data["relu"].toBool(), residual = ctx->saved_data["residual"].toBool();
    const at::Tensor none;
    try {
      if (g == nullptr && !grads[0].defined()) return {none, none, none, none, none, none, none, none, none, none, none};
      if (torch::autograd::GradMode::is_enabled()) {
        TORCH_CHECK(g == nullptr,
                    "vitprobe batch norm: a backward pass with a graph (create_graph) over statistics shared by workers");
        // The ReLU's mask is a constant of the pass (its derivative is
        // zero almost everywhere).
        const at::Tensor dy = relu ? grads[0] * saved[3].detach().gt(0).to(grads[0].scalar_type()) : grads[0];
        auto r = composite_backward(x, w, ctx->saved_data["mean"].toTensor(), dy, eps);
        return {r[0], r[1], r[2], residual ? dy : none, none, none, none, none, none, none, none};
      }
      // A participant whose rows do not reach the loss still takes part:
      // its rows' gradient comes from the others' through the statistics.
      at::Tensor dy = grads[0].defined() ? grads[0].contiguous(at::MemoryFormat::ChannelsLast)
                                         : at::zeros_like(x, at::MemoryFormat::ChannelsLast);
      at::Tensor mean = ctx->saved_data["mean"].toTensor(), invstd = ctx->saved_data["invstd"].toTensor();
      int64_t M, C;
      dims(x, &M, &C);
      const double rows = static_cast<double>(ctx->saved_data["rows"].toInt());
      const float *xp = x.data_ptr<float>(), *gp = dy.data_ptr<float>();
      // With the residual, the ReLU's mask comes from the output z, and the
      // sum pass writes the masked gradient gr (the residual's gradient),
      // which the elementwise pass then reads in place of dy.
      at::Tensor gr;
      if (residual) {
        gr = at::empty_like(x, at::MemoryFormat::ChannelsLast);
      }
      const double *mp = mean.data_ptr<double>(), *is = invstd.data_ptr<double>();
      at::Tensor wd = w.detach().to(at::kDouble).contiguous();
      const double *wp = wd.data_ptr<double>();
      // The ReLU's mask without a residual map: y = (x − mean)·scale +
      // shift as the forward pass formed it (null otherwise).
      std::vector<double> scale, shift;
      if (relu && !residual) {
        at::Tensor bd = saved[2].detach().to(at::kDouble).contiguous();
        const double *bp = bd.data_ptr<double>();
        scale.resize(C);
        shift.assign(bp, bp + C);
        for (int64_t c = 0; c < C; c++) scale[c] = wp[c] * is[c];
      }
      const double *sc = scale.empty() ? nullptr : scale.data(), *sh = shift.empty() ? nullptr : shift.data();
      const std::vector<double> s = block_sums(M, 2 * C, [&](int64_t lo, int64_t hi, double *acc) {
        if (residual) {
          bwd_sum_res_rows(lo, hi, C, xp, gp, saved[3].data_ptr<float>(), mp, gr.data_ptr<float>(), acc);
        } else {
          bwd_sum_rows(lo, hi, C, xp, gp, mp, sc, sh, acc);
        }
      });
      if (residual) gp = gr.data_ptr<float>();
      const std::vector<double> all = shared_sum(g, rank, s);
      std::vector<double> k1(C), k2(C), k3(C), gw(C), gb(C);
      for (int64_t c = 0; c < C; c++) {
        const double sdy = all[c], sdyx = all[C + c];
        gb[c] = s[c];
        gw[c] = s[C + c] * is[c];
        k1[c] = wp[c] * is[c];
        k2[c] = -wp[c] * is[c] * is[c] * is[c] * sdyx / rows;
        k3[c] = -wp[c] * is[c] * sdy / rows;
      }
      at::Tensor gx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
      float *op = gx.data_ptr<float>();
      at::parallel_for(0, M, kGrain, [&](int64_t lo, int64_t hi) {
        bwd_rows(lo, hi, C, xp, gp, mp, sc, sh, k1.data(), k2.data(), k3.data(), op);
      });
      return {gx, doubles(gw).to(w.scalar_type()), doubles(gb).to(w.scalar_type()),
              residual ? gr : none, none, none, none, none, none, none, none};
    } catch (...) {
      if (g != nullptr) g->abort();
      throw;
    }
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


// train is vp_batch_norm_train's body; with g, the statistics are shared
// by g's participants and x must be a float32 map on the CPU (taken to the
// channels-last layout if it is not); with relu, max(0, ·) of the result.
at::Tensor train(at::Tensor xt, const at::Tensor &wt, const at::Tensor &bt, at::Tensor res, at::Tensor rm,
                 at::Tensor rv, double momentum, double eps, Group *g, int rank, bool relu) {
  TORCH_CHECK(!res.defined() || relu, "vitprobe batch norm: a residual map without the ReLU");
  TORCH_CHECK(!res.defined() || res.sizes() == xt.sizes(), "vitprobe batch norm: a residual map of size ", res.sizes(),
              " for a map of size ", xt.sizes());
  const bool shape_ok = xt.dim() == 4 && xt.is_cpu() && xt.scalar_type() == at::kFloat && xt.numel() > 0 &&
                        xt.size(1) == wt.numel() && xt.size(1) == bt.numel();
  const bool tangents = vp_tangent(xt) || vp_tangent(wt) || vp_tangent(bt) || vp_tangent(res);
  const bool res_ok = !res.defined() || (res.scalar_type() == at::kFloat && res.is_cpu());
  if (g != nullptr) {
    TORCH_CHECK(shape_ok && res_ok && !tangents, "vitprobe batch norm: statistics shared by workers need a float32 (N, C, H, W) "
                                       "map on the CPU without forward-mode tangents, got ",
                xt.sizes(), " ", xt.scalar_type());
    xt = xt.contiguous(at::MemoryFormat::ChannelsLast);
  } else if (!shape_ok || !res_ok || tangents || !xt.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    at::Tensor y = at::batch_norm(xt, wt, bt, rm, rv, /*training=*/true, momentum, eps, /*cudnn_enabled=*/false);
    if (res.defined()) y = y + res;
    return relu ? at::relu(y) : y;
  }
  if (res.defined()) res = res.contiguous(at::MemoryFormat::ChannelsLast);
  int64_t M, C;
  dims(xt, &M, &C);
  at::Tensor mean_t, invstd_t;
  double rows = 0;
  {
    RECORD_FUNCTION("vitprobe::batch_norm_stats", std::vector<c10::IValue>());
    at::NoGradGuard no_grad;
    const float *xp = xt.data_ptr<float>();
    std::vector<double> sums = block_sums(M, 2 * C, [&](int64_t lo, int64_t hi, double *acc) {
      moments_rows(lo, hi, C, xp, acc);
    });
    sums.push_back(static_cast<double>(M));
    sums = shared_sum(g, rank, std::move(sums));
    rows = sums.back();
    TORCH_CHECK(rows > 1, "vitprobe batch norm: expected more than 1 value per channel when training, got input size ",
                xt.sizes());
    std::vector<double> mean(C), var(C);
    for (int64_t c = 0; c < C; c++) {
      mean[c] = sums[c] / rows;
      var[c] = std::max(0.0, sums[C + c] / rows - mean[c] * mean[c]);
    }
    std::vector<double> invstd(C), unbiased(C);
    for (int64_t c = 0; c < C; c++) {
      unbiased[c] = var[c] * rows / (rows - 1);
      invstd[c] = 1.0 / std::sqrt(var[c] + eps);
    }
    mean_t = doubles(mean);
    invstd_t = doubles(invstd);
    if (rm.defined()) rm.mul_(1 - momentum).add_(mean_t.to(rm.scalar_type()), momentum);
    if (rv.defined()) rv.mul_(1 - momentum).add_(doubles(unbiased).to(rv.scalar_type()), momentum);
  }
  // Without a residual map, an empty one (autograd's apply takes defined
  // tensors only).
  if (!res.defined()) res = at::empty({0}, xt.options());
  return BNTrain::apply(xt, wt, bt, res, mean_t, invstd_t, eps, static_cast<int64_t>(rows),
                        reinterpret_cast<int64_t>(g), static_cast<int64_t>(rank), relu);
}

}  // namespace vp_bn

extern "C" char *vp_batch_norm_train(vp_tensor x, vp_tensor w, vp_tensor b, vp_tensor running_mean,
                                     vp_tensor running_var, double momentum, double eps, vp_stats_group group,
                                     int rank, int relu, vp_tensor residual, vp_tensor *out) {
  using namespace vp_bn;
  Group *g = static_cast<Group *>(group);
  try {
    at::Tensor rm = running_mean != nullptr ? *static_cast<at::Tensor *>(running_mean) : at::Tensor();
    at::Tensor rv = running_var != nullptr ? *static_cast<at::Tensor *>(running_var) : at::Tensor();
    at::Tensor res = residual != nullptr ? *static_cast<at::Tensor *>(residual) : at::Tensor();
    *out = new at::Tensor(train(*static_cast<at::Tensor *>(x), *static_cast<at::Tensor *>(w),
                                *static_cast<at::Tensor *>(b), res, rm, rv, momentum, eps, g, rank, relu != 0));
    return nullptr;
  } catch (const std::exception &e) {
    if (g != nullptr) g->abort();
    return vp_error_copy(e);
  }
}

extern "C" int vp_batch_norm_simd(int on) { return vp_bn::simd.exchange(on != 0 && vp_bn::simd_here) ? 1 : 0; }

extern "C" char *vp_stats_group_new(int capacity, vp_stats_group *out) {
  try {
    TORCH_CHECK(capacity >= 1, "vitprobe batch norm: a statistics group of ", capacity, " workers");
    *out = new vp_bn::Group(capacity);
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

extern "C" char *vp_stats_group_reset(vp_stats_group g, int participants) {
  try {
    auto *grp = static_cast<vp_bn::Group *>(g);
    TORCH_CHECK(participants >= 1 && participants <= grp->cap, "vitprobe batch norm: ", participants,
                " participants in a statistics group of ", grp->cap);
    grp->reset(participants);
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

extern "C" void vp_stats_group_abort(vp_stats_group g) { static_cast<vp_bn::Group *>(g)->abort(); }

extern "C" void vp_stats_group_free(vp_stats_group g) { delete static_cast<vp_bn::Group *>(g); }

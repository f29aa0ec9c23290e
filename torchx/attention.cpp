// vitprobe's fused multi-head self-attention: softmax(s·QKᵀ + B)·V for every
// (sequence, head) pair in one operator, with hand-written backward and
// double-backward passes, so that training and Hessian-vector products go
// through the same few passes over memory.
//
// Why: libtorch 1.13 computes a batched attention product as one small
// OpenBLAS call per sequence and head (a few microseconds of set-up each for
// 65x16x65 products), plus permuted copies of q, k and v, a scaling pass and
// a softmax pass, and autograd's double backward through all of those. Here
// one loop over (sequence, head) pairs gathers the head's q, k, v from the
// packed projection, multiplies in small register-friendly loops and writes
// the result where the output projection reads it.
//
// Layout. qkv is (G, N, 3·H·d) contiguous: for token i of sequence g, the
// channels are [q heads 0..H-1 | k heads | v heads], d each (what ViT's qkv
// linear layer produces, and what AlterNet's window attention arranges).
// The output is (G, N, H·d). The optional bias is (N, N), added to every
// head's logits (AlterNet's relative-position bias).
//
// Derivatives, per (sequence, head), with S = s·QKᵀ + B, P = softmax(S),
// O = PV and the incoming dO:
//   backward:  dV = Pᵀ dO,  dP = dO Vᵀ,  r = rowsum(P ⊙ dP),
//              dS = P ⊙ (dP − r),  dQ = s·dS K,  dK = s·dSᵀ Q,  dB = Σ dS.
//   double backward, given cotangents gdQ, gdK, gdV (and gdB) of the
//   backward's outputs, the cotangents of its inputs Q, K, V, dO (and B):
//              g_dS = s·(gdQ Kᵀ + Q gdKᵀ) + gdB
//              g_r  = −rowsum(P ⊙ g_dS)
//              g_dP = P ⊙ (g_dS + g_r)
//              g_P  = g_dS ⊙ (dP − r) + g_r ⊙ dP + dO gdVᵀ
//              g_dO = g_dP V + P gdV,          g_V = g_dPᵀ dO
//              g_S  = P ⊙ (g_P − rowsum(P ⊙ g_P))
//              g_Q  = s·(dS gdK + g_S K),      g_K = s·(dSᵀ gdQ + g_Sᵀ Q)
//              g_B  = Σ g_S.
// Third derivatives are not implemented (an error, never a silent zero).
//
// Numbers: every sum runs in a fixed order (sequential over the contraction
// index; row reductions in 16 lanes combined in a fixed tree), so the results
// depend only on the inputs and the instruction set the CPU offers (the
// kernels are compiled for AVX-512, AVX2+FMA and baseline x86-64, chosen at
// load). They differ from libtorch's composite attention by float32
// rounding. exp is a Cephes-style polynomial (about 1 ulp).
#include "shim.h"
#include "shim_error.h"
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

// no-trapping-math lets the float-to-int conversion of exp vectorise (libtorch
// itself is built with it).
#pragma GCC optimize("O3", "fp-contract=fast", "no-trapping-math")

namespace vp_attention_kernels {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The per-head kernels are compiled three times and picked at load (an
// ifunc): they must have external linkage and must not be inlined.
#define VP_CLONES __attribute__((noinline, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define VP_INLINE static inline __attribute__((always_inline))

// The shape of one call.
struct Dims {
  int64_t G, N, H, d;
  float s;
  int64_t R() const { return 3 * H * d; }  // qkv row stride
  int64_t O() const { return H * d; }      // output row stride
};

// 16-float vectors (GCC's vector extensions: one AVX-512 register, two
// AVX2 ones, four SSE ones in the baseline clone; __builtin_shufflevector
// needs GCC 12, Debian 12's).
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

VP_INLINE vf16 loadv(const float *p) {
  vf16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
VP_INLINE void storev(float *p, vf16 v) { std::memcpy(p, &v, sizeof v); }
VP_INLINE vf16 splat(float x) { return vf16{} + x; }

// rows_block<D, RB> is C (RB×D) = or += A (RB×K) · B (K×D, row stride
// ldb), with A's element (r, k) at A[r·rs + k·ks]: one row after another
// (rs = lda, ks = 1) or a transposed block (rs = 1, ks = lda). The RB·D
// accumulators stay in registers over the whole contraction (sequential in
// k), RB independent chains hiding the latency of the fused multiply-adds.
// With skip > 0 (D = 16) only lanes skip..15 of each row are stored: the
// last, overlapping strip of a product whose width is not a multiple of 16.
template <int D, int RB>
VP_INLINE void rows_block(int64_t K, const float *__restrict A, int64_t rs, int64_t ks,
                          const float *__restrict B, int64_t ldb, float *__restrict C, int64_t ldc,
                          bool acc, int skip = 0) {
  static_assert(D % 16 == 0, "rows_block: D must be a multiple of 16");
  constexpr int V = D / 16;
  vf16 c[RB][V];
#pragma GCC unroll 8
  for (int r = 0; r < RB; r++) {
    for (int v = 0; v < V; v++) c[r][v] = acc ? loadv(C + r * ldc + 16 * v) : splat(0.0f);
  }
  for (int64_t k = 0; k < K; k++) {
    vf16 b[V];
    for (int v = 0; v < V; v++) b[v] = loadv(B + k * ldb + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < RB; r++) {
      const vf16 x = splat(A[r * rs + k * ks]);
      for (int v = 0; v < V; v++) c[r][v] += x * b[v];
    }
  }
  if (skip > 0) {
    // Lanes below skip keep what C holds (the previous strip's columns).
    const vi16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const vi16 keep = lane < skip;
#pragma GCC unroll 8
    for (int r = 0; r < RB; r++) {
      storev(C + r * ldc, keep ? loadv(C + r * ldc) : c[r][0]);
    }
    return;
  }
#pragma GCC unroll 8
  for (int r = 0; r < RB; r++) {
    for (int v = 0; v < V; v++) storev(C + r * ldc + 16 * v, c[r][v]);
  }
}

// gemm_rows_g<D> is C (M×D) = or += A · B (B's row stride ldb) for a width
// D known at compile time, A addressed as in rows_block: blocks of 8 rows
// for D = 16 (eight vector accumulators), of 4 rows for wider ones, then
// the rows left one by one.
template <int D>
VP_INLINE void gemm_rows_g(int64_t M, int64_t K, const float *__restrict A, int64_t rs, int64_t ks,
                           const float *__restrict B, int64_t ldb, float *__restrict C, int64_t ldc,
                           bool acc, int skip = 0) {
  constexpr int RB = D == 16 ? 8 : 4;
  int64_t i = 0;
  for (; i + RB <= M; i += RB) rows_block<D, RB>(K, A + i * rs, rs, ks, B, ldb, C + i * ldc, ldc, acc, skip);
  for (; i < M; i++) rows_block<D, 1>(K, A + i * rs, rs, ks, B, ldb, C + i * ldc, ldc, acc, skip);
}

// gemm_g is C (M×Nc, row stride ldc) = or += A · B with B (K×Nc, row
// stride ldb) and A addressed as in rows_block. Widths of 16, 32 and 64
// (the head dimensions) take one pass; others, from 16 up (the N×N
// products), go in strips of 16 columns, the last strip overlapping the
// one before it so that no column is left to scalar code (its overlapping
// columns are computed again and not stored). Narrower products (a few
// tokens) run a plain loop.
VP_INLINE void gemm_g(int64_t M, int64_t Nc, int64_t K, const float *__restrict A, int64_t rs, int64_t ks,
                      const float *__restrict B, int64_t ldb, float *__restrict C, int64_t ldc, bool acc) {
  switch (Nc) {
    case 16:
      return gemm_rows_g<16>(M, K, A, rs, ks, B, ldb, C, ldc, acc);
    case 32:
      return gemm_rows_g<32>(M, K, A, rs, ks, B, ldb, C, ldc, acc);
    case 64:
      return gemm_rows_g<64>(M, K, A, rs, ks, B, ldb, C, ldc, acc);
  }
  if (Nc >= 16) {
    int64_t j = 0;
    for (; j + 16 <= Nc; j += 16) gemm_rows_g<16>(M, K, A, rs, ks, B + j, ldb, C + j, ldc, acc);
    if (j < Nc) {
      const int skip = static_cast<int>(16 - (Nc - j));
      gemm_rows_g<16>(M, K, A, rs, ks, B + Nc - 16, ldb, C + Nc - 16, ldc, acc, skip);
    }
    return;
  }
  for (int64_t i = 0; i < M; i++) {
    float *__restrict c = C + i * ldc;
    for (int64_t j = 0; j < Nc; j++) {
      float x = acc ? c[j] : 0.0f;
      for (int64_t k = 0; k < K; k++) x += A[i * rs + k * ks] * B[k * ldb + j];
      c[j] = x;
    }
  }
}

// gemm_nn is C (M×Nc, row stride ldc) = or += A (M×K) · B (K×Nc).
VP_INLINE void gemm_nn(int64_t M, int64_t Nc, int64_t K, const float *__restrict A, int64_t lda,
                       const float *__restrict B, int64_t ldb, float *__restrict C, int64_t ldc,
                       bool acc) {
  gemm_g(M, Nc, K, A, lda, 1, B, ldb, C, ldc, acc);
}

// gemm_tn is C (M×Nc) = or += Aᵀ · B with A (K×M), B (K×Nc).
VP_INLINE void gemm_tn(int64_t M, int64_t Nc, int64_t K, const float *__restrict A, int64_t lda,
                       const float *__restrict B, int64_t ldb, float *__restrict C, int64_t ldc,
                       bool acc) {
  gemm_g(M, Nc, K, A, 1, lda, B, ldb, C, ldc, acc);
}

// dst (cols×rows) = srcᵀ, src rows×cols with row stride ld.
VP_INLINE void transpose(int64_t rows, int64_t cols, const float *__restrict src, int64_t ld,
                         float *__restrict dst) {
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) dst[j * rows + i] = src[i * ld + j];
  }
}

// gather copies a head's rows×d block (row stride ld) into a dense buffer.
VP_INLINE void gather(int64_t rows, int64_t d, const float *__restrict src, int64_t ld,
                      float *__restrict dst) {
  if (d == 16) {  // one vector a row, without a call
    for (int64_t i = 0; i < rows; i++) storev(dst + i * 16, loadv(src + i * ld));
    return;
  }
  for (int64_t i = 0; i < rows; i++) std::memcpy(dst + i * d, src + i * ld, d * sizeof(float));
}

VP_INLINE void scale(int64_t rows, int64_t cols, float s, float *__restrict x, int64_t ld) {
  for (int64_t i = 0; i < rows; i++) {
    for (int64_t j = 0; j < cols; j++) x[i * ld + j] *= s;
  }
}

// Row reductions and the softmax work on 16-float vectors. A row's vector
// lanes are combined in a fixed pairwise tree of register shuffles (lanes 8
// apart, then 4, 2, 1), and the elements past the last full vector are then
// added one by one in order: a fixed order, without the store-and-reload of
// a lane-by-lane combine, which stalled every row on store forwarding.
VP_INLINE vf16 vmax(vf16 a, vf16 b) { return a > b ? a : b; }

// hsum returns the sum of v's lanes (the tree above).
VP_INLINE float hsum(vf16 v) {
  v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
  v += __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  v += __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  return v[0];
}

// hmax returns the largest of v's lanes.
VP_INLINE float hmax(vf16 v) {
  v = vmax(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15), v);
  v = vmax(__builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7), v);
  v = vmax(__builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3), v);
  v = vmax(__builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), v);
  return v[0];
}

// dot returns Σ a[j]·b[j]: 16 lanes, the tree, then the remainder in order.
VP_INLINE float dot(int64_t n, const float *__restrict a, const float *__restrict b) {
  vf16 acc = splat(0.0f);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) acc += loadv(a + j) * loadv(b + j);
  float s = hsum(acc);
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}

// exp_v and exp_s are e^x (about 1 ulp) for 16 floats and for one, by one
// formula (exp_t): e^x = 2^n · e^r, n = x·log2 e rounded to the nearest integer
// (by adding and subtracting 1.5·2^23), |r| <= ln2/2 split off in two
// parts, e^r by Cephes' expf polynomial. Below -87 (e^x < 1.7e-38,
// negligible against the row's largest term, 1) the result is 0; from
// about 88.4 on it is +inf (the softmax's arguments are at most 0); NaN
// stays NaN (through r). n is capped at 128 so that its conversion to an
// integer and the exponent shift stay defined for every input.
// pow2 is 2^n for an integral n in [-126, 128] (2^128 reads as +inf), built
// from the exponent bits, for one float and for 16.
VP_INLINE float pow2(float n) { return __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23); }
VP_INLINE vf16 pow2(vf16 n) { return (vf16)((__builtin_convertvector(n, vi16) + 127) << 23); }

template <typename T>
VP_INLINE T exp_t(T x) {
  const auto tiny = x < -87.0f;
  const T xc = tiny ? T{} - 87.0f : x;
  T n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  n = n < 128.0f ? n : T{} + 128.0f;  // NaN and large n to 128: defined conversion
  T r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  T p = T{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return tiny ? T{} : p * pow2(n);
}

VP_INLINE vf16 exp_v(vf16 x) { return exp_t(x); }
VP_INLINE float exp_s(float x) { return exp_t(x); }

// softmax_t turns each row of S (N×N) into softmax(s·S + B) in place, in
// three passes over the row: scale (and bias) with the running maximum,
// exponentials with their sum, normalisation.
template <bool HasBias>
VP_INLINE void softmax_t(int64_t N, float s, const float *__restrict bias, float *__restrict S) {
  const int64_t nv = N / 16;
  for (int64_t i = 0; i < N; i++) {
    float *__restrict x = S + i * N;
    const float *__restrict b = HasBias ? bias + i * N : nullptr;
    vf16 mx = splat(-__builtin_inff());
    for (int64_t k = 0; k < nv; k++) {
      vf16 v = loadv(x + 16 * k) * s;
      if (HasBias) v += loadv(b + 16 * k);
      storev(x + 16 * k, v);
      mx = vmax(v, mx);
    }
    float m = hmax(mx);
    for (int64_t j = 16 * nv; j < N; j++) {
      const float v = HasBias ? x[j] * s + b[j] : x[j] * s;
      x[j] = v;
      m = v > m ? v : m;
    }
    vf16 acc = splat(0.0f);
    for (int64_t k = 0; k < nv; k++) {
      const vf16 e = exp_v(loadv(x + 16 * k) - m);
      storev(x + 16 * k, e);
      acc += e;
    }
    float sum = hsum(acc);
    for (int64_t j = 16 * nv; j < N; j++) {
      const float e = exp_s(x[j] - m);
      x[j] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t k = 0; k < nv; k++) storev(x + 16 * k, loadv(x + 16 * k) * inv);
    for (int64_t j = 16 * nv; j < N; j++) x[j] *= inv;
  }
}

VP_INLINE void softmax_rows(int64_t N, float s, const float *__restrict bias, float *__restrict S) {
  if (bias != nullptr) {
    softmax_t<true>(N, s, bias, S);
  } else {
    softmax_t<false>(N, s, bias, S);
  }
}

// Scratch for one head: the dense blocks the kernels work on.
struct Scratch {
  std::vector<float> buf;
  float *take(size_t n) {
    float *p = buf.data() + used;
    used += n;
    return p;
  }
  // reset makes room for nd blocks of N×d, nn of N×N and nr rows of N.
  void reset(const Dims &D, int nd, int nn, int nr = 0) {
    const size_t need = static_cast<size_t>(nd) * D.N * D.d + static_cast<size_t>(nn) * D.N * D.N +
                        static_cast<size_t>(nr) * D.N;
    if (buf.size() < need) buf.resize(need);
    used = 0;
  }
  size_t used = 0;
};

// Forward of head h of sequence g: P (N×N) and the head's output block.
VP_CLONES void fwd_head(const Dims &D, const float *qkv, const float *bias, float *out, float *P,
                        float *scratch) {
  const int64_t N = D.N, d = D.d, R = D.R();
  float *Q = scratch, *Kt = Q + N * d, *V = Kt + N * d;
  gather(N, d, qkv, R, Q);
  transpose(N, d, qkv + D.H * d, R, Kt);
  gather(N, d, qkv + 2 * D.H * d, R, V);
  gemm_nn(N, N, d, Q, d, Kt, N, P, N, false);
  softmax_rows(N, D.s, bias, P);
  gemm_nn(N, d, N, P, N, V, d, out, D.O(), false);
}

// Backward of one head: the head's slots of dqkv, and dS (N×N) when dS is
// not null (for the bias's gradient).
VP_CLONES void bwd_head(const Dims &D, const float *qkv, const float *P, const float *dO,
                        float *dqkv, float *dSout, float *scratch) {
  const int64_t N = D.N, d = D.d, R = D.R(), Hd = D.H * d;
  float *Q = scratch, *K = Q + N * d, *Vt = K + N * d, *G = Vt + N * d;
  float *dP = G + N * d;
  gather(N, d, qkv, R, Q);
  gather(N, d, qkv + Hd, R, K);
  transpose(N, d, qkv + 2 * Hd, R, Vt);
  gather(N, d, dO, D.O(), G);
  // dV = Pᵀ dO
  gemm_tn(N, d, N, P, N, G, d, dqkv + 2 * Hd, R, false);
  // dP = dO Vᵀ, then dS = P ⊙ (dP − r) in place
  gemm_nn(N, N, d, G, d, Vt, N, dP, N, false);
  for (int64_t i = 0; i < N; i++) {
    const float *p = P + i * N;
    float *x = dP + i * N;
    const float r = dot(N, p, x);
    for (int64_t j = 0; j < N; j++) x[j] = p[j] * (x[j] - r);
  }
  // dQ = s·dS K, dK = s·dSᵀ Q
  gemm_nn(N, d, N, dP, N, K, d, dqkv, R, false);
  scale(N, d, D.s, dqkv, R);
  gemm_tn(N, d, N, dP, N, Q, d, dqkv + Hd, R, false);
  scale(N, d, D.s, dqkv + Hd, R);
  if (dSout != nullptr) std::memcpy(dSout, dP, N * N * sizeof(float));
}

// Double backward of one head (see the top of the file): the head's slots of
// g_qkv and g_dO, and g_S (N×N) when gSout is not null.
VP_CLONES void dbl_head(const Dims &D, const float *qkv, const float *P, const float *dO,
                        const float *gdqkv, const float *gB, float *gqkv, float *gdO,
                        float *gSout, float *scratch) {
  const int64_t N = D.N, d = D.d, R = D.R(), Hd = D.H * d;
  const float s = D.s;
  float *Q = scratch, *K = Q + N * d, *V = K + N * d, *Vt = V + N * d, *Kt = Vt + N * d;
  float *G = Kt + N * d, *gQ = G + N * d, *gK = gQ + N * d, *gV = gK + N * d;
  float *gKt = gV + N * d, *gVt = gKt + N * d;
  float *dP = gVt + N * d, *dS = dP + N * N, *gdS = dS + N * N, *gP = gdS + N * N,
        *gdP = gP + N * N;
  gather(N, d, qkv, R, Q);
  gather(N, d, qkv + Hd, R, K);
  gather(N, d, qkv + 2 * Hd, R, V);
  transpose(N, d, qkv + 2 * Hd, R, Vt);
  transpose(N, d, qkv + Hd, R, Kt);
  gather(N, d, dO, Hd, G);
  gather(N, d, gdqkv, R, gQ);
  gather(N, d, gdqkv + Hd, R, gK);
  gather(N, d, gdqkv + 2 * Hd, R, gV);
  transpose(N, d, gdqkv + Hd, R, gKt);
  transpose(N, d, gdqkv + 2 * Hd, R, gVt);
  float *r = gdP + N * N, *gr = r + N;
  // Recompute dP, r, dS.
  gemm_nn(N, N, d, G, d, Vt, N, dP, N, false);
  for (int64_t i = 0; i < N; i++) {
    const float *p = P + i * N, *x = dP + i * N;
    float *y = dS + i * N;
    r[i] = dot(N, p, x);
    for (int64_t j = 0; j < N; j++) y[j] = p[j] * (x[j] - r[i]);
  }
  // g_dS = s·(gdQ Kᵀ + Q gdKᵀ) + gdB
  gemm_nn(N, N, d, gQ, d, Kt, N, gdS, N, false);
  gemm_nn(N, N, d, Q, d, gKt, N, gdS, N, true);
  for (int64_t i = 0; i < N; i++) {
    float *x = gdS + i * N;
    if (gB != nullptr) {
      const float *b = gB + i * N;
      for (int64_t j = 0; j < N; j++) x[j] = x[j] * s + b[j];
    } else {
      for (int64_t j = 0; j < N; j++) x[j] *= s;
    }
  }
  // g_r, g_dP, g_P (without its dO gdVᵀ term)
  for (int64_t i = 0; i < N; i++) {
    const float *p = P + i * N, *x = gdS + i * N, *dp = dP + i * N;
    gr[i] = -dot(N, p, x);
    float *a = gdP + i * N, *b = gP + i * N;
    for (int64_t j = 0; j < N; j++) {
      a[j] = p[j] * (x[j] + gr[i]);
      b[j] = x[j] * (dp[j] - r[i]) + gr[i] * dp[j];
    }
  }
  // g_P += dO gdVᵀ
  gemm_nn(N, N, d, G, d, gVt, N, gP, N, true);
  // g_dO = g_dP V + P gdV
  float *gdOh = gdO;
  gemm_nn(N, d, N, gdP, N, V, d, gdOh, Hd, false);
  gemm_nn(N, d, N, P, N, gV, d, gdOh, Hd, true);
  // g_V = g_dPᵀ dO
  gemm_tn(N, d, N, gdP, N, G, d, gqkv + 2 * Hd, R, false);
  // g_S = P ⊙ (g_P − rowsum(P ⊙ g_P)), in gP
  for (int64_t i = 0; i < N; i++) {
    const float *p = P + i * N;
    float *x = gP + i * N;
    const float t = dot(N, p, x);
    for (int64_t j = 0; j < N; j++) x[j] = p[j] * (x[j] - t);
  }
  // g_Q = s·(dS gdK + g_S K), g_K = s·(dSᵀ gdQ + g_Sᵀ Q)
  gemm_nn(N, d, N, dS, N, gK, d, gqkv, R, false);
  gemm_nn(N, d, N, gP, N, K, d, gqkv, R, true);
  scale(N, d, s, gqkv, R);
  gemm_tn(N, d, N, dS, N, gQ, d, gqkv + Hd, R, false);
  gemm_tn(N, d, N, gP, N, Q, d, gqkv + Hd, R, true);
  scale(N, d, s, gqkv + Hd, R);
  if (gSout != nullptr) std::memcpy(gSout, gP, N * N * sizeof(float));
}

}  // namespace vp_attention_kernels

namespace {

using namespace vp_attention_kernels;

Dims dims_of(const at::Tensor &qkv, int64_t heads, double scale) {
  TORCH_CHECK(qkv.dim() == 3, "vitprobe attention: qkv must be (G, N, 3·H·d), got ", qkv.sizes());
  TORCH_CHECK(qkv.scalar_type() == at::kFloat, "vitprobe attention: qkv must be float32");
  TORCH_CHECK(qkv.device().is_cpu(), "vitprobe attention: CPU tensors only");
  TORCH_CHECK(heads > 0 && qkv.size(2) % (3 * heads) == 0,
              "vitprobe attention: ", qkv.size(2), " channels are not 3 x ", heads, " heads");
  Dims D;
  D.G = qkv.size(0);
  D.N = qkv.size(1);
  D.H = heads;
  D.d = qkv.size(2) / (3 * heads);
  D.s = static_cast<float>(scale);
  return D;
}

void check_bias(const at::Tensor &bias, const Dims &D) {
  if (bias.numel() == 0) return;
  TORCH_CHECK(bias.dim() == 2 && bias.size(0) == D.N && bias.size(1) == D.N &&
                  bias.scalar_type() == at::kFloat,
              "vitprobe attention: bias must be float32 (N, N) with N = ", D.N, ", got ",
              bias.sizes());
}

// Plain tensors (no autograd) for the three passes.

// forward_pass returns the output and, when keepP is set, the attention
// weights P (G, H, N, N) for the backward pass. Without keepP (no graph:
// evaluation passes) each head's P lives in the scratch of the loop's chunk
// (17 KB for 65 tokens, reused head after head, so it stays in cache),
// instead of a tensor written out and dropped.
std::vector<at::Tensor> forward_pass(const at::Tensor &qkv_in, const at::Tensor &bias_in, const Dims &D,
                                     bool keepP) {
  at::Tensor qkv = qkv_in.contiguous(), bias = bias_in.contiguous();
  at::Tensor out = at::empty({D.G, D.N, D.H * D.d}, qkv.options());
  at::Tensor P = keepP ? at::empty({D.G, D.H, D.N, D.N}, qkv.options()) : at::Tensor();
  const float *q = qkv.data_ptr<float>();
  const float *b = bias.numel() ? bias.data_ptr<float>() : nullptr;
  float *o = out.data_ptr<float>(), *p = keepP ? P.data_ptr<float>() : nullptr;
  at::parallel_for(0, D.G * D.H, 1, [&](int64_t lo, int64_t hi) {
    Scratch sc;
    for (int64_t it = lo; it < hi; it++) {
      const int64_t g = it / D.H, h = it % D.H;
      sc.reset(D, 3, keepP ? 0 : 1);
      float *ph = keepP ? p + it * D.N * D.N : sc.take(D.N * D.N);
      fwd_head(D, q + g * D.N * D.R() + h * D.d, b, o + g * D.N * D.O() + h * D.d, ph,
               sc.take(3 * D.N * D.d));
    }
  });
  return {out, P};
}

std::vector<at::Tensor> backward_pass(const at::Tensor &qkv_in, const at::Tensor &bias, const at::Tensor &P,
                                      const at::Tensor &dO_in, const Dims &D) {
  at::Tensor qkv = qkv_in.contiguous(), dO = dO_in.contiguous();
  at::Tensor dqkv = at::empty_like(qkv);
  const bool wantB = bias.numel() > 0;
  at::Tensor dS = wantB ? at::empty({D.G * D.H, D.N, D.N}, qkv.options()) : at::Tensor();
  const float *q = qkv.data_ptr<float>(), *p = P.data_ptr<float>(), *g = dO.data_ptr<float>();
  float *dq = dqkv.data_ptr<float>();
  float *ds = wantB ? dS.data_ptr<float>() : nullptr;
  at::parallel_for(0, D.G * D.H, 1, [&](int64_t lo, int64_t hi) {
    Scratch sc;
    for (int64_t it = lo; it < hi; it++) {
      const int64_t gi = it / D.H, h = it % D.H;
      sc.reset(D, 4, 1);
      bwd_head(D, q + gi * D.N * D.R() + h * D.d, p + it * D.N * D.N, g + gi * D.N * D.O() + h * D.d,
               dq + gi * D.N * D.R() + h * D.d, ds ? ds + it * D.N * D.N : nullptr,
               sc.take(4 * D.N * D.d + D.N * D.N));
    }
  });
  at::Tensor dB = wantB ? dS.sum(0) : at::empty({0}, qkv.options());
  return {dqkv, dB};
}

std::vector<at::Tensor> double_pass(const at::Tensor &qkv_in, const at::Tensor &bias, const at::Tensor &P,
                                    const at::Tensor &dO_in, const at::Tensor &gdqkv_in,
                                    const at::Tensor &gB_in, const Dims &D) {
  at::Tensor qkv = qkv_in.contiguous(), dO = dO_in.contiguous(), gdqkv = gdqkv_in.contiguous();
  const bool hasB = bias.numel() > 0;
  at::Tensor gB = (hasB && gB_in.defined() && gB_in.numel() > 0) ? gB_in.contiguous() : at::Tensor();
  at::Tensor gqkv = at::empty_like(qkv), gdO = at::empty_like(dO);
  at::Tensor gS = hasB ? at::empty({D.G * D.H, D.N, D.N}, qkv.options()) : at::Tensor();
  const float *q = qkv.data_ptr<float>(), *p = P.data_ptr<float>(), *g = dO.data_ptr<float>();
  const float *gd = gdqkv.data_ptr<float>();
  const float *gb = gB.defined() ? gB.data_ptr<float>() : nullptr;
  float *gq = gqkv.data_ptr<float>(), *go = gdO.data_ptr<float>();
  float *gs = hasB ? gS.data_ptr<float>() : nullptr;
  at::parallel_for(0, D.G * D.H, 1, [&](int64_t lo, int64_t hi) {
    Scratch sc;
    for (int64_t it = lo; it < hi; it++) {
      const int64_t gi = it / D.H, h = it % D.H;
      sc.reset(D, 11, 5, 2);
      const int64_t qoff = gi * D.N * D.R() + h * D.d, ooff = gi * D.N * D.O() + h * D.d;
      dbl_head(D, q + qoff, p + it * D.N * D.N, g + ooff, gd + qoff, gb, gq + qoff, go + ooff,
               gs ? gs + it * D.N * D.N : nullptr, sc.take(11 * D.N * D.d + 5 * D.N * D.N + 2 * D.N));
    }
  });
  at::Tensor gBias = hasB ? gS.sum(0) : at::Tensor();
  return {gqkv, gBias, gdO};
}

// The backward pass as a differentiable operator, so that Hessian-vector
// products (a backward pass through the backward pass) reach the fused
// double backward. Inputs: qkv, bias (or a 0-element tensor), dO, P (not
// differentiated: a function of qkv and bias, accounted for in the formulas).
struct AttentionBackward : public torch::autograd::Function<AttentionBackward> {
  static variable_list forward(AutogradContext *ctx, const at::Tensor &qkv, const at::Tensor &bias,
                               const at::Tensor &dO, const at::Tensor &P, int64_t heads,
                               double scale) {
    RECORD_FUNCTION("vitprobe::attention_backward", std::vector<c10::IValue>());
    Dims D = dims_of(qkv, heads, scale);
    auto r = backward_pass(qkv, bias, P, dO, D);
    ctx->save_for_backward({qkv, bias, dO});
    ctx->saved_data["P"] = P;
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["scale"] = scale;
    return {r[0], r[1]};
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    TORCH_CHECK(!torch::autograd::GradMode::is_enabled(),
                "vitprobe attention: third derivatives are not implemented");
    RECORD_FUNCTION("vitprobe::attention_double_backward", std::vector<c10::IValue>());
    auto saved = ctx->get_saved_variables();
    const at::Tensor &qkv = saved[0], &bias = saved[1], &dO = saved[2];
    at::Tensor P = ctx->saved_data["P"].toTensor();
    Dims D = dims_of(qkv, ctx->saved_data["heads"].toInt(), ctx->saved_data["scale"].toDouble());
    at::Tensor gd = grads[0].defined() ? grads[0] : at::zeros_like(qkv);
    auto r = double_pass(qkv, bias, P, dO, gd, grads.size() > 1 ? grads[1] : at::Tensor(), D);
    return {r[0], bias.numel() ? r[1] : at::Tensor(), r[2], at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct Attention : public torch::autograd::Function<Attention> {
  static at::Tensor forward(AutogradContext *ctx, const at::Tensor &qkv, const at::Tensor &bias,
                            int64_t heads, double scale) {
    RECORD_FUNCTION("vitprobe::attention", std::vector<c10::IValue>());
    Dims D = dims_of(qkv, heads, scale);
    check_bias(bias, D);
    auto r = forward_pass(qkv, bias, D, true);
    ctx->save_for_backward({qkv, bias});
    ctx->saved_data["P"] = r[1];
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["scale"] = scale;
    return r[0];
  }

  static variable_list backward(AutogradContext *ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &qkv = saved[0], &bias = saved[1];
    at::Tensor P = ctx->saved_data["P"].toTensor();
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    auto r = AttentionBackward::apply(qkv, bias, grads[0].contiguous(), P, heads, scale);
    return {r[0], bias.numel() ? r[1] : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};


// composite is the attention from libtorch's operators, for inputs with a
// forward-mode tangent: libtorch 1.13 runs no forward mode through a C++
// custom Function, and its matmul and softmax have their forward-mode
// formulas.
at::Tensor composite(const at::Tensor &qkv, const at::Tensor &bias, const Dims &D) {
  at::Tensor x = qkv.reshape({D.G, D.N, 3, D.H, D.d}).permute({2, 0, 3, 1, 4});  // (3, G, H, N, d)
  at::Tensor S = at::matmul(x.select(0, 0), x.select(0, 1).transpose(-2, -1)) * static_cast<double>(D.s);
  if (bias.numel() > 0) S = S + bias;
  at::Tensor o = at::matmul(at::softmax(S, -1), x.select(0, 2));  // (G, H, N, d)
  return o.permute({0, 2, 1, 3}).reshape({D.G, D.N, D.H * D.d});
}

}  // namespace

extern "C" char *vp_attention(vp_tensor qkv, vp_tensor bias, long long heads, double scale,
                              vp_tensor *out) {
  try {
    const at::Tensor &q = *static_cast<at::Tensor *>(qkv);
    at::Tensor b = bias != nullptr ? *static_cast<at::Tensor *>(bias)
                                   : at::empty({0}, q.options().requires_grad(false));
    at::Tensor o;
    if (vp_tangent(q) || vp_tangent(b)) {
      Dims D = dims_of(q, heads, scale);
      check_bias(b, D);
      o = composite(q, b, D);
    } else if (!at::GradMode::is_enabled() || !(q.requires_grad() || b.requires_grad())) {
      // No graph to record: the forward pass alone, without keeping P.
      RECORD_FUNCTION("vitprobe::attention", std::vector<c10::IValue>());
      Dims D = dims_of(q, heads, scale);
      check_bias(b, D);
      o = forward_pass(q, b, D, false)[0];
    } else {
      o = Attention::apply(q, b, static_cast<int64_t>(heads), scale);
    }
    *out = new at::Tensor(o);
    return nullptr;
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

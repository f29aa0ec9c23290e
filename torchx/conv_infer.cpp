// vitprobe's inference convolution: convolution, bias, an optional residual
// addition and an optional ReLU in one oneDNN primitive.
//
// An inference pass of a ResNet (landscape points, probes, test accuracy)
// runs conv → (+ residual) → ReLU as separate operators through libtorch:
// the convolution writes its map, then ReLU and the addition each read and
// write it again. oneDNN (the library libtorch's own CPU convolutions run
// on) applies such element-wise steps to each output block while it is
// still in registers ("post-ops"), so here the map is written once. The
// convolution kernel is the one libtorch gets for the same shapes (direct
// convolution, oneDNN's choice of blocking); the values agree with
// libtorch's conv2d, add and relu to float32 rounding.
//
// The primitive descriptors are kept per OS thread, keyed by every shape,
// stride and flag they depend on (creating one costs a kernel selection
// and, the first time, a JIT compilation); the weights are reordered to
// the primitive's layout at each call (the largest of resnet-mini's is
// 590 KB).
#include "shim.h"
#include "shim_error.h"
#include "shim_tangent.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;

dnnl::engine &engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// desc_of is the oneDNN description of a float32 tensor's memory as it is,
// by its sizes and strides.
memory::desc desc_of(const at::Tensor &t) {
  memory::dims dims(t.sizes().begin(), t.sizes().end());
  // A one-channel map in the standard layout is also channels-last (the
  // same bytes); oneDNN's fast kernels want it described so (by its strides
  // it takes the reference kernel, 20 times slower on the stem).
  if (t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    return memory::desc(dims, memory::data_type::f32, memory::format_tag::nhwc);
  }
  memory::dims strides(t.strides().begin(), t.strides().end());
  return memory::desc(dims, memory::data_type::f32, strides);
}

// Key identifies one primitive: the geometry, the memory layouts, the
// post-ops.
struct Key {
  std::vector<int64_t> v;
  bool operator<(const Key &o) const { return v < o.v; }
};

void push(std::vector<int64_t> &v, const at::Tensor &t) {
  v.push_back(t.dim());
  for (auto s : t.sizes()) v.push_back(s);
  for (auto s : t.strides()) v.push_back(s);
}

struct Prim {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory::desc wuser;  // the weights as the caller lays them out
  bool reorder;        // the primitive wants the weights in another layout
  dnnl::reorder wre;   // the weights' reorder when reorder is true
};

// kMaxPrims bounds a thread's cache.
constexpr size_t kMaxPrims = 512;

// cache is this thread's primitives. Each OS thread keeps its own: a worker
// thread of the landscape or the hessian command runs its own passes.
std::map<Key, std::unique_ptr<Prim>> &cache() {
  thread_local std::map<Key, std::unique_ptr<Prim>> c;
  return c;
}

Prim &prim_for(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, const at::Tensor &res,
               const at::Tensor &out, int64_t stride, int64_t pad, bool relu) {
  Key k;
  push(k.v, x);
  push(k.v, w);
  push(k.v, out);
  if (b.defined()) push(k.v, b);
  k.v.push_back(-2);
  k.v.push_back(res.defined());
  k.v.push_back(-1);
  k.v.push_back(stride);
  k.v.push_back(pad);
  k.v.push_back(relu);
  auto &c = cache();
  auto it = c.find(k);
  if (it != c.end()) return *it->second;
  // A pass has a dozen shapes; a thread that has met many batch sizes
  // starts again rather than keep every compiled kernel.
  if (c.size() >= kMaxPrims) c.clear();

  memory::desc src = desc_of(x), dst = desc_of(out), wuser = desc_of(w);
  memory::desc wany(wuser.dims(), memory::data_type::f32, memory::format_tag::any);
  memory::dims st{stride, stride}, pd{pad, pad};
  memory::desc bd;  // zero (no bias) unless b is given
  if (b.defined()) bd = desc_of(b);
  dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                     src, wany, bd, dst, st, pd, pd);
  dnnl::post_ops ops;
  // The residual is added as oneDNN's sum post-op (the output buffer holds
  // it before the call): its binary post-op would take a slower kernel
  // (jit instead of brgconv: 10-25% slower on resnet-mini's layers).
  if (res.defined()) ops.append_sum(1.0f);
  if (relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  auto p = std::make_unique<Prim>();
  p->pd = dnnl::convolution_forward::primitive_desc(cd, attr, engine());
  p->conv = dnnl::convolution_forward(p->pd);
  p->wuser = wuser;
  p->reorder = p->pd.weights_desc() != wuser;
  if (p->reorder) {
    p->wre = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), wuser, engine(), p->pd.weights_desc()));
  }
  Prim &r = *p;
  c.emplace(std::move(k), std::move(p));
  return r;
}

void check(const at::Tensor &t, const char *what, int64_t dim) {
  if (!t.device().is_cpu() || t.scalar_type() != at::kFloat || t.dim() != dim) {
    throw std::invalid_argument(std::string("conv_infer: ") + what + " must be a float32 CPU tensor of " +
                                std::to_string(dim) + " dimensions");
  }
}

}  // namespace

extern "C" char *vp_conv_infer(vp_tensor xp, vp_tensor wp, vp_tensor bp, vp_tensor resp, long long stride,
                               long long pad, int relu, int inplace, vp_tensor *out) {
  try {
    RECORD_FUNCTION("vitprobe::conv_infer", std::vector<c10::IValue>());
    const at::Tensor &x = *static_cast<at::Tensor *>(xp);
    const at::Tensor &w = *static_cast<at::Tensor *>(wp);
    at::Tensor b, res;
    if (bp) b = *static_cast<at::Tensor *>(bp);
    if (resp) res = *static_cast<at::Tensor *>(resp);
    check(x, "the input", 4);
    check(w, "the weight", 4);
    if (b.defined()) check(b, "the bias", 1);
    if (at::GradMode::is_enabled() &&
        (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()) ||
         (res.defined() && res.requires_grad()))) {
      throw std::invalid_argument(
          "conv_infer: inference only, but an argument requires a gradient and gradients are on");
    }
    if (stride < 1 || pad < 0) throw std::invalid_argument("conv_infer: stride must be ≥ 1 and padding ≥ 0");
    if (x.size(1) != w.size(1)) {
      throw std::invalid_argument("conv_infer: the input has " + std::to_string(x.size(1)) +
                                  " channels, the weight expects " + std::to_string(w.size(1)));
    }
    if (b.defined() && b.size(0) != w.size(0)) {
      throw std::invalid_argument("conv_infer: the bias has " + std::to_string(b.size(0)) +
                                  " entries for " + std::to_string(w.size(0)) + " output channels");
    }
    // Forward-mode tangents (the GGN's J v) go through libtorch's own
    // operators, which carry them: a oneDNN primitive would drop them.
    if (vp_tangent(x) || vp_tangent(w) || vp_tangent(b) || vp_tangent(res)) {
      at::Tensor y = at::convolution(x, w, b, {stride, stride}, {pad, pad}, {1, 1}, false, {0, 0}, 1);
      if (res.defined()) y = y + res;
      if (relu) y = at::relu(y);
      *out = new at::Tensor(y);
      return nullptr;
    }
    int64_t ho = (x.size(2) + 2 * pad - w.size(2)) / stride + 1;
    int64_t wo = (x.size(3) + 2 * pad - w.size(3)) / stride + 1;
    if (ho < 1 || wo < 1) throw std::invalid_argument("conv_infer: the kernel is larger than the padded input");
    std::vector<int64_t> ysize{x.size(0), w.size(0), ho, wo};
    at::Tensor y;
    if (res.defined()) {
      check(res, "the residual", 4);
      if (res.sizes() != at::IntArrayRef(ysize)) {
        throw std::invalid_argument("conv_infer: the residual's shape is not the output's");
      }
      if (inplace && res.is_contiguous(at::MemoryFormat::ChannelsLast) && res.data_ptr() != x.data_ptr()) {
        y = res;  // the caller gives its residual's memory for the result
      } else {
        y = res.clone(at::MemoryFormat::ChannelsLast);
      }
    } else {
      y = at::empty(ysize, x.options().memory_format(at::MemoryFormat::ChannelsLast));
    }
    // oneDNN reads the caller's tensors in place, for the call only.
    Prim &p = prim_for(x, w, b, res, y, stride, pad, relu != 0);
    dnnl::stream s(engine());
    memory xm(p.pd.src_desc(), engine(), x.data_ptr());
    memory wm(p.wuser, engine(), w.data_ptr());
    memory ym(p.pd.dst_desc(), engine(), y.data_ptr());
    at::Tensor wbuf;
    if (p.reorder) {
      wbuf = at::empty({static_cast<int64_t>(p.pd.weights_desc().get_size() / sizeof(float))}, x.options());
      memory wr(p.pd.weights_desc(), engine(), wbuf.data_ptr());
      p.wre.execute(s, wm, wr);
      wm = wr;
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
    if (b.defined()) args.emplace(DNNL_ARG_BIAS, memory(p.pd.bias_desc(), engine(), b.data_ptr()));
    p.conv.execute(s, args);
    s.wait();
    *out = new at::Tensor(y);
    return nullptr;
  } catch (const dnnl::error &e) {
    return vp_error_copy(std::runtime_error(std::string("conv_infer: oneDNN: ") + e.what()));
  } catch (const std::exception &e) {
    return vp_error_copy(e);
  }
}

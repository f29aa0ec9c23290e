// vitprobe's autograd shim: torch::autograd::grad over lists of tensors.
#include "shim.h"
#include "shim_tangent.h"

#include <dlfcn.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/forward_grad.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/version.h>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// what returns an exception's message without libtorch's C++ backtrace.
const char *what(const std::exception &e) {
  if (auto c = dynamic_cast<const c10::Error *>(&e)) {
    return c->what_without_backtrace();
  }
  return e.what();
}

char *dup_error(const char *what) {
  char *s = static_cast<char *>(std::malloc(std::strlen(what) + 1));
  std::strcpy(s, what);
  return s;
}

std::vector<at::Tensor> as_vector(vp_tensor *ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) {
    v.push_back(*static_cast<at::Tensor *>(ts[i]));
  }
  return v;
}

// fill writes results into out, replacing undefined gradients (a parameter
// the output does not depend on) by zeros shaped like the parameter.
void fill(const std::vector<at::Tensor> &res, const std::vector<at::Tensor> &params,
          vp_tensor *out) {
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor g = res[i].defined() ? res[i] : at::zeros_like(params[i]);
    out[i] = new at::Tensor(g);
  }
}

at::ScalarType scalar_type(int d) {
  switch (d) {
    case VP_F32:
      return at::kFloat;
    case VP_F64:
      return at::kDouble;
    case VP_I64:
      return at::kLong;
    case VP_U8:
      return at::kByte;
  }
  throw std::invalid_argument("vitprobe shim: unknown element type");
}

}  // namespace

extern "C" char *vp_from_buffer(const void *data, int src_dtype, const long long *shape,
                                int ndim, int to_dtype, vp_tensor *out) {
  try {
    std::vector<int64_t> sz(shape, shape + ndim);
    auto src = at::from_blob(const_cast<void *>(data), sz,
                             at::TensorOptions().dtype(scalar_type(src_dtype)));
    at::Tensor t = src.to(scalar_type(to_dtype), /*non_blocking=*/false, /*copy=*/true);
    *out = new at::Tensor(t);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_copy_out(vp_tensor t, void *dst, int dst_dtype, long long n) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    if (x.numel() != n) {
      return dup_error("vp_copy_out: element count mismatch");
    }
    at::NoGradGuard guard;
    at::Tensor c = x.detach().to(at::kCPU, scalar_type(dst_dtype)).contiguous();
    std::memcpy(dst, c.data_ptr(), static_cast<size_t>(n) * c.element_size());
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_copy_in(vp_tensor t, const void *src, int src_dtype, long long n) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    if (x.numel() != n) {
      return dup_error("vp_copy_in: element count mismatch");
    }
    at::NoGradGuard guard;
    auto s = at::from_blob(const_cast<void *>(src), x.sizes(),
                           at::TensorOptions().dtype(scalar_type(src_dtype)));
    x.copy_(s);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_grad(vp_tensor loss, vp_tensor *params, int n, int create_graph,
                         int retain_graph, vp_tensor *out) {
  try {
    at::Tensor l = *static_cast<at::Tensor *>(loss);
    if (l.numel() != 1) {
      return dup_error("vp_grad: loss is not a scalar");
    }
    auto ps = as_vector(params, n);
    auto res = torch::autograd::grad({l}, ps, {}, retain_graph != 0, create_graph != 0,
                                     /*allow_unused=*/true);
    fill(res, ps, out);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_hvp(vp_tensor *grads, vp_tensor *params, vp_tensor *v, int n,
                        vp_tensor *out) {
  try {
    auto gs = as_vector(grads, n);
    auto ps = as_vector(params, n);
    auto vs = as_vector(v, n);
    at::Tensor dot;
    bool any = false;
    for (int i = 0; i < n; i++) {
      if (!gs[i].requires_grad()) {
        continue;  // a gradient constant in the parameters contributes nothing
      }
      at::Tensor term = (gs[i] * vs[i]).sum();
      dot = any ? dot + term : term;
      any = true;
    }
    if (!any) {
      for (int i = 0; i < n; i++) {
        out[i] = new at::Tensor(at::zeros_like(ps[i]));
      }
      return nullptr;
    }
    auto res = torch::autograd::grad({dot}, ps, {}, /*retain_graph=*/true,
                                     /*create_graph=*/false, /*allow_unused=*/true);
    fill(res, ps, out);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_grad_dot(vp_tensor *outs, vp_tensor *v, int n, vp_tensor *wrt, int m,
                             int create_graph, int retain_graph, vp_tensor *out) {
  try {
    auto os = as_vector(outs, n);
    auto vs = as_vector(v, n);
    auto ws = as_vector(wrt, m);
    at::Tensor dot;
    bool any = false;
    for (int i = 0; i < n; i++) {
      if (!os[i].requires_grad()) {
        continue;  // constant in every input: contributes nothing
      }
      at::Tensor term = (os[i] * vs[i]).sum();
      dot = any ? dot + term : term;
      any = true;
    }
    if (!any) {
      for (int j = 0; j < m; j++) {
        out[j] = new at::Tensor(at::zeros_like(ws[j]));
      }
      return nullptr;
    }
    auto res = torch::autograd::grad({dot}, ws, {}, retain_graph != 0, create_graph != 0,
                                     /*allow_unused=*/true);
    fill(res, ws, out);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_fw_enter(unsigned long long *level) {
  try {
    *level = torch::autograd::ForwardADLevel::get_next_idx();
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_fw_exit(unsigned long long level) {
  try {
    torch::autograd::ForwardADLevel::release_idx(level);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_fw_set(vp_tensor t, vp_tensor tangent, unsigned long long level) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    at::Tensor d = *static_cast<at::Tensor *>(tangent);
    x._set_fw_grad(d, level, /*is_inplace_op=*/false);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_fw_get(vp_tensor t, unsigned long long level, vp_tensor *out) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    const at::Tensor &g = x._fw_grad(level);
    at::Tensor r = g.defined() ? g.detach().clone() : at::zeros_like(x.detach());
    *out = new at::Tensor(r);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_adamw_step(vp_tensor *params, vp_tensor *grads, vp_tensor *m,
                               vp_tensor *v, int n, double lr, double beta1, double beta2,
                               double eps, double weight_decay, long long step) {
  try {
    at::NoGradGuard guard;
    const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, static_cast<double>(step)));
    const double step_size = lr / bc1;
    for (int i = 0; i < n; i++) {
      at::Tensor p = *static_cast<at::Tensor *>(params[i]);
      at::Tensor g = *static_cast<at::Tensor *>(grads[i]);
      at::Tensor ea = *static_cast<at::Tensor *>(m[i]);
      at::Tensor eas = *static_cast<at::Tensor *>(v[i]);
      p.mul_(1 - lr * weight_decay);
      ea.mul_(beta1).add_(g, 1 - beta1);
      eas.mul_(beta2).addcmul_(g, g, 1 - beta2);
      at::Tensor denom = (eas.sqrt() / bc2_sqrt).add_(eps);
      p.addcdiv_(ea, denom, -step_size);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_clip_grad_norm(vp_tensor *grads, int n, double max_norm, double *total) {
  try {
    at::NoGradGuard guard;
    std::vector<at::Tensor> norms;
    norms.reserve(n);
    for (int i = 0; i < n; i++) {
      norms.push_back(at::norm(static_cast<at::Tensor *>(grads[i])->detach(), 2));
    }
    at::Tensor tn = at::norm(at::stack(norms), 2);
    *total = tn.item<double>();
    at::Tensor coef = at::clamp_max(max_norm / (tn + 1e-6), 1.0);
    for (int i = 0; i < n; i++) {
      static_cast<at::Tensor *>(grads[i])->detach().mul_(coef);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(what(e));
  }
}

extern "C" char *vp_flatten(vp_tensor *params, int n, vp_tensor *flat_out) {
  try {
    at::NoGradGuard guard;
    std::vector<at::Tensor> ps = as_vector(params, n);
    int64_t total = 0;
    for (const auto &p : ps) {
      if (!p.is_contiguous() || p.scalar_type() != ps[0].scalar_type() || p.device() != ps[0].device()) {
        return dup_error("vp_flatten: tensors must be contiguous, of one element type and device");
      }
      total += p.numel();
    }
    at::Tensor flat = at::empty({total}, ps[0].options().requires_grad(false));
    int64_t off = 0;
    for (auto &p : ps) {
      flat.narrow(0, off, p.numel()).copy_(p.reshape({-1}));
      off += p.numel();
    }
    off = 0;
    for (auto &p : ps) {
      // Rebind the tensor (the same TensorImpl every holder points to) to
      // its slice of the flat storage: same values, same shape and strides.
      const int64_t k = p.numel();
      p.set_(flat.storage(), flat.storage_offset() + off, p.sizes(), p.strides());
      // Share the buffer's version counter, as a view would: a write
      // through the buffer (an optimiser step) is a write to the tensor.
      torch::autograd::impl::set_version_counter(p, torch::autograd::impl::version_counter(flat));
      off += k;
    }
    *flat_out = new at::Tensor(flat);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_grad_into(vp_tensor loss, vp_tensor *params, int n, vp_tensor flat_grad) {
  try {
    at::Tensor l = *static_cast<at::Tensor *>(loss);
    if (l.numel() != 1) {
      return dup_error("vp_grad_into: loss is not a scalar");
    }
    auto ps = as_vector(params, n);
    auto res = torch::autograd::grad({l}, ps, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                     /*allow_unused=*/true);
    at::NoGradGuard guard;
    at::Tensor flat = *static_cast<at::Tensor *>(flat_grad);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
      const int64_t k = ps[i].numel();
      at::Tensor dst = flat.narrow(0, off, k);
      if (res[i].defined()) {
        dst.view(ps[i].sizes()).copy_(res[i]);
      } else {
        dst.zero_();
      }
      off += k;
    }
    if (off != flat.numel()) {
      return dup_error("vp_grad_into: the flat gradient's size is not the parameters' total");
    }
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_clip_flat(vp_tensor *views, int n, vp_tensor flat, double max_norm,
                              double *total) {
  try {
    at::NoGradGuard guard;
    std::vector<at::Tensor> norms;
    norms.reserve(n);
    for (int i = 0; i < n; i++) {
      norms.push_back(at::norm(*static_cast<at::Tensor *>(views[i]), 2));
    }
    at::Tensor tn = at::norm(at::stack(norms), 2);
    *total = tn.item<double>();
    at::Tensor coef = at::clamp_max(max_norm / (tn + 1e-6), 1.0);
    static_cast<at::Tensor *>(flat)->mul_(coef);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_channels_last(vp_tensor t, vp_tensor *out) {
  try {
    at::Tensor x = *static_cast<at::Tensor *>(t);
    if (x.dim() == 4 && x.size(1) == 1 && x.is_contiguous()) {
      // One channel: the same memory read with channels-last strides (a
      // view), which libtorch's convolutions take as the channels-last
      // layout; contiguous(ChannelsLast) would return x as it is, whose
      // strides make them choose the standard layout.
      const int64_t h = x.size(2), w = x.size(3);
      *out = new at::Tensor(x.as_strided(x.sizes(), {h * w, 1, w, 1}));
      return nullptr;
    }
    *out = new at::Tensor(x.contiguous(at::MemoryFormat::ChannelsLast));
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

extern "C" char *vp_strides(vp_tensor t, long long *out, int max, int *n) {
  try {
    const at::Tensor &x = *static_cast<at::Tensor *>(t);
    if (x.dim() > max) {
      return dup_error("vp_strides: the tensor has more dimensions than the buffer");
    }
    for (int64_t d = 0; d < x.dim(); d++) out[d] = x.stride(d);
    *n = static_cast<int>(x.dim());
    return nullptr;
  } catch (const std::exception &e) {
    return dup_error(e.what());
  }
}

// The BLAS libtorch calls for matrix products (OpenBLAS here) keeps its own
// thread pool, which at::set_num_threads does not reach: without this a
// "single-threaded" process still runs its matrix products on every core.
// Looked up at run time so that any BLAS (or none) works.
// vp_threads is the count vp_set_num_threads last set (0: never called).
static std::atomic<int> vp_threads{0};

extern "C" void vp_set_num_threads(int n) {
  at::set_num_threads(n);
  vp_threads.store(n);
  using setter = void (*)(int);
  if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    f(n);
  }
}

extern "C" int vp_blas_threads(void) {
  using getter = int (*)(void);
  if (auto f = reinterpret_cast<getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
    return f();
  }
  return -1;
}

// OpenBLAS built for several CPUs (Debian's DYNAMIC_ARCH build) picks its
// kernels once, when it is loaded, from the CPU model; a model it does not
// know falls back to the SSE3 "Prescott" kernels. vp_blas_core copies the
// name of the kernels in use into buf (empty without OpenBLAS).
extern "C" void vp_blas_core(char *buf, int n) {
  buf[0] = 0;
  using getter = char *(*)(void);
  if (auto f = reinterpret_cast<getter>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    if (const char *s = f()) {
      snprintf(buf, n, "%s", s);
    }
  }
}

// vp_blas_rechoose makes OpenBLAS choose its kernels again, as at load
// (reading OPENBLAS_CORETYPE). It returns 0, or -1 when the BLAS is not a
// multi-architecture OpenBLAS. Call it while no BLAS call is running.
extern "C" int vp_blas_rechoose(void) {
  using fn = void (*)(void);
  auto quit = reinterpret_cast<fn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
  auto init = reinterpret_cast<fn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
  if (quit == nullptr || init == nullptr) {
    return -1;
  }
  quit();
  init();
  return 0;
}

extern "C" const char *vp_torch_version(void) { return TORCH_VERSION; }

extern "C" long long vp_version(vp_tensor t) {
  try {
    return static_cast<long long>(static_cast<at::Tensor *>(t)->_version());
  } catch (const std::exception &) {
    return -1; // an inference tensor has no version counter
  }
}

extern "C" int vp_has_tangent(vp_tensor t) {
  return vp_tangent(*static_cast<at::Tensor *>(t)) ? 1 : 0;
}

extern "C" long long vp_use_count(vp_tensor t) {
  return static_cast<long long>(static_cast<at::Tensor *>(t)->use_count());
}

// OpenMP keeps its thread count per OS thread, and libtorch copies its own
// count onto a thread only once, at the thread's first parallel loop or
// count query: a thread that ran torch work before the count last changed
// keeps the old one. vp_get_num_threads first makes the calling thread's
// count the one vp_set_num_threads last set, then returns it.
extern "C" int vp_get_num_threads(void) {
  int n = at::get_num_threads(); // libtorch's lazy per-thread set-up
  int want = vp_threads.load();
  if (want > 0 && n != want) {
    using setter = void (*)(int);
    if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"))) {
      f(want);
      n = at::get_num_threads();
    }
  }
  return n;
}

extern "C" int vp_omp_max_threads(void) {
  using getter = int (*)(void);
  if (auto f = reinterpret_cast<getter>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"))) {
    return f();
  }
  return -1;
}

// ATen's parallel_for is a header template: in a translation unit compiled
// without OpenMP it runs the whole range on the calling thread. The shim is
// compiled with -fopenmp (shim.go), as libtorch is, so its own kernels
// (batch norm, attention) split their loops over libtorch's threads; this
// checks it.
extern "C" int vp_parallel_width(void) {
  std::atomic<unsigned long long> seen{0};
  at::parallel_for(0, 64, 1, [&](int64_t, int64_t) { seen.fetch_or(1ull << (at::get_thread_num() & 63)); });
  return __builtin_popcountll(seen.load());
}

extern "C" void vp_manual_seed(unsigned long long seed) {
  at::manual_seed(static_cast<uint64_t>(seed));
}

extern "C" int vp_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

extern "C" void vp_set_grad_enabled(int on) { at::GradMode::set_enabled(on != 0); }

extern "C" int vp_cuda_available(void) { return at::hasCUDA() ? 1 : 0; }

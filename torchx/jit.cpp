// vitprobe's TorchScript shim: what gotch's CModule lacks (buffers, module
// types, methods returning tuples) with one-line errors.
#include "jit.h"

#include <torch/script.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace {

char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  return p;
}

// message returns an exception's text without libtorch's C++ backtrace.
std::string message(const std::exception &e) {
  if (auto c = dynamic_cast<const c10::Error *>(&e)) {
    return c->what_without_backtrace();
  }
  return e.what();
}

torch::jit::Module *mod(vp_module m) { return static_cast<torch::jit::Module *>(m); }

std::string type_name(const c10::IValue &v) {
  if (v.isTensor()) return "Tensor";
  if (v.isTuple()) return "tuple of " + std::to_string(v.toTupleRef().elements().size());
  if (v.isList()) return "list of " + std::to_string(v.toListRef().size());
  return v.tagKind();
}

}  // namespace

extern "C" char *vp_module_load(const char *path, vp_module *out) {
  try {
    *out = new torch::jit::Module(torch::jit::load(path, c10::Device(c10::kCPU)));
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" void vp_module_free(vp_module m) { delete mod(m); }

extern "C" char *vp_module_to(vp_module m, int device) {
  try {
    if (device < 0) {
      mod(m)->to(c10::Device(c10::kCPU));
    } else {
      mod(m)->to(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
    }
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" char *vp_module_tensors(vp_module m, int buffers, char **names, vp_jtensor **tensors,
                                   int *n) {
  try {
    std::vector<std::pair<std::string, at::Tensor>> list;
    if (buffers) {
      for (const auto &b : mod(m)->named_buffers(/*recurse=*/true)) list.emplace_back(b.name, b.value);
    } else {
      for (const auto &p : mod(m)->named_parameters(/*recurse=*/true)) list.emplace_back(p.name, p.value);
    }
    std::ostringstream all;
    auto arr = static_cast<vp_jtensor *>(std::malloc(sizeof(vp_jtensor) * (list.size() + 1)));
    for (size_t i = 0; i < list.size(); i++) {
      const at::Tensor &t = list[i].second;
      all << list[i].first << '\t' << c10::toString(t.scalar_type()) << '\t'
          << reinterpret_cast<uintptr_t>(t.unsafeGetTensorImpl()) << '\t' << (t.requires_grad() ? 1 : 0)
          << '\n';
      arr[i] = new at::Tensor(t);
    }
    *names = dup_string(all.str());
    *tensors = arr;
    *n = static_cast<int>(list.size());
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" char *vp_require_grad(vp_jtensor t) {
  try {
    static_cast<at::Tensor *>(t)->requires_grad_(true);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" char *vp_module_types(vp_module m, char **out) {
  try {
    std::string all;
    for (const auto &s : mod(m)->named_modules()) {
      auto name = s.value.type()->name();
      all += s.name;
      all += '\t';
      all += name ? name->qualifiedName() : std::string("?");
      all += '\n';
    }
    *out = dup_string(all);
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" int vp_module_has_method(vp_module m, const char *method) {
  try {
    return mod(m)->find_method(method).has_value() ? 1 : 0;
  } catch (const std::exception &) {
    return 0;
  }
}

extern "C" void vp_module_set_training(vp_module m, int on) { mod(m)->train(on != 0); }

extern "C" char *vp_module_run(vp_module m, const char *method, vp_jtensor x, vp_jtensor *out,
                               int cap, int *n) {
  try {
    auto fn = mod(m)->find_method(method);
    if (!fn) {
      return dup_string(std::string("the module has no method ") + method);
    }
    std::vector<c10::IValue> in{*static_cast<at::Tensor *>(x)};
    c10::IValue res = (*fn)(std::move(in));
    std::ostringstream bad;
    bad << method << " returned a " << type_name(res)
        << ", want (logits, (layer outputs...)) as python/vitprobe_export.py traces it";
    if (!res.isTuple()) return dup_string(bad.str());
    const auto &top = res.toTupleRef().elements();
    if (top.size() != 2 || !top[0].isTensor()) return dup_string(bad.str());
    std::vector<at::Tensor> layers;
    const c10::IValue &rest = top[1];
    if (rest.isTuple()) {
      for (const auto &v : rest.toTupleRef().elements()) {
        if (!v.isTensor()) return dup_string(bad.str() + " (a layer output is a " + type_name(v) + ")");
        layers.push_back(v.toTensor());
      }
    } else if (rest.isList()) {
      for (const auto &v : rest.toListRef()) {
        if (!v.isTensor()) return dup_string(bad.str() + " (a layer output is a " + type_name(v) + ")");
        layers.push_back(v.toTensor());
      }
    } else {
      return dup_string(bad.str());
    }
    if (static_cast<int>(layers.size()) + 1 > cap) {
      std::ostringstream s;
      s << method << " returned " << layers.size() << " layer outputs, the sidecar lists " << cap - 1;
      return dup_string(s.str());
    }
    out[0] = new at::Tensor(top[0].toTensor());
    for (size_t i = 0; i < layers.size(); i++) out[i + 1] = new at::Tensor(layers[i]);
    *n = static_cast<int>(layers.size()) + 1;
    return nullptr;
  } catch (const std::exception &e) {
    return dup_string(message(e));
  }
}

extern "C" int vp_set_jit_optimize(int on) {
  bool prev = torch::jit::getGraphExecutorOptimize();
  torch::jit::setGraphExecutorOptimize(on != 0);
  return prev ? 1 : 0;
}

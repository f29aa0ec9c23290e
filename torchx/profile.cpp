// A light operator profiler: a thread-local RecordFunction callback that
// notes the start and end of every operator and autograd node called on
// the profiling thread, written out as one line per call for Go.
//
// libtorch's own legacy profiler (torch::autograd::profiler) was tried
// first and left: with it on, an elementwise product of 66,560 floats took
// 60 µs instead of 4 on one thread and 670 µs instead of 9 on two, which
// drowned the Hessian-vector product's profile in its own cost. This
// callback costs two clock reads (wall, and the process's CPU time) at each
// end of a call and 40 bytes of a preallocated array (see Call: it
// allocates nothing per call).
#include "shim.h"
#include <ATen/record_function.h>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

char *dup_str(const std::string &s) {
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// cpu_ns is the process's CPU time (every thread's, user and system): the
// CPU time inside a call over its wall time is how many cores it kept busy.
int64_t cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The profiler must not change the heap it measures. A first version kept
// each call's name as a std::string and allocated each call's start record:
// thousands of small blocks a step, which glibc carved out of the holes that
// freed activations leave, so the next step's 8 MiB activation no longer
// fitted a hole and came from fresh pages (2,048 page faults, about 12 ms
// on the project's VM) in most profiled steps and almost none unprofiled.
// Now a call is 40 bytes in an array reserved before the profile starts
// (80 MiB: above glibc's largest mmap threshold, so mapped apart from the
// heap and touched only as it fills), names are interned (a block per
// distinct name, all made in the first step), and start records come from
// a fixed slab.
struct Call {
  int32_t name;
  int64_t start, end, cpu_start, cpu_end;
};

constexpr size_t kReserveCalls = size_t{1} << 21;

// Names interns operator names: each distinct name is stored once.
struct Names {
  std::deque<std::string> owned;
  std::unordered_map<std::string_view, int32_t> ids;

  int32_t id(const char *name) {
    const std::string_view v(name);
    auto it = ids.find(v);
    if (it != ids.end()) return it->second;
    owned.emplace_back(v);
    const auto k = static_cast<int32_t>(owned.size() - 1);
    ids.emplace(std::string_view(owned.back()), k);
    return k;
  }
};

// Start is a call's start time, handed from the start callback to the end
// callback. Its storage comes from a fixed slab (a free list of slots) so
// that profiling allocates nothing per call; calls nest, so a few dozen
// slots are in use at once, and past the slab it falls back to the heap.
struct Start final : public at::ObserverContext {
  int64_t t = 0, cpu = 0;
  static void *operator new(std::size_t size);
  static void operator delete(void *p) noexcept;
};

constexpr int kSlots = 4096;
alignas(Start) unsigned char g_slab[kSlots][sizeof(Start)];
int g_free[kSlots];
int g_nfree = -1;  // -1: the free list is not filled yet
std::mutex g_slab_mu;

void *Start::operator new(std::size_t size) {
  if (size == sizeof(Start)) {
    std::lock_guard<std::mutex> lock(g_slab_mu);
    if (g_nfree < 0) {
      for (int i = 0; i < kSlots; i++) g_free[i] = kSlots - 1 - i;
      g_nfree = kSlots;
    }
    if (g_nfree > 0) return g_slab[g_free[--g_nfree]];
  }
  return ::operator new(size);
}

void Start::operator delete(void *p) noexcept {
  auto *b = static_cast<unsigned char *>(p);
  if (b >= &g_slab[0][0] && b < &g_slab[0][0] + sizeof(g_slab)) {
    std::lock_guard<std::mutex> lock(g_slab_mu);
    g_free[g_nfree++] = static_cast<int>((b - &g_slab[0][0]) / sizeof(Start));
    return;
  }
  ::operator delete(p);
}

thread_local std::vector<Call> *t_calls = nullptr;
thread_local Names *t_names = nullptr;
thread_local at::CallbackHandle t_handle = 0;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction &) {
  auto c = std::make_unique<Start>();
  c->t = now_ns();
  c->cpu = cpu_ns();
  return c;
}

void on_end(const at::RecordFunction &fn, at::ObserverContext *ctx) {
  const int64_t cpu = cpu_ns();
  const int64_t end = now_ns();
  if (t_calls == nullptr || ctx == nullptr) return;
  auto *st = static_cast<Start *>(ctx);
  t_calls->push_back(Call{t_names->id(fn.name()), st->t, end, st->cpu, cpu});
}

}  // namespace

extern "C" char *vp_profile_start(void) {
  try {
    if (t_calls != nullptr) return dup_str("vitprobe profiler: already running on this thread");
    t_calls = new std::vector<Call>();
    t_calls->reserve(kReserveCalls);
    t_names = new Names();
    t_handle = at::addThreadLocalCallback(at::RecordFunctionCallback(on_start, on_end)
                                              .needsInputs(false)
                                              .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                                                       at::RecordScope::USER_SCOPE}));
    return nullptr;
  } catch (const std::exception &e) {
    return dup_str(e.what());
  }
}

// vp_profile_stop ends the profile and writes, into *out (malloc'd), one
// line per call, "thread\tstart_us\tend_us\tcpu_start_us\tcpu_end_us\tname\n"
// (thread 0: one thread is profiled), with wall times from an arbitrary
// origin and the process's CPU time at the call's ends.
extern "C" char *vp_profile_stop(char **out) {
  try {
    if (t_calls == nullptr) return dup_str("vitprobe profiler: not running on this thread");
    at::removeCallback(t_handle);
    std::unique_ptr<std::vector<Call>> calls(t_calls);
    std::unique_ptr<Names> names(t_names);
    t_calls = nullptr;
    t_names = nullptr;
    std::ostringstream s;
    s.precision(17);
    for (const Call &c : *calls) {
      s << 0 << '\t' << static_cast<double>(c.start) / 1e3 << '\t' << static_cast<double>(c.end) / 1e3 << '\t'
        << static_cast<double>(c.cpu_start) / 1e3 << '\t' << static_cast<double>(c.cpu_end) / 1e3 << '\t'
        << names->owned[c.name] << '\n';
    }
    *out = dup_str(s.str());
    return nullptr;
  } catch (const std::exception &e) {
    return dup_str(e.what());
  }
}

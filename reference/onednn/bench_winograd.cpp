// Would Winograd convolutions speed up resnet-mini? oneDNN 2.6 (the one
// Debian's libtorch links) has f32 Winograd F(4x4, 3x3) kernels for
// AVX-512, forward and both backward passes, but libtorch always asks it
// for direct convolution. This program times resnet-mini's 3x3 stride-1
// convolutions at its training batch (128) three ways, through oneDNN's own
// API: direct on channels-last tensors (what vitprobe runs), direct on
// oneDNN's preferred blocked layout, and Winograd on its preferred layout;
// forward, backward to the input and backward to the weights, medians of
// 15 runs. Its figures are in docs/benchmarks.md. It needs oneDNN's
// headers, which neither `make demo` nor `make test` installs:
//
//   apt-get install libdnnl-dev
//   g++ -O2 -o /tmp/bench_winograd reference/onednn/bench_winograd.cpp -ldnnl
//   OMP_NUM_THREADS=1 /tmp/bench_winograd; OMP_NUM_THREADS=2 /tmp/bench_winograd
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <functional>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static double med(std::function<void()> f, int reps) {
  f(); f();
  std::vector<double> t;
  for (int i = 0; i < reps; i++) {
    auto a = std::chrono::steady_clock::now(); f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end()); return t[t.size() / 2];
}

int main() {
  engine eng(engine::kind::cpu, 0); stream s(eng);
  // resnet-mini's 3x3 stride-1 convolutions at batch 128 (the first layer
  // has one input channel and needs no input gradient: bwd_data -1).
  int N = 128;
  struct C { int ic, oc, hw; } convs[] = {{16,16,32},{32,32,16},{64,64,8},{128,128,4},{1,16,32}};
  for (auto c : convs) {
    memory::dims src = {N, c.ic, c.hw, c.hw}, wei = {c.oc, c.ic, 3, 3}, bia = {c.oc}, dst = {N, c.oc, c.hw, c.hw};
    memory::dims st = {1, 1}, pad = {1, 1};
    double gf = 2.0 * N * c.hw * c.hw * c.oc * c.ic * 9 / 1e9;
    for (int mode = 0; mode < 3; mode++) {
      algorithm alg = mode == 2 ? algorithm::convolution_winograd : algorithm::convolution_direct;
      tag act = mode == 0 ? tag::nhwc : tag::any;
      auto sd = memory::desc(src, dt::f32, act), wd = memory::desc(wei, dt::f32, tag::any),
           bd = memory::desc(bia, dt::f32, tag::x), dd = memory::desc(dst, dt::f32, act);
      try {
        auto fd = convolution_forward::desc(prop_kind::forward_training, alg, sd, wd, bd, dd, st, pad, pad);
        auto fpd = convolution_forward::primitive_desc(fd, eng);
        auto bdd = convolution_backward_data::desc(alg, sd, wd, dd, st, pad, pad);
        auto bdpd = convolution_backward_data::primitive_desc(bdd, eng, fpd);
        auto bwd = convolution_backward_weights::desc(alg, sd, wd, bd, dd, st, pad, pad);
        auto bwpd = convolution_backward_weights::primitive_desc(bwd, eng, fpd);
        memory ms(fpd.src_desc(), eng), mw(fpd.weights_desc(), eng), mb(fpd.bias_desc(), eng), md(fpd.dst_desc(), eng);
        memory mds(bdpd.diff_src_desc(), eng), mdd(bdpd.diff_dst_desc(), eng);
        memory mdw(bwpd.diff_weights_desc(), eng), mdb(bwpd.diff_bias_desc(), eng), mdd2(bwpd.diff_dst_desc(), eng), ms2(bwpd.src_desc(), eng);
        for (auto m : {ms, mw, md, mdd, mdd2, ms2}) { float* p = (float*)m.get_data_handle(); size_t n = m.get_desc().get_size() / 4; for (size_t i = 0; i < n; i++) p[i] = (i % 7) * 0.1f - 0.3f; }
        convolution_forward f(fpd); convolution_backward_data bdp(bdpd); convolution_backward_weights bwp(bwpd);
        double tf = med([&] { f.execute(s, {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}}); s.wait(); }, 15);
        double tb = c.ic == 1 ? -1 : med([&] { bdp.execute(s, {{DNNL_ARG_DIFF_DST, mdd}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DIFF_SRC, mds}}); s.wait(); }, 15);
        double tw = med([&] { bwp.execute(s, {{DNNL_ARG_SRC, ms2}, {DNNL_ARG_DIFF_DST, mdd2}, {DNNL_ARG_DIFF_WEIGHTS, mdw}, {DNNL_ARG_DIFF_BIAS, mdb}}); s.wait(); }, 15);
        printf("ic %3d oc %3d hw %2d %-11s fwd %6.2f ms (%5.0f GFLOP/s) bwd_data %6.2f  bwd_w %6.2f  impl %s\n", c.ic, c.oc, c.hw,
               mode == 0 ? "direct-nhwc" : mode == 1 ? "direct-any" : "winograd", tf, gf / tf * 1e3, tb, tw, fpd.impl_info_str());
      } catch (dnnl::error& e) {
        printf("ic %3d oc %3d hw %2d mode %d: %s\n", c.ic, c.oc, c.hw, mode, e.what());
      }
    }
  }
}

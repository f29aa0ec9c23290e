"""Are several landscape points in one pass (stacked weights, grouped
convolutions) faster than one point at a time, on this CPU?

Issue 20's item 5 proposes evaluating P grid points per pass: the P weight
copies stacked along the channels, every convolution a grouped one with P
groups. This script times, for the twelve convolutions of resnet-mini at
the landscape's batch (50 images, their real shapes), P separate
convolutions against one grouped convolution doing the same work, in the
channels-last and the standard layout, under no_grad, with libtorch's own
kernels (the same oneDNN as vitprobe's). It prints the medians and their
ratio (sequential / grouped: above 1 means batching points pays). Run it
with vitprobe's malloc settings, or glibc's default hands each output back
to the kernel and page faults swamp the kernels' times (3x, either way):

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 \
        MALLOC_ARENA_MAX=1 /usr/bin/python3 reference/pytorch/bench_grouped_conv.py --threads 1

Exit status 77 means torch is not installed.
"""
import argparse
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("bench_grouped_conv.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)

# resnet-mini's convolutions: (in, out, kernel, stride, input size).
CONVS = [(1, 16, 3, 1, 32), (16, 16, 3, 1, 32), (16, 16, 3, 1, 32),
         (16, 32, 3, 2, 32), (32, 32, 3, 1, 16), (16, 32, 1, 2, 32),
         (32, 64, 3, 2, 16), (64, 64, 3, 1, 8), (32, 64, 1, 2, 16),
         (64, 128, 3, 2, 8), (128, 128, 3, 1, 4), (64, 128, 1, 2, 8)]


def median_seconds(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--points", default="1,2,4,8", help="values of P")
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"threads {a.threads}, batch {a.batch}, torch {torch.__version__}")
    print("| layout | P | P convolutions (ms) | one grouped (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for layout in ("channels-last", "standard"):
        fmt = torch.channels_last if layout == "channels-last" else torch.contiguous_format
        for p in (int(v) for v in a.points.split(",")):
            seq = grp = 0.0
            for cin, cout, k, s, h in CONVS:
                pad = k // 2
                xs = [torch.randn(a.batch, cin, h, h).contiguous(memory_format=fmt) for _ in range(p)]
                ws = [torch.randn(cout, cin, k, k) for _ in range(p)]
                with torch.no_grad():
                    seq += median_seconds(lambda: [F.conv2d(xs[i], ws[i], None, s, pad) for i in range(p)], a.repeats)
                    if cin == 1:
                        # The first layer reads the shared images once: one
                        # ordinary convolution with P·out filters.
                        w1 = torch.randn(p * cout, 1, k, k)
                        grp += median_seconds(lambda: F.conv2d(xs[0], w1, None, s, pad), a.repeats)
                    else:
                        xg = torch.randn(a.batch, p * cin, h, h).contiguous(memory_format=fmt)
                        wg = torch.randn(p * cout, cin, k, k)
                        grp += median_seconds(lambda: F.conv2d(xg, wg, None, s, pad, 1, p), a.repeats)
            print(f"| {layout} | {p} | {seq * 1e3:.2f} | {grp * 1e3:.2f} | {seq / grp:.2f} |")


if __name__ == "__main__":
    main()

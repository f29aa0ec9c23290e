"""Plain-PyTorch Hessian-vector products, the baseline of docs/benchmarks.md.

What PyHessian does for every product on a minibatch: one forward pass in
eval mode, the gradient with create_graph=True (kept), then for each
product torch.autograd.grad(grads, params, grad_outputs=v,
retain_graph=True) (double backward). Same models as vitprobe
(refmodels.py, same parameter names), optionally the same weights (a
vitprobe checkpoint through safet.py), the same 16 MNIST test images
0..15 as the Go benchmarks (analysis/hessian_bench_test.go), the same
libtorch (Debian's 1.13).

    /usr/bin/python3 reference/pytorch/bench_hvp.py --models resnet-mini,vit-mini,alternet-mini \\
        --threads 2 --reps 20

prints, per model, the median seconds of one product on the kept graph
("hvp"), of one forward and backward pass ("fwd+bwd") and of the forward
and graph-keeping backward ("setup"), and the products per second.

    /usr/bin/python3 reference/pytorch/bench_hvp.py --check --checkpoint /tmp/demo/vit-mini/final.json

prints as JSON, for that checkpoint on those images (no weight decay), the
loss, v'Hv and |Hv| for v = all ones: the numbers analysis's
TestHVPMatchesPyTorch compares with the Go adapter's.
Exit status 77 means torch is not installed.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

try:
    import torch
except ImportError:
    print("bench_hvp.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)
import numpy as np
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402
import safet  # noqa: E402


def mnist_dir():
    """The folder of the MNIST idx files: $VITPROBE_MNIST or datasets/mnist above here."""
    env = os.environ.get("VITPROBE_MNIST")
    if env:
        return env
    d = os.path.dirname(os.path.abspath(__file__))
    while True:
        cand = os.path.join(d, "datasets", "mnist")
        if os.path.isdir(cand):
            return cand
        up = os.path.dirname(d)
        if up == d:
            raise FileNotFoundError("MNIST not found: set VITPROBE_MNIST")
        d = up


def mnist_test_batch(n=16):
    """Test images 0..n-1 padded to 32x32 and normalised as data.Load does, and their labels."""
    d = mnist_dir()
    with gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)[16:16 + n * 784].reshape(n, 28, 28)
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8)[8:8 + n]
    img = np.zeros((n, 1, 32, 32), dtype=np.float32)
    img[:, 0, 2:30, 2:30] = raw
    # The same float32 lookup as data.HostBatch: (v/255 - mean)/std in float64, then rounded.
    lut = ((np.arange(256) / 255.0 - 0.1307) / 0.3081).astype(np.float32)
    x = torch.from_numpy(lut[img.astype(np.int64)])
    return x, torch.from_numpy(labels.astype(np.int64))


def build(name, checkpoint=None):
    m = refmodels.build(name)
    if checkpoint:
        side = json.load(open(checkpoint))
        tensors, _ = safet.load(os.path.join(os.path.dirname(checkpoint), side["weights"]))
        refmodels.load_state(m, tensors)
    m.eval()  # as PyHessian
    return m


def median_time(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench(name, reps, x, y):
    torch.manual_seed(1)
    m = build(name)
    params = [p for p in m.parameters() if p.requires_grad]

    def fwd_bwd():
        loss = F.cross_entropy(m(x), y)
        torch.autograd.grad(loss, params)

    def setup():
        loss = F.cross_entropy(m(x), y)
        return torch.autograd.grad(loss, params, create_graph=True)

    grads = setup()
    v = [torch.randn_like(p) for p in params]

    def hvp():
        torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)

    return {"model": name, "params": sum(p.numel() for p in params),
            "hvp_s": median_time(hvp, reps), "fwd_bwd_s": median_time(fwd_bwd, reps),
            "setup_s": median_time(setup, max(3, reps // 4))}


def check(checkpoint, x, y):
    side = json.load(open(checkpoint))
    m = build(side["model"]["name"], checkpoint)
    params = [p for n, p in sorted(m.named_parameters())]  # vitprobe's order: sorted by name
    loss = F.cross_entropy(m(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.ones_like(p) for p in params]
    hv = torch.autograd.grad(grads, params, grad_outputs=v)
    vhv = sum(float((h.double() * 1.0).sum()) for h in hv)
    norm = sum(float((h.double() ** 2).sum()) for h in hv) ** 0.5
    return {"model": side["model"]["name"], "loss": float(loss), "vHv": vhv, "norm_Hv": norm,
            "dim": sum(p.numel() for p in params)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet-mini,vit-mini,alternet-mini")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--check", action="store_true", help="print loss, v'Hv and |Hv| (v = ones) of --checkpoint as JSON")
    ap.add_argument("--checkpoint", help="vitprobe checkpoint sidecar (.json)")
    ap.add_argument("--out", help="also write the results as JSON here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = mnist_test_batch(a.batch)
    if a.check:
        if not a.checkpoint:
            ap.error("--check needs --checkpoint")
        print(json.dumps(check(a.checkpoint, x, y)))
        return
    res = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch}, median of {a.reps}")
    print(f"{'model':15s} {'params':>9s} {'hvp ms':>9s} {'fwd+bwd ms':>11s} {'setup ms':>9s} {'hvp/s':>7s} {'hvp/fwd+bwd':>12s}")
    for name in a.models.split(","):
        r = bench(name, a.reps, x, y)
        res.append(r)
        print(f"{name:15s} {r['params']:9d} {1e3 * r['hvp_s']:9.1f} {1e3 * r['fwd_bwd_s']:11.1f} {1e3 * r['setup_s']:9.1f} "
              f"{1 / r['hvp_s']:7.2f} {r['hvp_s'] / r['fwd_bwd_s']:12.2f}", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"torch": torch.__version__, "threads": a.threads, "batch": a.batch, "results": res}, f, indent=1)


if __name__ == "__main__":
    main()

"""Plain-PyTorch loss-landscape loop, the baseline of docs/benchmarks.md.

It does what the loss-landscape code of Li et al. and the official
how-do-vits-work code do for every grid point: build the state dict
w0 + x*d1 + y*d2 (filter-normalised random directions, zero on tensors of
rank < 2, position tables, class tokens and buffers), model.load_state_dict
it, then run the evaluation data through a DataLoader in eval mode under
torch.no_grad() and accumulate the NLL and accuracy. Same models
(refmodels.py, same parameter names), same checkpoint (safet.py), same
images (the subset.json that cmd/landscape writes), same libtorch.

    /usr/bin/python3 reference/pytorch/bench_landscape.py \\
        --checkpoint /tmp/demo/vit-mini/final.json --subset out/vit/subset.json \\
        --grid -1:1:21 --batch 100 --threads 2 --out bench-vit.json

--loader cached takes the batches from a list made once instead of a
DataLoader (to see what the data pipeline costs); --points K stops after K
points (the rate is the same, the run shorter). It prints and writes the
points per second, the CPU seconds per point (all threads; a measure of
work that contention from other processes hardly changes), the median
seconds per point spent setting the weights and evaluating, and the centre point's NLL and accuracy, to compare with
the Go result on the same images (they agree to float32 rounding).
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
    print("bench_landscape.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)
import numpy as np
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402
import safet  # noqa: E402

STILL = ("pos_embed", "pos_emb", "position_embedding", "relative_position", "rel_pos", "cls_token", "class_token")


def mnist_dir():
    env = os.environ.get("VITPROBE_MNIST")
    if env:
        return env
    d = os.path.abspath(os.getcwd())
    while True:
        cand = os.path.join(d, "datasets", "mnist")
        if os.path.isdir(cand):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            raise SystemExit("bench_landscape.py: MNIST not found; set VITPROBE_MNIST")
        d = parent


def load_mnist(split):
    """MNIST padded to 32x32 and normalised as vitprobe's data package does."""
    prefix = "train" if split == "train" else "t10k"
    base = mnist_dir()
    with gzip.open(os.path.join(base, f"{prefix}-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    imgs = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 28, 28)
    with gzip.open(os.path.join(base, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    padded = np.zeros((n, 1, 32, 32), dtype=np.uint8)
    padded[:, 0, 2:30, 2:30] = imgs
    lut = ((np.arange(256) / 255.0 - 0.1307) / 0.3081).astype(np.float32)
    return lut[padded], labels.astype(np.int64)


def directions(state, trainable, seed):
    """Two filter-normalised Gaussian directions over the state dict."""
    g = torch.Generator().manual_seed(seed)
    dirs = []
    for _ in range(2):
        d = {}
        for k, w in state.items():
            if k not in trainable or w.dim() < 2 or any(s in k for s in STILL):
                d[k] = torch.zeros_like(w)
                continue
            r = torch.randn(w.shape, generator=g, dtype=w.dtype)
            wn = w.reshape(w.shape[0], -1).norm(dim=1)
            rn = r.reshape(r.shape[0], -1).norm(dim=1)
            scale = (wn / rn.clamp_min(1e-30)).reshape([-1] + [1] * (w.dim() - 1))
            d[k] = r * scale
        dirs.append(d)
    return dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a vitprobe checkpoint sidecar (.json)")
    ap.add_argument("--subset", required=True, help="subset.json written by cmd/landscape")
    ap.add_argument("--grid", default="-1:1:21")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loader", choices=["dataloader", "cached"], default="dataloader")
    ap.add_argument("--points", type=int, default=0, help="stop after this many points (0: the whole grid)")
    ap.add_argument("--out", help="write the timings as JSON here")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    with open(a.checkpoint) as f:
        ck = json.load(f)
    spec = ck["model"]
    cfg = spec["config"]
    model = refmodels.build(spec["name"], classes=cfg["classes"], in_channels=cfg["in_channels"],
                            image_size=cfg["image_size"], drop_path=cfg.get("drop_path", 0.0), gap=cfg.get("gap_head", False))
    weights, _ = safet.load(os.path.join(os.path.dirname(a.checkpoint), ck["weights"]))
    refmodels.load_state(model, weights)
    model.eval()
    with open(a.subset) as f:
        sub = json.load(f)
    X, Y = load_mnist(sub["split"])
    idx = np.asarray(sub["indices"])
    X, Y = torch.from_numpy(X[idx]), torch.from_numpy(Y[idx])

    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = {k for k, _ in model.named_parameters()}
    d1, d2 = directions(w0, trainable, a.seed)
    lo, hi, n = a.grid.split(":")
    xs = np.linspace(float(lo), float(hi), int(n))
    grid = [(x, y) for y in xs for x in xs]  # x fastest, as the official CSV
    if a.points:
        grid = grid[:a.points]
    if a.loader == "dataloader":
        def batches():
            return DataLoader(TensorDataset(X, Y), batch_size=a.batch, shuffle=False)
    else:
        cached = [(X[i:i + a.batch], Y[i:i + a.batch]) for i in range(0, len(X), a.batch)]

        def batches():
            return cached

    def evaluate():
        total, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in batches():
                out = model(xb)
                total += F.cross_entropy(out, yb).item() * len(yb)
                correct += (out.argmax(1) == yb).sum().item()
        return total / len(Y), correct / len(Y)

    centre = evaluate()
    set_t, eval_t = [], []
    start, cpu0 = time.perf_counter(), time.process_time()
    for x, y in grid:
        t0 = time.perf_counter()
        model.load_state_dict({k: w0[k] + x * d1[k] + y * d2[k] for k in w0}, strict=False)
        t1 = time.perf_counter()
        evaluate()
        t2 = time.perf_counter()
        set_t.append(t1 - t0)
        eval_t.append(t2 - t1)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    model.load_state_dict(w0, strict=False)
    res = {
        "model": spec["name"], "points": len(grid), "images": len(Y), "batch": a.batch, "threads": a.threads,
        "loader": a.loader, "seconds": wall, "points_per_second": len(grid) / wall,
        "cpu_seconds_per_point": cpu / len(grid),
        "median_set_seconds": statistics.median(set_t), "median_eval_seconds": statistics.median(eval_t),
        "centre_nll": centre[0], "centre_acc": centre[1], "torch": torch.__version__,
    }
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()

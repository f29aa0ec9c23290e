"""Plain-PyTorch training step, the baseline of BenchmarkTrainStep.

One step as vitprobe's train package runs it and as a PyTorch user writes
it: a batch of MNIST training images (padded to 32x32 and normalised as
vitprobe does, taken from a tensor made once), a training-mode forward
pass, the cross-entropy, the loss and the number of correct predictions
read back, backward, torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW
(PyTorch 1.13's defaults: the per-tensor update). Same models
(refmodels.py), same libtorch (Debian's 1.13), same thread count.

    /usr/bin/python3 reference/pytorch/bench_train.py --threads 1 --batch 16 --steps 40 vit-mini

prints, per model, images per second and milliseconds per step (wall
clock), and CPU milliseconds per step (all threads: a measure of work that
other processes' load hardly changes); --out writes them as JSON.
Exit status 77 means torch is not installed.
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
except ImportError:
    print("bench_train.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402
from bench_landscape import load_mnist  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", help="also write the results as JSON here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    X, Y = load_mnist("train")
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    g = torch.Generator().manual_seed(1)
    res = []
    for name in a.names:
        torch.manual_seed(1)
        m = refmodels.build(name)
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
        perm = torch.randperm(len(X), generator=g)

        def step(i):
            idx = perm[(i * a.batch) % (len(X) - a.batch):][:a.batch]
            xb, yb = X[idx], Y[idx]
            out = m(xb)
            loss = F.cross_entropy(out, yb)
            lv = loss.item()
            correct = (out.argmax(1) == yb).sum().item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
            opt.step()
            return lv, correct

        step(0)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(a.steps):
            step(i + 1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        r = {"model": name, "batch": a.batch, "threads": a.threads, "steps": a.steps,
             "img_per_s": a.batch * a.steps / wall, "ms_per_step": 1e3 * wall / a.steps,
             "cpu_ms_per_step": 1e3 * cpu / a.steps}
        res.append(r)
        print(f"{name}\t{r['img_per_s']:.1f} img/s\t{r['ms_per_step']:.1f} ms/step\t{r['cpu_ms_per_step']:.1f} cpu-ms/step"
              f"\t(batch {a.batch}, {a.threads} threads)", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"torch": torch.__version__, "results": res}, f, indent=1)


if __name__ == "__main__":
    main()

"""Images per second of a training-mode forward pass, the mean of the logits
as a loss and the gradients of every parameter, at batch 32, for the presets
of refmodels.py: the PyTorch side of `go test ./models -bench ForwardBackward`
(same libtorch 1.13, same thread count).

    /usr/bin/python3 reference/pytorch/bench_models.py [--threads 2] [--steps 20] [names...]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402

DEFAULT = ["resnet-mini", "vit-mini", "alternet-mini", "resnet18", "resnet50", "preact-resnet50", "alternet50", "vit-ti"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=DEFAULT)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    for name in a.names:
        m = refmodels.build(name)
        m.train()
        c = 1 if name.endswith("-mini") else 3
        x = torch.randn(a.batch, c, 32, 32)
        ps = [p for p in m.parameters() if p.requires_grad]

        def step():
            loss = m(x).mean()
            torch.autograd.grad(loss, ps)

        step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        dt = time.perf_counter() - t0
        print(f"{name}\t{a.batch * a.steps / dt:.1f} img/s\t({a.threads} threads)", flush=True)


if __name__ == "__main__":
    main()

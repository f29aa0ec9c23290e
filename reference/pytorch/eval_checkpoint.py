"""Evaluates a vitprobe checkpoint in plain PyTorch on the MNIST test split.

Reads the checkpoint's JSON sidecar (model preset and configuration) and its
safetensors weights (the 20-line reader of safet.py), rebuilds the same
architecture from refmodels.py, loads the weights by name, and computes the
test accuracy and mean cross-entropy on the 10,000 MNIST test images, padded
to 32x32 and normalised as vitprobe does ((v/255 - 0.1307) / 0.3081).

    /usr/bin/python3 reference/pytorch/eval_checkpoint.py runs/resnet-mini/final.json \
        [--mnist datasets/mnist] [--threads 2] [--json]
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402
import safet  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def mnist_test(folder):
    x = read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))
    img = np.zeros((x.shape[0], 1, 32, 32), dtype=np.float32)
    img[:, 0, 2:30, 2:30] = x
    img = (img / 255.0 - 0.1307) / 0.3081
    return torch.from_numpy(img), torch.from_numpy(y.astype(np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="the checkpoint's .json sidecar")
    ap.add_argument("--mnist", default="datasets/mnist", help="folder of the MNIST idx .gz files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    side = json.load(open(a.checkpoint))
    spec, cfg = side["model"]["name"], side["model"]["config"]
    if side.get("dataset", "mnist") != "mnist":
        sys.exit(f"{a.checkpoint}: trained on {side['dataset']}; this script evaluates MNIST checkpoints")
    model = refmodels.build(spec, classes=cfg["classes"], in_channels=cfg["in_channels"],
                            image_size=cfg["image_size"], drop_path=cfg.get("drop_path", 0.0),
                            gap=cfg.get("gap_head", False))
    tensors, _ = safet.load(os.path.join(os.path.dirname(a.checkpoint), side["weights"]))
    refmodels.load_state(model, tensors)
    model.eval()
    x, y = mnist_test(a.mnist)
    correct, nll = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), 1000):
            logits = model(x[i:i + 1000])
            nll += F.cross_entropy(logits, y[i:i + 1000], reduction="sum").item()
            correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    res = {"model": spec, "checkpoint": a.checkpoint, "test_acc": correct / len(y), "test_loss": nll / len(y), "n": len(y)}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{spec}: PyTorch test accuracy {100 * res['test_acc']:.2f}%, loss {res['test_loss']:.4f} on {len(y)} images")


if __name__ == "__main__":
    main()

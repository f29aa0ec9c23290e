"""Trainable parameter counts (sum of p.numel() for p in model.parameters())
of the reference models, for comparison with Go's models.NumParams.

    /usr/bin/python3 reference/pytorch/count_params.py             # table
    /usr/bin/python3 reference/pytorch/count_params.py --json      # {name: count}
    /usr/bin/python3 reference/pytorch/count_params.py --breakdown alternet50

Paper presets use 100 classes and 3 channels, the minis 10 classes and 1
channel (the Go defaults). resnet18/resnet50 are also built with
torchvision (CIFAR stem: conv1 replaced by a 3x3 stride-1 conv, max-pool
removed) and their state-dict names and shapes compared with refmodels'.
Exit status 77 means torch is not installed (callers skip).
"""
import argparse
import json
import os
import sys

try:
    import torch
except ImportError:
    print("count_params.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402

PAPER = ["resnet18", "resnet50", "preact-resnet50", "alternet50", "vit-ti", "vit-s"]
MINIS = ["resnet-mini", "alternet-mini", "vit-mini"]


def torchvision_check(name, ref):
    """Returns torchvision's count for resnet18/50 with the CIFAR stem, after
    checking its state-dict names and shapes are refmodels'."""
    try:
        import torchvision
    except ImportError:
        return None
    tv = getattr(torchvision.models, name)(num_classes=100)
    tv.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    tv.maxpool = torch.nn.Identity()
    a = {k: tuple(v.shape) for k, v in tv.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    if a != b:
        diff = sorted(set(a.items()) ^ set(b.items()))[:6]
        raise SystemExit(f"{name}: torchvision and refmodels state dicts differ: {diff}")
    return refmodels.num_params(tv)


def breakdown(name):
    """Per-module parameter counts: stem, every block, head."""
    m = refmodels.build(name)
    rows, total = [], 0
    for top, mod in m.named_children():
        if isinstance(mod, (torch.nn.Sequential, torch.nn.ModuleList)):
            for sub, blk in mod.named_children():
                n = refmodels.num_params(blk)
                rows.append((f"{top}.{sub}", type(blk).__name__, n))
        else:
            n = refmodels.num_params(mod)
            rows.append((top, type(mod).__name__, n))
    direct = sum(p.numel() for _, p in m.named_parameters(recurse=False))
    if direct:
        rows.append(("(tokens, embeddings)", "Parameter", direct))
    for r in rows:
        total += r[2]
        print(f"{r[0]:24s} {r[1]:18s} {r[2]:>10d}")
    print(f"{'total':43s} {total:>10d}")
    assert total == refmodels.num_params(m)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print {name: count} as JSON only")
    ap.add_argument("--breakdown", metavar="NAME", help="per-block counts of one preset")
    ap.add_argument("--minis-only", action="store_true", help="only the mini presets (fast)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.breakdown:
        breakdown(args.breakdown)
        return
    names = MINIS if args.minis_only else PAPER + MINIS
    counts, tv = {}, {}
    for name in names:
        m = refmodels.build(name)
        counts[name] = refmodels.num_params(m)
        if name in ("resnet18", "resnet50"):
            tv[name] = torchvision_check(name, m)
        del m
    if args.json:
        print(json.dumps(counts))
        return
    print(f"torch {torch.__version__}")
    for name in names:
        extra = f"   torchvision {tv[name]}" if tv.get(name) is not None else ""
        print(f"{name:16s} {counts[name]:>10d}{extra}")


if __name__ == "__main__":
    main()

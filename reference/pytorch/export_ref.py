"""Export reference models (refmodels.py) with vitprobe weights as
TorchScript, through python/vitprobe_export.py, for the Go tests that compare
a TorchScript model with the Go preset of the same weights.

    /usr/bin/python3 reference/pytorch/export_ref.py --model vit-mini \\
        --weights w.safetensors --out vit-mini.pt [--gap] [--mean 0.1307 --std 0.3081]

--cases FILE.json exports a list of cases (objects with the keys model,
weights, out and optionally gap, classes, in_channels, image_size, mean,
std) in one Python start. The layers are chosen automatically. Exit status
77 means torch is not installed (callers skip).
"""
import argparse
import json
import os
import sys

try:
    import torch
except ImportError:
    print("export_ref.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "python"))
import refmodels  # noqa: E402
import safet  # noqa: E402
import vitprobe_export  # noqa: E402


def export_case(case):
    model = refmodels.build(case["model"], classes=case.get("classes"), in_channels=case.get("in_channels"),
                            image_size=case.get("image_size", 32), drop_path=0.0, gap=case.get("gap", False))
    weights, _ = safet.load(case["weights"])
    refmodels.load_state(model, weights)
    c = case.get("in_channels") or refmodels.PRESETS[case["model"]][2]["in_channels"]
    size = case.get("image_size", 32)
    mean = case.get("mean", [0.1307] * c)
    std = case.get("std", [0.3081] * c)
    torch.manual_seed(0)
    vitprobe_export.export(model, torch.randn(2, c, size, size), case["out"], mean=mean, std=std,
                           name=case.get("name", case["model"]), verbose=case.get("verbose", False))


class CdistNet(torch.nn.Module):
    """A model whose loss has a gradient but no Hessian in libtorch 1.13:
    logits are minus the distances (torch.cdist) of the features to learned
    prototypes, and cdist's backward has no derivative."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.act = torch.nn.ReLU()
        self.proto = torch.nn.Parameter(torch.randn(3, 4 * 8 * 8) * 0.1)

    def forward(self, x):
        return -torch.cdist(self.act(self.stem(x)).flatten(1), self.proto)


def export_testnets(dir):
    """The models of the Go error tests: cdist.pt (+ .json), exported
    without a training graph, and state_dict.pt, a torch.save'd state dict."""
    torch.manual_seed(0)
    net = CdistNet()
    layers = [vitprobe_export.Layer("stem", "stem", "stem"), vitprobe_export.Layer("act", "act", "conv")]
    vitprobe_export.export(net, torch.randn(2, 1, 8, 8), os.path.join(dir, "cdist.pt"), layers=layers,
                           mean=[0.5], std=[0.25], name="cdist", train=False, verbose=False)
    torch.save(net.state_dict(), os.path.join(dir, "state_dict.pt"))


def kind_rule(path):
    """Prints the exporter's default kinds for the rows of a JSON file
    [{name, rank, owner}], as a JSON list."""
    with open(path) as f:
        rows = json.load(f)
    print(json.dumps([vitprobe_export.default_param_kind(r["name"], r["rank"], r["owner"]) for r in rows]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases")
    ap.add_argument("--model")
    ap.add_argument("--weights")
    ap.add_argument("--out")
    ap.add_argument("--gap", action="store_true")
    ap.add_argument("--testnets", help="folder for the error tests' models")
    ap.add_argument("--kind-rule", help="JSON rows to classify with the exporter's parameter-kind rule")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.kind_rule:
        kind_rule(a.kind_rule)
        return
    if a.testnets:
        export_testnets(a.testnets)
        return
    if a.cases:
        with open(a.cases) as f:
            cases = json.load(f)
    else:
        cases = [dict(model=a.model, weights=a.weights, out=a.out, gap=a.gap, verbose=True)]
    for case in cases:
        export_case(case)


if __name__ == "__main__":
    main()

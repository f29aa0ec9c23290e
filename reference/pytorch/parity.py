"""Reference logits, loss and gradients for vitprobe's numerical-parity test.

For one model (flags) or a list of cases (--cases FILE.json, one Python start
for all), it loads vitprobe weights into the reference model of refmodels.py,
runs the batch of an inputs file ("x": F32 images, "y": I64 labels), and
writes for every mode asked:

    <mode>/logits             (B, classes)
    <mode>/loss               ()  mean cross-entropy
    <mode>/grad/<param>       d loss / d param, for every trainable parameter
    <mode>/state/<buffer>     (train only) batch-norm running statistics
                              after the step

Modes: "eval" (running statistics, no stochastic depth) and "train" (batch
statistics and running-average updates; needs drop path 0 to be
deterministic, which the model is built with). The computation runs in
float64 by default (--dtype float32 for the same precision as Go), so the
outputs are a reference for Go's float32 results rather than a copy of them.

    /usr/bin/python3 reference/pytorch/parity.py --model vit-mini \\
        --weights w.safetensors --inputs in.safetensors --out ref.safetensors

A cases file is a JSON list of objects with the keys model, weights, inputs,
out and optionally classes, in_channels, image_size, gap, window, blur, modes.
Exit status 77 means torch is not installed (callers skip).
"""
import argparse
import json
import os
import sys

try:
    import torch
except ImportError:
    print("parity.py: torch is not installed for", sys.executable, file=sys.stderr)
    sys.exit(77)
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refmodels  # noqa: E402
import safet  # noqa: E402

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def run_case(case, dtype):
    weights, _ = safet.load(case["weights"])
    inputs, _ = safet.load(case["inputs"])
    x, y = inputs["x"], inputs["y"].long()
    out = {}
    for mode in case.get("modes", ["eval", "train"]):
        model = refmodels.build(case["model"], classes=case.get("classes"), in_channels=case.get("in_channels"),
                                image_size=case.get("image_size", 32), drop_path=0.0, gap=case.get("gap", False),
                                window=case.get("window", 0), blur=case.get("blur", False))
        refmodels.load_state(model, weights)
        model = model.to(dtype)
        model.train(mode == "train")
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        logits = model(x.to(dtype))
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, [p for _, p in params])
        out[f"{mode}/logits"] = logits.detach()
        out[f"{mode}/loss"] = loss.detach()
        for (n, _), g in zip(params, grads):
            out[f"{mode}/grad/{n}"] = g
        if mode == "train":
            for n, b in model.named_buffers():
                if n.endswith("running_mean") or n.endswith("running_var"):
                    out[f"{mode}/state/{n}"] = b.detach()
    safet.save(case["out"], out, {"torch": torch.__version__, "dtype": str(dtype), "model": case["model"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", help="JSON list of cases")
    ap.add_argument("--model")
    ap.add_argument("--weights")
    ap.add_argument("--inputs")
    ap.add_argument("--out")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--in-channels", type=int)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--gap", action="store_true")
    ap.add_argument("--modes", default="eval,train")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float64")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.cases:
        with open(args.cases) as f:
            cases = json.load(f)
    else:
        if not (args.model and args.weights and args.inputs and args.out):
            ap.error("give --cases, or --model, --weights, --inputs and --out")
        cases = [dict(model=args.model, weights=args.weights, inputs=args.inputs, out=args.out,
                      classes=args.classes, in_channels=args.in_channels, image_size=args.image_size,
                      gap=args.gap, modes=args.modes.split(","))]
    for case in cases:
        run_case(case, DTYPES[args.dtype])


if __name__ == "__main__":
    main()

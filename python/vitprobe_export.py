"""Export a PyTorch image classifier for vitprobe's analyses.

vitprobe (Go, libtorch) computes Hessian spectra, loss landscapes and the
Fourier/variance analyses of any model it can run. This module turns an
``nn.Module`` into what vitprobe loads: a traced TorchScript file ``model.pt``
whose ``forward`` returns ``(logits, (out_0, out_1, ...))``, the logits and
the outputs of the layers to observe, and a JSON sidecar ``model.json`` that
says what those outputs are (docs/torchscript.md describes it field by
field). It needs only ``torch``.

As a module::

    import vitprobe_export
    vitprobe_export.export(model, torch.randn(2, 3, 32, 32), "model.pt",
                           mean=[0.49, 0.48, 0.45], std=[0.25, 0.24, 0.26])

As a script, from weights saved with ``torch.save(model.state_dict(), path)``::

    python3 python/vitprobe_export.py --arch torchvision.models:resnet18 \\
        --kwargs '{"num_classes": 10}' --weights weights.pth --size 64 --out model.pt

Without a layer list, the layers are chosen for torchvision-style ResNets
(the stem, every residual block) and for ViTs with timm's layout (the
embedding, every attention and every MLP residual sub-block), and the choice
is printed. Any other model needs ``layers=[Layer(...), ...]``.
"""
import argparse
import hashlib
import importlib
import json
import math
import os
import sys

import torch
from torch import nn

FORMAT = "vitprobe-torchscript"
FORMAT_VERSION = 1
TRAIN_METHOD = "forward_train"
KINDS = ("stem", "conv", "down", "msa", "mlp", "head")
PARAM_KINDS = ("weight", "bias", "norm_scale", "norm_shift", "pos_embed", "token", "rel_pos")
# ImageNet's statistics: what torchvision's and timm's pretrained weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ExportError(Exception):
    """A model, layer list or option the exporter cannot use (one line)."""


class Layer:
    """One layer to observe.

    name:   the layer's name in vitprobe's tables and plots;
    module: the dotted name of the submodule whose output (at="output") or
            first input (at="input") is the layer's output; "" is the model;
    kind:   stem, conv, down, msa, mlp or head (plots shade msa grey and
            down blue; head is the logits and must be the model's output);
    tokens: the output is a token sequence (B, N, C) instead of a map
            (B, C, H, W);
    cls:    token 0 of a token output is a class token (spatial analyses
            drop it).
    """

    def __init__(self, name, module, kind, at="output", tokens=False, cls=False):
        if kind not in KINDS:
            raise ExportError(f"layer {name!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if at not in ("input", "output"):
            raise ExportError(f"layer {name!r}: at={at!r}, want 'input' or 'output'")
        if cls and not tokens:
            raise ExportError(f"layer {name!r}: a class token needs a token output (tokens=True)")
        self.name, self.module, self.kind, self.at = name, module, kind, at
        self.tokens, self.cls = bool(tokens), bool(cls)

    @classmethod
    def of(cls, spec):
        """A Layer from a Layer or a dict with the constructor's keys."""
        if isinstance(spec, Layer):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {"name", "module", "kind", "at", "tokens", "cls"}
            if unknown:
                raise ExportError(f"layer {spec.get('name')!r}: unknown keys {sorted(unknown)}")
            return cls(**spec)
        raise ExportError(f"layer {spec!r}: want a Layer or a dict")

    def describe(self):
        where = f"{self.at} of {self.module or 'the model'}"
        extra = ", tokens" + (" + class token" if self.cls else "") if self.tokens else ""
        return f"{self.name} ({self.kind}{extra}; {where})"


# ------------------------------------------------------------ layer choice

def _is_attention(mod):
    return isinstance(mod, nn.MultiheadAttention) or "attention" in type(mod).__name__.lower()


def _strided(block):
    for m in block.modules():
        s = getattr(m, "stride", None)
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) and s is not None:
            s = s if isinstance(s, tuple) else (s, s)
            if any(v != 1 for v in s):
                return True
    return False


def _resnet_layers(model):
    stages = []
    i = 1
    while isinstance(getattr(model, f"layer{i}", None), nn.Sequential):
        stages.append(i)
        i += 1
    if not stages or not isinstance(getattr(model, "fc", None), nn.Linear):
        return None
    pool = getattr(model, "maxpool", None)
    stem = "maxpool" if pool is not None and not isinstance(pool, nn.Identity) else "conv1"
    layers = [Layer(stem, "layer1", "stem", at="input")]
    for s in stages:
        for b, block in enumerate(getattr(model, f"layer{s}")):
            if any(_is_attention(m) for m in block.modules()):
                kind = "msa"
            elif _strided(block):
                kind = "down"
            else:
                kind = "conv"
            layers.append(Layer(f"layer{s}.{b}", f"layer{s}.{b}", kind))
    layers.append(Layer("fc", "fc", "head"))
    return layers


def _prefix_tokens(model):
    n = getattr(model, "num_prefix_tokens", None)
    if n is None:
        n = int(getattr(model, "cls_token", None) is not None)
        n += int(getattr(model, "dist_token", None) is not None)
        n += int(getattr(model, "reg_token", None) is not None)
    return int(n)


def _vit_layers(model):
    blocks = getattr(model, "blocks", None)
    if getattr(model, "patch_embed", None) is None or not isinstance(blocks, (nn.Sequential, nn.ModuleList)) or len(blocks) == 0:
        return None
    if not all(all(hasattr(b, a) for a in ("norm1", "attn", "norm2", "mlp")) for b in blocks):
        return None
    if getattr(model, "head", None) is None:
        return None
    prefix = _prefix_tokens(model)
    if prefix > 1:
        raise ExportError(f"{type(model).__name__} has {prefix} prefix tokens (class, distillation or register tokens); "
                          "vitprobe drops at most one (a class token) from token outputs")
    cls = prefix == 1
    layers = [Layer("patch_embed", "blocks.0", "stem", at="input", tokens=True, cls=cls)]
    for i in range(len(blocks)):
        # timm's Block: x = x + attn(norm1(x)); x = x + mlp(norm2(x)). The
        # attention sub-block's residual sum is what norm2 receives.
        layers.append(Layer(f"blocks.{i}.attn", f"blocks.{i}.norm2", "msa", at="input", tokens=True, cls=cls))
        layers.append(Layer(f"blocks.{i}.mlp", f"blocks.{i}", "mlp", tokens=True, cls=cls))
    layers.append(Layer("head", "head", "head"))
    return layers


def choose_layers(model):
    """The layers vitprobe observes by default for torchvision-style ResNets
    and timm-layout ViTs; raises ExportError for anything else."""
    for how in (_vit_layers, _resnet_layers):
        layers = how(model)
        if layers is not None:
            return layers
    raise ExportError(f"cannot choose the layers of a {type(model).__name__} by itself (it knows torchvision-style "
                      "ResNets and timm-layout ViTs): pass layers=[Layer(name, module, kind, ...), ...]")


# ------------------------------------------------------------ parameter kinds

_TOKEN_NAMES = ("cls_token", "dist_token", "reg_token", "mask_token")
_POS_NAMES = ("pos_embed", "pos_emb", "position_embedding", "position_embeddings", "absolute_pos_embed")
_REL_NAMES = ("relative_position_bias_table", "rel_pos")


def default_param_kind(name, rank, owner_type):
    """The kind vitprobe gives a parameter without help (docs/torchscript.md):
    the name's last part for tokens, position embeddings and relative-position
    tables; then rank >= 2 is a weight; a 1-D weight or bias of a module whose
    type name contains "Norm" is a norm scale or shift; any other 1-D tensor is
    a bias. It is the rule models/torchscript.go applies; keep them equal."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in _TOKEN_NAMES or leaf.endswith("_token"):
        return "token"
    if leaf in _POS_NAMES:
        return "pos_embed"
    if leaf in _REL_NAMES or leaf.startswith("rel_pos"):
        return "rel_pos"
    if rank >= 2:
        return "weight"
    if "Norm" in owner_type:
        if leaf == "weight":
            return "norm_scale"
        if leaf == "bias":
            return "norm_shift"
    return "bias"


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def _true_param_kind(name, p, owner):
    """The kind the exporter knows from the module objects themselves."""
    leaf = name.rsplit(".", 1)[-1]
    if isinstance(owner, _NORMS) and leaf in ("weight", "bias"):
        return "norm_scale" if leaf == "weight" else "norm_shift"
    return default_param_kind(name, p.dim(), type(owner).__name__)


def param_kind_overrides(wrapper, prefix, user):
    """Parameter kinds that differ from what vitprobe would guess: the
    exporter's own knowledge (isinstance of torch's norm layers) and the
    user's overrides {name: kind} (names without the prefix)."""
    mods = dict(wrapper.named_modules())
    user = dict(user or {})
    for k, v in user.items():
        if v not in PARAM_KINDS:
            raise ExportError(f"parameter kind {v!r} for {k!r} is not one of {', '.join(PARAM_KINDS)}")
    out = {}
    names = set()
    for full, p in wrapper.named_parameters():
        name = full[len(prefix):]
        names.add(name)
        owner_name = full.rsplit(".", 1)[0] if "." in full else ""
        owner = mods[owner_name]
        want = user.get(name) or _true_param_kind(full, p, owner)
        guess = default_param_kind(full, p.dim(), type(owner).__name__)
        if want != guess:
            out[name] = want
    missing = sorted(set(user) - names)
    if missing:
        raise ExportError(f"param_kinds names parameters the model does not have: {', '.join(missing[:5])}")
    return dict(sorted(out.items()))


# ------------------------------------------------------------ tracing

class _Tapped(nn.Module):
    """The model plus the captured layer outputs. forward returns
    (logits, tuple of the layers' outputs); forward_train runs the model in
    training mode (batch statistics, running averages updated)."""

    def __init__(self, model, n):
        super().__init__()
        self.model = model
        self._n = n
        self._caught = None

    def catch(self, i, t):
        if self._caught is None:
            return
        if not isinstance(t, torch.Tensor):
            raise ExportError(f"layer {i}: the observed value is a {type(t).__name__}, not a tensor")
        self._caught.append((i, t))

    def forward(self, x):
        self._caught = []
        try:
            logits = self.model(x)
            caught = self._caught
        finally:
            self._caught = None
        order = [i for i, _ in caught]
        if order != list(range(self._n)):
            raise ExportError(f"the layers' outputs arrived in the order {order}, want {list(range(self._n))} "
                              "(each chosen module must run exactly once per forward pass, in depth order)")
        if not isinstance(logits, torch.Tensor):
            raise ExportError(f"the model returns a {type(logits).__name__}; vitprobe wants the logits tensor")
        return logits, tuple(t for _, t in caught)

    def forward_train(self, x):
        was = [(m, m.training) for m in self.model.modules()]
        self.model.train()
        try:
            return self.forward(x)
        finally:
            for m, t in was:
                m.train(t)


def _hook(wrapper, i, at):
    if at == "input":
        def pre(mod, args):
            wrapper.catch(i, args[0] if args else None)
        return pre
    return lambda mod, args, out: wrapper.catch(i, out)


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def sidecar_path(path):
    """model.pt -> model.json."""
    base, ext = os.path.splitext(path)
    return (base if ext == ".pt" else path) + ".json"


FAMILIES = ("resnet", "vit", "alternet")


def family_of(layers):
    """The architecture family of an automatic layer choice: "vit" for token
    layers, "alternet" for a ResNet layout with attention blocks, else
    "resnet"."""
    if any(l.tokens for l in layers):
        return "vit"
    if any(l.kind == "msa" for l in layers):
        return "alternet"
    return "resnet"


def export(model, example, path, layers=None, mean=None, std=None, name=None, param_kinds=None,
           train=True, verbose=True, family=None):
    """Trace model on example (a (B, C, H, W) batch, B >= 2, H == W) and write
    the TorchScript file at path and its sidecar (path with .json).

    layers:      Layers (or dicts) in depth order; None chooses them for
                 torchvision-style ResNets and timm-layout ViTs;
    mean, std:   per-channel normalisation of the images the model expects,
                 applied by vitprobe as (v/255 - mean) / std (default for 3
                 channels: ImageNet's; otherwise required);
    name:        the model's name in tables and plots (default: the class
                 name, lower case);
    param_kinds: {parameter name: kind} where vitprobe's rule guesses wrong;
    train:       also trace a training-mode graph (forward_train);
    family:      "resnet", "vit" or "alternet", the family the paper's
                 comparisons put the model in (default: recognised from an
                 automatic layer choice, else none).

    Returns the sidecar as a dict. The model's weights and buffers are left
    as they were."""
    if not isinstance(model, nn.Module):
        raise ExportError(f"want an nn.Module, got a {type(model).__name__}")
    if not isinstance(example, torch.Tensor) or example.dim() != 4:
        raise ExportError("the example input must be a (B, C, H, W) tensor")
    b, c, h, w = example.shape
    if h != w:
        raise ExportError(f"the example input is {h}x{w}: vitprobe's data are square images")
    if b < 2:
        raise ExportError("the example batch needs at least 2 images (batch norm in training mode needs them)")
    if mean is None and std is None:
        if c != 3:
            raise ExportError(f"{c}-channel input: give mean and std (the ImageNet default is for 3 channels)")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        if verbose:
            print(f"vitprobe_export: normalisation: ImageNet's mean {list(mean)} and std {list(std)}", file=sys.stderr)
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != c or len(std) != c or any(s <= 0 for s in std):
        raise ExportError(f"mean {mean} and std {std}: want {c} values each, std > 0")
    example = example.detach().to(torch.float32)

    auto = layers is None
    layers = choose_layers(model) if auto else [Layer.of(l) for l in layers]
    if family is None and auto:
        family = family_of(layers)
    if family not in (None, "") + FAMILIES:
        raise ExportError(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    names = [l.name for l in layers]
    if len(set(names)) != len(names):
        raise ExportError(f"layer names repeat: {names}")
    heads = [i for i, l in enumerate(layers) if l.kind == "head"]
    if len(heads) > 1 or (heads and heads[0] != len(layers) - 1):
        raise ExportError("at most one head layer, and it must come last")
    tapped = [l for l in layers if l.kind != "head"]
    if not tapped:
        raise ExportError("no layer to observe but the head")
    mods = dict(model.named_modules())
    for l in layers:
        if l.module not in mods:
            raise ExportError(f"layer {l.name!r}: the model has no submodule {l.module!r}")

    was_training = [(m, m.training) for m in model.modules()]
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    wrapper = _Tapped(model, len(tapped))
    handles = []
    try:
        for i, l in enumerate(tapped):
            mod = mods[l.module]
            if l.at == "input":
                handles.append(mod.register_forward_pre_hook(_hook(wrapper, i, "input")))
            else:
                handles.append(mod.register_forward_hook(_hook(wrapper, i, "output")))
        head_ok = None
        if heads:
            hl = layers[heads[0]]
            seen = []
            hh = mods[hl.module].register_forward_hook(lambda m, a, o: seen.append(o))
            try:
                model.eval()
                with torch.no_grad():
                    logits, outs = wrapper(example)
            finally:
                hh.remove()
            head_ok = len(seen) == 1 and seen[0] is logits
            if not head_ok:
                raise ExportError(f"layer {hl.name!r}: the output of {hl.module!r} is not the model's output (the logits)")
        model.eval()
        with torch.no_grad():
            logits, outs = wrapper(example)
        if logits.dim() != 2 or logits.shape[0] != b:
            raise ExportError(f"the model returns logits of shape {tuple(logits.shape)}, want ({b}, classes)")
        shapes = []
        for l, t in zip(tapped, outs):
            want = 3 if l.tokens else 4
            if t.dim() != want or t.shape[0] != b:
                what = "(B, N, C) tokens" if l.tokens else "(B, C, H, W) maps"
                raise ExportError(f"layer {l.name!r}: output of shape {tuple(t.shape)}, want {what}"
                                  + ("" if l.tokens else " (pass tokens=True for a token sequence)"))
            if l.tokens:
                n = t.shape[1] - int(l.cls)
                if math.isqrt(n) ** 2 != n and verbose:
                    print(f"vitprobe_export: layer {l.name}: {n} tokens are not a square grid; "
                          "the Fourier and variance analyses will skip it", file=sys.stderr)
            shapes.append(list(t.shape[1:]))
        classes = int(logits.shape[1])

        inputs = {"forward": example}
        if train:
            inputs[TRAIN_METHOD] = example
        traced = torch.jit.trace_module(wrapper, inputs, check_trace=False)
        # Tracing forward_train updated the running statistics (shared with
        # the traced module): put them back before saving.
        model.load_state_dict(saved)
        prefix = "model."
        kinds = param_kind_overrides(wrapper, prefix, param_kinds)
        tmp = path + ".tmp"
        traced.save(tmp)
        try:
            _check_trace(tmp, model, wrapper, example)
        except BaseException:
            os.remove(tmp)
            raise
        os.replace(tmp, path)
    finally:
        for hd in handles:
            hd.remove()
        model.load_state_dict(saved)
        for m, t in was_training:
            m.train(t)

    side = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or type(model).__name__.lower(),
        "family": family or "",
        "module": os.path.basename(path),
        "module_sha256": _sha256(path),
        "classes": classes,
        "params": sum(p.numel() for p in model.parameters()),
        "input": {"channels": int(c), "size": int(h)},
        "mean": mean,
        "std": std,
        "param_prefix": prefix,
        "train_method": TRAIN_METHOD if train else "",
        "layers": [],
        "param_kinds": kinds,
        "torch": torch.__version__,
        "layer_choice": "automatic" if auto else "given",
    }
    shapes_iter = iter(shapes)
    for i, l in enumerate(layers):
        e = {"index": i, "name": l.name, "kind": l.kind, "tokens": l.tokens, "cls": l.cls,
             "module": l.module, "at": l.at}
        if l.kind == "head":
            e["shape"] = [classes]
        else:
            e["shape"] = next(shapes_iter)
        side["layers"].append(e)
    _atomic_write(sidecar_path(path), (json.dumps(side, indent=2) + "\n").encode())
    if verbose:
        how = "chose" if auto else "exports"
        print(f"vitprobe_export: {how} {len(layers)} layers of {type(model).__name__}:", file=sys.stderr)
        for l in layers:
            print(f"  {l.describe()}", file=sys.stderr)
        if kinds:
            print(f"vitprobe_export: parameter kinds recorded: {kinds}", file=sys.stderr)
        print(f"vitprobe_export: wrote {path} and {sidecar_path(path)}", file=sys.stderr)
    return side


def _check_trace(path, model, wrapper, example):
    """Compares the saved module with the eager model (eval mode) on the
    example's batch size and one more: a trace that froze the batch size
    (Python ints taken from shapes) or a data-dependent branch fails here,
    not in Go."""
    loaded = torch.jit.load(path)
    loaded.eval()
    model.eval()
    b, c, h, w = example.shape
    for bs in (b, b + 1):
        g = torch.Generator().manual_seed(bs)
        x = example[:1].expand(bs, -1, -1, -1) + 0.1 * torch.randn(bs, c, h, w, generator=g)
        with torch.no_grad():
            want_logits, want_outs = wrapper(x)
            try:
                got_logits, got_outs = loaded(x)
            except Exception as e:  # noqa: BLE001 - any failure of the trace
                raise ExportError(f"the traced module fails on a batch of {bs}: {str(e).splitlines()[0]}") from e
        pairs = [(got_logits, want_logits)] + list(zip(got_outs, want_outs))
        worst = 0.0
        for got, want in pairs:
            if got.shape != want.shape:
                raise ExportError(f"the traced module returns shape {tuple(got.shape)} where the model gives "
                                  f"{tuple(want.shape)} on a batch of {bs}: its forward depends on Python values that tracing froze")
            worst = max(worst, float((got - want).abs().max()) / max(1.0, float(want.abs().max())))
        if len(got_outs) != len(want_outs) or worst > 1e-4:
            raise ExportError(f"the traced module differs from the model on a batch of {bs} (relative error {worst:.2e}): "
                              "its forward depends on Python values that tracing froze")


# ------------------------------------------------------------ command line

def _load_callable(spec):
    mod, _, attr = spec.partition(":")
    if not attr:
        mod, _, attr = spec.rpartition(".")
    if not mod or not attr:
        raise ExportError(f"--arch {spec!r}: want module:callable, e.g. torchvision.models:resnet18 or mypkg.nets:Net")
    try:
        m = importlib.import_module(mod)
    except ImportError as e:
        raise ExportError(f"--arch {spec!r}: cannot import {mod}: {e}") from e
    f = m
    for part in attr.split("."):
        if not hasattr(f, part):
            raise ExportError(f"--arch {spec!r}: {mod} has no {attr}")
        f = getattr(f, part)
    return f


def _load_weights(model, path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, nn.Module):
        return obj
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ExportError(f"{path}: neither a state dict nor a module")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    want = model.state_dict()
    missing = [k for k in want if k not in obj]
    unexpected = [k for k in obj if k not in want]
    shapes = [k for k in want if k in obj and tuple(obj[k].shape) != tuple(want[k].shape)]
    if missing or unexpected or shapes:
        def few(xs):
            return ", ".join(xs[:3]) + (f" and {len(xs) - 3} more" if len(xs) > 3 else "")
        parts = [f"{len(xs)} {what} ({few(xs)})" for what, xs in
                 (("missing", missing), ("unexpected", unexpected), ("with another shape", shapes)) if xs]
        raise ExportError(f"{path}: the weights do not fit --arch: " + "; ".join(parts))
    model.load_state_dict(obj)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="vitprobe_export.py",
        description="Export a PyTorch image classifier (TorchScript + JSON sidecar) for vitprobe's analyses.")
    ap.add_argument("--arch", required=True, help="model constructor, module:callable (torchvision.models:resnet18, mypkg.nets:Net)")
    ap.add_argument("--kwargs", default="{}", help="JSON keyword arguments of the constructor, e.g. '{\"num_classes\": 10}'")
    ap.add_argument("--weights", help="torch.save'd state dict (or whole model); default: the constructor's weights")
    ap.add_argument("--size", type=int, required=True, help="input image side in pixels")
    ap.add_argument("--channels", type=int, default=3, help="input channels (3)")
    ap.add_argument("--mean", type=float, nargs="+", help="per-channel mean of the normalisation (3 channels: ImageNet's)")
    ap.add_argument("--std", type=float, nargs="+", help="per-channel standard deviation")
    ap.add_argument("--layers", help="JSON file with the layer list [{name, module, kind, at, tokens, cls}, ...] (default: chosen)")
    ap.add_argument("--param-kinds", help="JSON file {parameter: kind} where vitprobe would guess wrong")
    ap.add_argument("--name", help="model name in tables and plots")
    ap.add_argument("--family", choices=FAMILIES, help="architecture family for the paper's comparisons (default: recognised from the automatic layer choice)")
    ap.add_argument("--no-train", action="store_true", help="do not trace the training-mode graph")
    ap.add_argument("--out", required=True, help="TorchScript file to write (the sidecar gets .json)")
    a = ap.parse_args(argv)
    try:
        ctor = _load_callable(a.arch)
        try:
            kwargs = json.loads(a.kwargs)
        except json.JSONDecodeError as e:
            raise ExportError(f"--kwargs: not JSON: {e}") from e
        model = ctor(**kwargs)
        if a.weights:
            model = _load_weights(model, a.weights)
        layers = None
        if a.layers:
            with open(a.layers) as f:
                layers = json.load(f)
        kinds = None
        if a.param_kinds:
            with open(a.param_kinds) as f:
                kinds = json.load(f)
        if a.size < 1 or a.channels < 1:
            raise ExportError("--size and --channels must be positive")
        torch.manual_seed(0)
        example = torch.randn(2, a.channels, a.size, a.size)
        export(model, example, a.out, layers=layers, mean=a.mean, std=a.std, name=a.name,
               param_kinds=kinds, train=not a.no_train, family=a.family)
    except (ExportError, OSError) as e:
        print(f"vitprobe_export: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Plain-PyTorch reference definitions of vitprobe's model presets.

Written from docs/methods.md (section 1) and the Go package
github.com/vitprobe/vitprobe/models. Every parameter and buffer carries the
same name and shape as in the Go model, so a vitprobe safetensors checkpoint
loads 1:1 with load_state (PyTorch's extra `num_batches_tracked` batch-norm
counters are the only keys the Go models lack; they are unused with
momentum 0.1).

The code is deliberately written differently from the Go forward passes
where a choice exists (the window attention splits q/k/v with chunk, indexes
the relative-position table in 2-D and uses einsum), so that agreement checks
the architecture rather than repeating one implementation twice.

    build(name, classes=None, in_channels=None, image_size=32, drop_path=None, gap=False)

returns the preset `name` (see PRESETS) with the Go defaults for what is not
given.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5       # torch.nn.BatchNorm2d default, as models/ops.go
BN_MOMENTUM = 0.1   # idem
LN_EPS = 1e-6       # timm's ViT LayerNorm, as models/ops.go


# ---------------------------------------------------------------- helpers

def drop_rates(max_rate, n):
    """Stochastic-depth rate per block, linear from 0 to max_rate (timm)."""
    if n == 1:
        return [0.0]
    return [max_rate * i / (n - 1) for i in range(n)]


class DropPath(nn.Module):
    """Per-sample stochastic depth of a residual branch (training only)."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate <= 0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def conv(cin, cout, k, stride=1, bias=False):
    """k x k convolution, padding k//2, Kaiming-normal (fan-out, ReLU)."""
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)
    nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
    if bias:
        nn.init.zeros_(c.bias)
    return c


def bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


# ---------------------------------------------------------------- ResNet

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, drop):
        super().__init__()
        out = width * self.expansion
        self.conv1 = conv(cin, width, 3, stride)
        self.bn1 = bn(width)
        self.conv2 = conv(width, width, 3)
        self.bn2 = bn(width)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(conv(cin, out, 1, stride), bn(out))
        self.drop = DropPath(drop)

    def branch(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(y))

    def forward(self, x):
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(self.drop(self.branch(x)) + skip)


class Bottleneck(BasicBlock):
    """torchvision's v1.5 bottleneck: the stride sits on the 3x3 conv."""
    expansion = 4

    def __init__(self, cin, width, stride, drop):
        nn.Module.__init__(self)
        out = width * self.expansion
        self.conv1 = conv(cin, width, 1)
        self.bn1 = bn(width)
        self.conv2 = conv(width, width, 3, stride)
        self.bn2 = bn(width)
        self.conv3 = conv(width, out, 1)
        self.bn3 = bn(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(conv(cin, out, 1, stride), bn(out))
        self.drop = DropPath(drop)

    def branch(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return self.bn3(self.conv3(y))


def blur(x):
    """Spatial smoothing: each channel filtered with the binomial kernel
    [1 2 1]^T [1 2 1] / 16, zero padding (the size is kept)."""
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype)
    k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, k, padding=1, groups=x.shape[1])


class ResNet(nn.Module):
    """Post-activation ResNet, torchvision layout, CIFAR stem (3x3 stride-1
    conv + BN + ReLU, no max-pool), GAP + FC head. With blur, the input of
    every stage after the first (the down-sampling block) is blurred."""

    def __init__(self, *, bottleneck, blocks, widths, stem, classes, in_channels, drop_path=0.0, blur=False):
        super().__init__()
        self.blur = blur
        block = Bottleneck if bottleneck else BasicBlock
        self.conv1 = conv(in_channels, stem, 3)
        self.bn1 = bn(stem)
        rates = iter(drop_rates(drop_path, sum(blocks)))
        cin = stem
        for si, (n, w) in enumerate(zip(blocks, widths)):
            seq = []
            for bi in range(n):
                stride = 2 if si > 0 and bi == 0 else 1
                seq.append(block(cin, w, stride, next(rates)))
                cin = w * block.expansion
            setattr(self, f"layer{si + 1}", nn.Sequential(*seq))
        self.stages = len(blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for si in range(self.stages):
            if self.blur and si > 0:
                x = blur(x)
            x = getattr(self, f"layer{si + 1}")(x)
        return self.fc(x.mean(dim=(2, 3)))


# ---------------------------------------------------------------- AlterNet

class PreActBottleneck(nn.Module):
    """BN-ReLU -> 1x1 -> BN-ReLU -> 3x3 (stride) -> BN-ReLU -> 1x1 (x4), plus
    the identity, or a strided 1x1 conv of the pre-activated input when the
    shape changes."""

    def __init__(self, cin, width, stride, drop):
        super().__init__()
        out = 4 * width
        self.bn1 = bn(cin)
        self.conv1 = conv(cin, width, 1)
        self.bn2 = bn(width)
        self.conv2 = conv(width, width, 3, stride)
        self.bn3 = bn(width)
        self.conv3 = conv(width, out, 1)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(conv(cin, out, 1, stride))
        self.drop = DropPath(drop)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        skip = x if self.downsample is None else self.downsample(a)
        y = self.conv1(a)
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        return self.drop(y) + skip


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping p x p windows of a
    (B, C, H, W) map. q, k, v come from one bias-free 1x1 conv whose output
    channels are ordered (q|k|v, head, dim); the bias added to the logits of
    query position i and key position j (row-major in the window) is
    rel_pos[rj - ri + p - 1, cj - ci + p - 1], one table shared by all heads."""

    def __init__(self, cin, cout, heads, dim_head, window):
        super().__init__()
        self.heads, self.dim_head, self.window = heads, dim_head, window
        inner = heads * dim_head
        self.qkv = nn.Conv2d(cin, 3 * inner, 1, bias=False)   # PyTorch default init
        self.proj = nn.Conv2d(inner, cout, 1, bias=True)
        self.rel_pos = nn.Parameter(torch.randn(2 * window - 1, 2 * window - 1) * 0.02)
        pos = torch.tensor([[r, c] for r in range(window) for c in range(window)])
        rel = pos[None, :, :] - pos[:, None, :] + window - 1      # [i, j] = pos[j] - pos[i] + p - 1
        self.register_buffer("rel_index", rel, persistent=False)

    def forward(self, x):
        b, _, hgt, wid = x.shape
        p, h, d = self.window, self.heads, self.dim_head
        n1, n2 = hgt // p, wid // p

        def windows(t):  # (B, h*d, H, W) -> (B*n1*n2, h, p*p, d)
            t = t.reshape(b, h, d, n1, p, n2, p).permute(0, 3, 5, 1, 4, 6, 2)
            return t.reshape(b * n1 * n2, h, p * p, d)

        q, k, v = (windows(t) for t in self.qkv(x).chunk(3, dim=1))
        bias = self.rel_pos[self.rel_index[..., 0], self.rel_index[..., 1]]
        logits = torch.einsum("nhid,nhjd->nhij", q, k) / math.sqrt(d) + bias
        o = torch.einsum("nhij,nhjd->nhid", logits.softmax(dim=-1), v)
        o = o.reshape(b, n1, n2, h, p, p, d).permute(0, 3, 6, 1, 4, 2, 5).reshape(b, h * d, hgt, wid)
        return self.proj(o)


class MSABlock(nn.Module):
    """AlterNet's pre-activation MSA block: BN-GELU -> 1x1 to width/4 -> BN
    -> window attention -> 1x1 back to the block width, plus the identity."""

    def __init__(self, cin, width, heads, dim_head, window, drop):
        super().__init__()
        self.bn1 = bn(cin)
        self.conv1 = conv(cin, width, 1)
        self.bn2 = bn(width)
        self.attn = WindowAttention(width, cin, heads, dim_head, window)
        self.drop = DropPath(drop)

    def forward(self, x):
        y = self.bn2(self.conv1(F.gelu(self.bn1(x))))
        return self.drop(self.attn(y)) + x


class AlterNet(nn.Module):
    """Pre-activation bottleneck ResNet whose stages may contain MSA blocks
    (one letter per block: C conv, M MSA). Stem: a bare 3x3 stride-1 conv;
    head: BN -> ReLU -> GAP -> FC."""

    def __init__(self, *, stem, widths, pattern, heads, dim_head=0, window=0,
                 classes, in_channels, drop_path=0.0, blur=False):
        super().__init__()
        self.blur = blur
        self.conv1 = conv(in_channels, stem, 3)
        rates = iter(drop_rates(drop_path, sum(len(s) for s in pattern)))
        cin = stem
        for si, (letters, w) in enumerate(zip(pattern, widths)):
            seq = []
            for bi, letter in enumerate(letters):
                stride = 2 if si > 0 and bi == 0 else 1
                if letter == "C":
                    seq.append(PreActBottleneck(cin, w, stride, next(rates)))
                elif letter == "M":
                    assert stride == 1 and cin == 4 * w, "an MSA block keeps the shape"
                    seq.append(MSABlock(cin, w, heads[si], dim_head, window, next(rates)))
                else:
                    raise ValueError(f"unknown block letter {letter!r}")
                cin = 4 * w
            setattr(self, f"layer{si + 1}", nn.Sequential(*seq))
        self.stages = len(pattern)
        self.bn = bn(cin)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.conv1(x)
        for si in range(self.stages):
            if self.blur and si > 0:
                x = blur(x)
            x = getattr(self, f"layer{si + 1}")(x)
        return self.fc(F.relu(self.bn(x)).mean(dim=(2, 3)))


# ---------------------------------------------------------------- ViT

def trunc_linear(cin, cout, bias=True):
    lin = nn.Linear(cin, cout, bias=bias)
    nn.init.trunc_normal_(lin.weight, std=0.02, a=-0.04, b=0.04)
    if bias:
        nn.init.zeros_(lin.bias)
    return lin


class PatchEmbed(nn.Module):
    def __init__(self, cin, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride=patch)   # PyTorch default init

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)     # (B, N, D)


def local_mask(grid, window, cls):
    """(N, N) mask of local attention: patch token (r, c) may attend to the
    patch tokens (r', c') with |r - r'| and |c - c'| at most (window-1)/2,
    and to the class token; the class token to everything. True: allowed."""
    r = torch.arange(grid).repeat_interleave(grid)
    c = torch.arange(grid).repeat(grid)
    near = ((r[:, None] - r[None, :]).abs() <= (window - 1) // 2) & ((c[:, None] - c[None, :]).abs() <= (window - 1) // 2)
    if not cls:
        return near
    n = grid * grid + 1
    m = torch.ones(n, n, dtype=torch.bool)
    m[1:, 1:] = near
    return m


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias):
        super().__init__()
        self.heads = heads
        self.qkv = trunc_linear(dim, 3 * dim, qkv_bias)
        self.proj = trunc_linear(dim, dim)
        self.mask = None  # set by ViT for local attention

    def forward(self, x):
        b, n, dim = x.shape
        h, d = self.heads, dim // self.heads
        q, k, v = self.qkv(x).reshape(b, n, 3, h, d).unbind(dim=2)   # each (B, N, h, d)
        logits = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d)
        if self.mask is not None:
            logits = logits.masked_fill(~self.mask, float("-inf"))
        o = torch.einsum("bhij,bjhd->bihd", logits.softmax(dim=-1), v)
        return self.proj(o.reshape(b, n, dim))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = trunc_linear(dim, hidden)
        self.fc2 = trunc_linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp, qkv_bias, drop):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, mlp)
        self.drop = DropPath(drop)

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """timm-layout ViT: pre-norm blocks, learned position embedding, class
    token (or GAP), final LayerNorm, linear head."""

    def __init__(self, *, patch, dim, depth, heads, mlp, qkv_bias=False,
                 classes, in_channels, image_size=32, drop_path=0.0, gap=False, window=0):
        super().__init__()
        assert image_size % patch == 0 and dim % heads == 0
        tokens = (image_size // patch) ** 2
        self.gap = gap
        self.patch_embed = PatchEmbed(in_channels, dim, patch)
        if not gap:
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 1e-6)
            tokens += 1
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, tokens, dim), std=0.02, a=-0.04, b=0.04))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp, qkv_bias, r) for r in drop_rates(drop_path, depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.head = trunc_linear(dim, classes)
        if window:
            mask = local_mask(image_size // patch, window, not gap)
            for blk in self.blocks:
                blk.attn.mask = mask

    def forward(self, x):
        x = self.patch_embed(x)
        if not self.gap:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x.mean(dim=1) if self.gap else x[:, 0])


# ---------------------------------------------------------------- registry

PAPER = dict(classes=100, in_channels=3)
MINI = dict(classes=10, in_channels=1)

# name -> (class, architecture keywords, default classes/channels, default drop path)
PRESETS = {
    "resnet18": (ResNet, dict(bottleneck=False, blocks=[2, 2, 2, 2], widths=[64, 128, 256, 512], stem=64), PAPER, 0.0),
    "resnet50": (ResNet, dict(bottleneck=True, blocks=[3, 4, 6, 3], widths=[64, 128, 256, 512], stem=64), PAPER, 0.0),
    "resnet-mini": (ResNet, dict(bottleneck=False, blocks=[1, 1, 1, 1], widths=[16, 32, 64, 128], stem=16), MINI, 0.0),
    "preact-resnet50": (AlterNet, dict(stem=64, widths=[64, 128, 256, 512], pattern=["CCC", "CCCC", "CCCCCC", "CCC"],
                                       heads=[3, 6, 12, 24], dim_head=64, window=4), PAPER, 0.0),
    "alternet50": (AlterNet, dict(stem=64, widths=[64, 128, 256, 512], pattern=["CCC", "CCCM", "CCCCCM", "CMCM"],
                                  heads=[3, 6, 12, 24], dim_head=64, window=4), PAPER, 0.1),
    "alternet-mini": (AlterNet, dict(stem=16, widths=[8, 16, 32, 64], pattern=["C", "CM", "CM", "CM"],
                                     heads=[1, 2, 4, 8], dim_head=16, window=4), MINI, 0.0),
    "vit-ti": (ViT, dict(patch=2, dim=192, depth=12, heads=3, mlp=768), PAPER, 0.1),
    "vit-s": (ViT, dict(patch=2, dim=384, depth=12, heads=6, mlp=1536), PAPER, 0.1),
    "vit-mini": (ViT, dict(patch=4, dim=64, depth=6, heads=4, mlp=128), MINI, 0.0),
}


def preset(name):
    """The registry entry of a preset, or of a preset string
    BASE:PATTERN[:heads=H1,H2,...] (an AlterNet-family base with another
    block pattern, comma-separated stages)."""
    if name in PRESETS:
        return PRESETS[name]
    parts = name.split(":")
    if len(parts) not in (2, 3) or parts[0] not in PRESETS or PRESETS[parts[0]][0] is not AlterNet:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(PRESETS))}, or ALTERNET-BASE:PATTERN)")
    cls, arch, defaults, drop = PRESETS[parts[0]]
    arch = dict(arch, pattern=parts[1].split(","))
    if len(parts) == 3:
        assert parts[2].startswith("heads=")
        arch["heads"] = [int(h) for h in parts[2][len("heads="):].split(",")]
    assert len(arch["pattern"]) == len(PRESETS[parts[0]][1]["pattern"])
    return cls, arch, defaults, drop


def build(name, classes=None, in_channels=None, image_size=32, drop_path=None, gap=False, window=0, blur=False):
    """The preset `name` with the Go defaults for arguments left as None."""
    cls, arch, defaults, default_drop = preset(name)
    kw = dict(arch,
              classes=defaults["classes"] if classes is None else classes,
              in_channels=defaults["in_channels"] if in_channels is None else in_channels,
              drop_path=default_drop if drop_path is None else drop_path)
    if cls is ViT:
        kw.update(image_size=image_size, gap=gap, window=window)
        if blur:
            raise ValueError(f"{name}: spatial smoothing applies to presets that down-sample")
    elif gap or window:
        raise ValueError(f"{name}: the GAP head and the attention window apply to ViT presets only")
    else:
        kw.update(blur=blur)
    return cls(**kw)


def num_params(model):
    """Trainable parameters, as models.NumParams counts them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def go_state_names(model):
    """The state-dict keys a vitprobe checkpoint holds for this model."""
    return sorted(k for k in model.state_dict() if not k.endswith("num_batches_tracked"))


def load_state(model, tensors):
    """Loads {name: tensor} from a vitprobe checkpoint, requiring the names to
    match exactly (PyTorch's num_batches_tracked counters excepted)."""
    want, have = set(go_state_names(model)), set(tensors)
    if want != have:
        raise KeyError(f"state mismatch: missing {sorted(want - have)[:5]}, unexpected {sorted(have - want)[:5]}")
    sd = model.state_dict()
    for k, t in tensors.items():
        if tuple(sd[k].shape) != tuple(t.shape):
            raise ValueError(f"{k}: shape {tuple(t.shape)}, model has {tuple(sd[k].shape)}")
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)

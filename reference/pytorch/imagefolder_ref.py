"""Reference for vitprobe's image-folder loader (data.LoadImageFolder):
torchvision's ImageFolder with Resize(size) then CenterCrop(size), images
as uint8 (N, C, size, size) in the dataset's order, written with their
labels to a safetensors file ("x": U8 images, "y": I64 labels).

    /usr/bin/python3 reference/pytorch/imagefolder_ref.py --root images/ --size 48 --channels 3 --out ref.safetensors

--channels 1 opens images as grayscale ("L"), 3 as RGB (ImageFolder's
default loader). Exit status 77 means torch or torchvision is missing.
"""
import argparse
import os
import sys

try:
    import torch
    import torchvision
    from torchvision import transforms
    from PIL import Image
except ImportError as e:
    print("imagefolder_ref.py:", e, file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safet  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--channels", type=int, choices=(1, 3), default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    mode = "L" if a.channels == 1 else "RGB"
    tf = transforms.Compose([transforms.Resize(a.size), transforms.CenterCrop(a.size), transforms.PILToTensor()])
    ds = torchvision.datasets.ImageFolder(a.root, transform=tf, loader=lambda p: Image.open(p).convert(mode))
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    safet.save(a.out, {"x": torch.stack(xs).contiguous(), "y": torch.tensor(ys, dtype=torch.int64)})


if __name__ == "__main__":
    main()

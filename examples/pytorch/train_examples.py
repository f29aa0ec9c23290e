"""Train the example models briefly on an image folder and save their
weights with torch.save, as a user's own training would:

    /usr/bin/python3 examples/pytorch/train_examples.py --data images/ --steps 100 --out weights/

writes weights/resnet18.pth (torchvision's ResNet-18, 10 classes) and
weights/vit.pth (timm_layout_vit.vit_tiny_64), trained with AdamW on 64x64
centre crops of the folder's images (torchvision's ImageFolder),
normalised with ImageNet's statistics.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timm_layout_vit  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="image folder (one sub-folder per class)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    tf = transforms.Compose([transforms.Resize(a.size), transforms.CenterCrop(a.size), transforms.ToTensor(),
                             transforms.Normalize(MEAN, STD)])
    ds = torchvision.datasets.ImageFolder(a.data, transform=tf)
    classes = len(ds.classes)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True)
    os.makedirs(a.out, exist_ok=True)
    for name, model, lr in [("resnet18", torchvision.models.resnet18(num_classes=classes), 1e-3),
                            ("vit", timm_layout_vit.vit_tiny_64(num_classes=classes), 5e-4)]:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
        model.train()
        step, seen, right = 0, 0, 0
        while step < a.steps:
            for x, y in loader:
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                seen += len(y)
                right += int((logits.argmax(1) == y).sum())
                step += 1
                if step >= a.steps:
                    break
        print(f"train_examples: {name}: {step} steps, training accuracy {right / max(seen, 1):.3f}, last loss {loss.item():.3f}",
              file=sys.stderr)
        torch.save(model.state_dict(), os.path.join(a.out, f"{name}.pth"))


if __name__ == "__main__":
    main()

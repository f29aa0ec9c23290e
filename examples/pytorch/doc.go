// Package pytorch holds the example of analysing models written in PyTorch
// with vitprobe: timm_layout_vit.py (a ViT with timm's module layout, in
// plain PyTorch), train_examples.py (torchvision's ResNet-18 and that ViT
// trained briefly on an image folder, saved with torch.save) and a test
// that exports both with python/vitprobe_export.py and runs the hessian,
// landscape, fourier and report commands on them from the command line.
package pytorch

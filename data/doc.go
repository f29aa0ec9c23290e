// Package data reads MNIST, CIFAR-10 and CIFAR-100, draws seeded subsets and
// batch orders, augments batches as in the paper's training recipe, and
// turns them into tensors.
//
// # Datasets
//
// LoadMNIST reads the four original idx .gz files (from MNISTDir by default:
// $VITPROBE_MNIST, datasets/mnist in the working directory or a parent, or
// the GoMNIST module in the Go module cache) and pads each 28x28 digit with
// zeros to 32x32, one channel, so that every model sees CIFAR-shaped input.
// LoadCIFAR10 and LoadCIFAR100 read the official binary distributions from a
// folder the caller names (or its cifar-10-batches-bin / cifar-100-binary
// subfolder); CIFAR-100 keeps the fine labels or, on request, the coarse ones.
// Load takes a dataset by name (Names) and Describe gives its Info without
// reading it. A Dataset keeps its images as bytes, (N, C, 32, 32)
// row-major, and is read-only once loaded: everything else shares its
// memory.
//
// Every file is validated: a missing or truncated file, a wrong magic number
// or image size, a label out of range, a folder without the expected files
// is a one-line error naming the file ("data: cifar10: /x/data_batch_3.bin:
// 30730 bytes is not a whole number of 3073-byte records"). The parsers never
// panic on bad bytes (fuzz tests check it) and allocate only as much as the
// bytes that really arrive, whatever a header claims.
//
// # Subsets and batch order
//
// Dataset.Subset draws a class-stratified subset (the paper's 2% and 6%
// experiments) from a seed. A Sampler (Shuffled for training, Sequential for
// evaluation) cuts indices into batches; the order of epoch e and the
// augmentation generator of batch k (Epoch.Rand) depend only on (seed, e, k),
// so a run resumed at any step reproduces the batches exactly without saved
// generator state. The permutations come from math/rand/v2 (PCG): the same
// seed gives the same batches as long as that package's algorithms stay as
// they are (a golden test would notice a change).
//
// # Batches and augmentations
//
// Dataset.Fill builds a batch in Go memory (HostBatch): float32 images
// (B, C, 32, 32), int64 labels (B) and, when mixup, CutMix or label
// smoothing is on, float32 soft targets (B, classes). Package
// data/torchdata turns it into tensors, each by one copy into libtorch;
// this package itself needs no libtorch (it builds with CGO_ENABLED=0).
//
// Pixels are normalised per channel as (v/255 - mean)/std with the usual
// constants: MNIST 0.1307/0.3081 (measured on the unpadded digits and kept
// for the padded images, whose zero ring becomes -0.4242, the value of
// black), CIFAR-10 (0.4914, 0.4822, 0.4465)/(0.2470, 0.2435, 0.2616), and
// CIFAR-100 the paper's (0.5071, 0.4867, 0.4408)/(0.2675, 0.2565, 0.2761).
//
// Augment holds the augmentations of the paper's recipe (PaperAugment):
// random crop after zero padding of 4, horizontal flip (not for MNIST:
// digits are not mirror-symmetric), mixup (alpha 1.0) and CutMix (alpha
// 0.8), one of the two per batch with probability 1/2 as in timm, and label
// smoothing 0.1, and RandAugment m9 n2 (PaperRandAugment, timm's
// rand-m9-n2-mstd0.5) on each 8-bit image after the crop and flip. All draws
// come from the *rand.Rand passed in; λ is Beta-distributed, drawn from two
// Gamma variates.
//
// # Common corruptions
//
// Corruption{Name, Severity}.Apply corrupts one image given as float
// intensities in [0, 1] with nine of ImageNet-C's corruptions (Gaussian,
// shot and impulse noise, defocus and motion blur, brightness, contrast,
// elastic transform, pixelate) at severities 1 to 5, with CIFAR-10-C's
// parameters where its severities are ordered (docs/representation.md).
// Dataset.Corrupted makes a corrupted copy of a set of images, each one's
// random draws keyed by a seed and its index (CorruptionRand).
package data

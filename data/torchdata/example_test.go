package torchdata_test

import (
	"fmt"
	"log"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
)

// A training epoch over a 2% subset of MNIST with the paper's augmentations:
// subset, sampler, one batch of tensors per step. Epoch e's order and batch
// k's augmentations depend only on (seed, e, k), so a resumed run can start
// at any step.
func Example() {
	train, err := data.LoadMNIST("", data.Train) // $VITPROBE_MNIST, datasets/mnist, ...
	if err != nil {
		log.Fatal(err)
	}
	const seed = 1
	subset, err := train.Subset(0.02, seed)
	if err != nil {
		log.Fatal(err)
	}
	sampler, err := data.Shuffled(subset, 96, seed, true)
	if err != nil {
		log.Fatal(err)
	}
	aug := data.PaperAugment(train.Info) // no flips for digits
	fmt.Printf("%d examples, %d batches per epoch, augment %+v\n", len(subset), sampler.Batches(), aug)

	ep := sampler.Epoch(0)
	for k, idx := range ep.All() {
		b, err := torchdata.NewBatch(train, idx, aug, ep.Rand(k))
		if err != nil {
			log.Fatal(err)
		}
		if k == 0 {
			x, _ := b.Images.Size()
			y, _ := b.Targets.Size()
			fmt.Println("images", x, "targets", y, "mixed by", b.Mixing.Kind)
		}
		// ... forward pass, loss against b.Targets, step ...
		b.Close()
	}
	// Output:
	// 1199 examples, 12 batches per epoch, augment {CropPad:4 Flip:false MixupAlpha:1 CutMixAlpha:0.8 Smoothing:0.1 RandAugment:rand-m9-n2-mstd0.5-p0.5}
	// images [96 1 32 32] targets [96 10] mixed by mixup
}

package models

import (
	"fmt"
	"slices"
)

// Residual is one residual branch of a model: the part of a block whose
// output is added to the block's shortcut. Every branch of the presets
// ends at one layer: a ResNet or AlterNet block's output, or one of the two
// residual sub-blocks (MSA, MLP) of a ViT block.
type Residual struct {
	// Layer is the layer whose output is shortcut + branch.
	Layer Layer `json:"layer"`
	// Identity reports that the shortcut is the identity: with the branch
	// removed, the block passes its input on unchanged. Otherwise the
	// shortcut is a projection (a strided 1×1 convolution where the block
	// changes the resolution or the width), and removing the branch leaves
	// that projection.
	Identity bool `json:"identity"`
}

// Lesioner is implemented by models whose residual branches can be
// switched off, for lesion studies: a switched-off branch contributes
// zeros, so its block's output is its shortcut (the identity, or the
// projection of a down-sampling block; post-activation ResNet blocks
// still apply their final ReLU, which leaves a non-negative input
// unchanged). The presets of this package implement it. With no branch
// switched off, forward passes are exactly those of the unlesioned model.
type Lesioner interface {
	// Residuals lists the model's residual branches in depth order.
	Residuals() []Residual
	// SetLesion switches off the branches ending at the layers with the
	// given indices and switches every other branch on; with no index,
	// every branch is on. An index that is not the layer of a residual
	// branch is an error, and then nothing changes.
	SetLesion(layers ...int) error
	// Lesioned returns the layer indices of the switched-off branches,
	// sorted.
	Lesioned() []int
}

// lesion is the residual-branch state every preset keeps in its base.
type lesion struct {
	residuals []Residual
	off       map[int]bool
}

// addResidual records a residual branch ending at layer l.
func (b *base) addResidual(l Layer, identity bool) {
	b.les.residuals = append(b.les.residuals, Residual{Layer: l, Identity: identity})
}

// lesioned reports whether the branch ending at layer index i is off.
func (b *base) lesioned(i int) bool { return b.les.off[i] }

// Residuals implements Lesioner.
func (b *base) Residuals() []Residual { return append([]Residual(nil), b.les.residuals...) }

// SetLesion implements Lesioner.
func (b *base) SetLesion(layers ...int) error {
	off := make(map[int]bool, len(layers))
	for _, i := range layers {
		found := false
		for _, r := range b.les.residuals {
			found = found || r.Layer.Index == i
		}
		if !found {
			return fmt.Errorf("models: %s: layer %d is not the end of a residual branch (%s)", b.spec.Name, i, b.describeLayer(i))
		}
		off[i] = true
	}
	if len(off) == 0 {
		off = nil
	}
	b.les.off = off
	return nil
}

// Lesioned implements Lesioner.
func (b *base) Lesioned() []int {
	out := make([]int, 0, len(b.les.off))
	for i := range b.les.off {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func (b *base) describeLayer(i int) string {
	if i < 0 || i >= len(b.layers) {
		return fmt.Sprintf("the model has layers 0..%d", len(b.layers)-1)
	}
	l := b.layers[i]
	return fmt.Sprintf("layer %d is %s, a %v layer", i, l.Name, l.Kind)
}

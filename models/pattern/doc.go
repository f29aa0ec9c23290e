// Package pattern reads, writes and edits the block patterns of
// AlterNet-style networks: per stage, one letter per block, C for a
// convolutional (pre-activation bottleneck) block and M for an MSA block.
//
// A pattern is written as its stages joined by commas, "C,CM,CM,CM"
// (alternet-mini), and a preset string adds it to the base preset whose
// widths, window and head size it borrows, optionally with the number of
// heads per stage:
//
//	alternet-mini:C,CC,CC,CMCM
//	alternet-mini:C,CC,CC,CMCM:heads=1,2,4,8
//
// The package is pure Go (no libtorch), so that the build-up rule
// (package buildup) and its tests need no model.
package pattern

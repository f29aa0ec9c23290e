// Package models holds vitprobe's gotch models: ResNet, pre-activation
// ResNet, ViT and AlterNet, in the paper's sizes and in small presets that
// train on a CPU, behind one small Model interface with a registry by name.
//
// Every forward pass can report each layer's output to a Probe, in depth
// order, with the layer's name, index and kind (stem, conv, down-sampling,
// MSA, MLP, head): that is what the Fourier, variance and custom analyses
// read. Params lists every tensor sorted by name, with its kind, so that
// landscape directions and weight decay treat each as the paper does.
//
// The presets also implement Lesioner: their residual branches can be
// switched off one by one (the block's shortcut alone passes), for lesion
// studies; with none switched off a forward pass is unchanged.
package models

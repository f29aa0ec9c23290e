package models

// FusedAttention lets the external tests switch between the fused attention
// and the composite it replaced.
var FusedAttention = &fusedAttention

// ChannelsLast lets the external tests switch the activation layout.
var ChannelsLast = &channelsLast

// FastDerivatives lets the external tests switch torchx.Conv2d and the
// affine batch norm off.
var FastDerivatives = &fastDerivatives

// FoldBN lets the external tests switch the inference fusion off.
var FoldBN = &foldBN

// FuseConv lets the external tests switch the fused oneDNN convolutions off.
var FuseConv = &fuseConv

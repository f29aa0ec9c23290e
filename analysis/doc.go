// Package analysis connects vitprobe's models to its analyses: it runs a
// model on data and turns what it sees into the inputs of the pure
// packages, and computes the paper's per-layer measurements through the
// models' probe API.
//
//   - Hessian: a model, a loss and a batch become a hessian.Operator whose
//     products are exact Hessian-vector products (one forward and backward
//     pass per batch, then one double-backward pass per product), with the
//     weight-decay L2 term; the paper's minibatch max-eigenvalue spectra are
//     driven from here. The generalised Gauss-Newton and empirical Fisher
//     matrices are operators too, and any of the three can be restricted to
//     one block's parameters (per-block spectra against depth).
//   - Loss landscape: a model and a fixed data subset become a
//     landscape.Evaluator that moves the weights in place to w0 + x·d1 +
//     y·d2 and restores them bit for bit.
//   - Fourier and variance: probes collect each layer's relative log
//     amplitude (fourier.RelativeLogAmplitude) and feature-map variance in
//     depth order, with the layer kinds that plots shade.
//   - Robustness: accuracy under noise confined to a frequency band.
//   - Representations: minibatch CKA between every pair of layers of one or
//     several models (CKA, on package cka's accumulators); the lesion study
//     (Lesion: each residual branch removed in turn, through
//     models.Lesioner); accuracy under common corruptions and ImageNet-C's
//     corruption error against a baseline (CorruptionRobustness,
//     CorruptionShard, SummarizeCorruptions). Their long loops journal
//     every finished unit (minibatch, lesion, corruption and severity) and
//     resume from the journal.
//
// Everything works with any models.Model: the presets of package models or
// a user's own gotch model implementing the interface.
package analysis

package analysis

// The Hessian adapters of this package (hessian*.go) turn a model and data
// into hessian.Operators:
//
//   - BatchHessian: the Hessian of one batch's loss (train.Loss in eval
//     mode, plus the L2 term of the weight decay), one forward and backward
//     pass, then one double-backward pass per product;
//   - DataHessian: the Hessian of the mean loss over many batches, for the
//     trace, top-k or density "of the full Hessian";
//   - Minibatches and MaxEigenSpectrum: the paper's minibatch max-eigenvalue
//     spectrum (docs/methods.md §2), batch by batch, seeded, journal- and
//     shard-friendly;
//   - AssembleHessian and Symmetrize: the dense matrix of a small operator,
//     for exact checks.

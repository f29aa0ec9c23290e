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
//     for exact checks;
//   - BatchGGN and NewCurvature (curvature.go): the generalised
//     Gauss-Newton matrix JᵀH_zJ and the empirical Fisher matrix of a
//     batch, J v by the double-vjp trick or forward mode, with the same L2
//     term as the Hessian, so that every algorithm of package hessian takes
//     them;
//   - ParamGroup, BlockGroups, GroupByPattern and HessianOptions.Params
//     (groups.go): any of the three restricted to a group of parameters (a
//     block, or names matching a pattern), differentiated with respect to
//     those parameters alone;
//   - BlockSpectra and SummarizeKinds (blocks.go): top eigenvalues, Hutch++
//     trace and density of every block's curvature per minibatch, NEP/APE
//     per block kind.
//
// docs/curvature.md defines what these compute.

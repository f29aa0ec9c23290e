// Package findings decides, from measured numbers, whether the claims of
// Park & Kim (ICLR 2022) hold for the models at hand, and gives every
// number it shows with an interval.
//
// The rules are fixed in criteria.json, compiled into the package
// (LoadCriteria); reports print its SHA-256, and docs/findings.md keeps the
// history of its changes. Each claim or sub-claim of the paper is one
// entry: a statistic (a difference of Hessian spectrum summaries between
// two model families, the mean change of a Fourier or variance quantity at
// the blocks of one kind, a slope over depth, or the low-minus-high shape
// of the accuracy drop under band noise), the side the paper claims, and
// the training phase and data the paper measures it on (spectra at the end
// of warm-up on augmented training data, the rest at the end of training).
//
// Every statistic is a mean over training seeds of each seed's own
// estimate. Its interval comes from a hierarchical (two-stage) bootstrap:
// the seeds are drawn with replacement, then within each drawn seed its
// minibatches, images or direction pairs, and the percentile interval of
// the replicates is taken. A verdict is "holds" when the interval lies on
// the claimed side and every seed's own estimate does too, "does not hold"
// when both lie on the other side, and "inconclusive" otherwise, with
// fewer seeds than the criteria require, or with missing or unusable
// inputs (wrong phase, too few converged minibatches or images). The same
// claims are also decided within each seed (the bootstrap then resamples
// minibatches or images only).
//
// The package reads no files: Inputs are plain structs that the caller
// fills from the commands' outputs (cmd/report does). It does not import
// gotch and builds with CGO_ENABLED=0.
package findings

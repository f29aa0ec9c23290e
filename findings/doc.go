// Package findings decides, from measured numbers, whether the claims of
// Park & Kim (ICLR 2022) hold for the models at hand. Each claim has a
// criterion stated in words next to its verdict: "holds", "does not hold"
// or "inconclusive". The criteria are fixed in code before any run and
// never tuned to make a claim hold; the statistical ones resample
// minibatches (bootstrap) so that a difference smaller than the noise is
// called inconclusive rather than a result.
package findings

// Package cka measures how similar two representations of the same
// examples are, by linear centered kernel alignment (CKA), estimated over
// minibatches as Nguyen, Raghu & Kornblith (2021) do, with the unbiased
// HSIC estimator of Song et al. (2012). It is pure Go (gonum's BLAS), with
// no model and no cgo: representations come in as float64 matrices.
//
// # Definitions
//
// A representation of n examples is an n×d matrix X, one row per example
// (a layer's flattened feature map, or its tokens without the class token,
// concatenated). Its linear kernel is the Gram matrix K = X Xᵀ (n×n).
// The Hilbert-Schmidt independence criterion (HSIC) of two kernels
// measures their dependence; CKA normalises it:
//
//	CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) · HSIC(L, L))
//
// CKA is 1 for identical representations and is invariant to orthogonal
// transforms and isotropic scaling of either one (not to arbitrary
// invertible linear maps).
//
// HSIC has two estimators here. The biased one, HSIC0 = tr(K H L H)/(n−1)²
// with H = I − 11ᵀ/n the centering matrix, overestimates the dependence of
// independent representations by a term of order 1/n: on 32 examples, two
// independent Gaussian representations get a CKA near 0.2 whatever the
// number of minibatches averaged. The unbiased one (Song et al. 2012),
//
//	HSIC1 = [tr(K̃ L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3)),
//
// with K̃, L̃ the Gram matrices with their diagonals set to zero, has
// expectation equal to the population HSIC at every n ≥ 4. This package
// computes it as an inner product of U-centered matrices (Székely & Rizzo
// 2014): with r the row sums and s the total of K̃,
//
//	U(K)ᵢⱼ = K̃ᵢⱼ − rᵢ/(n−2) − rⱼ/(n−2) + s/((n−1)(n−2))  for i ≠ j,  U(K)ᵢᵢ = 0,
//	HSIC1 = Σᵢⱼ U(K)ᵢⱼ U(L)ᵢⱼ / (n(n−3)),
//
// which equals the formula above (a test checks both against the
// fourth-order U-statistic summed over every 4-tuple of distinct
// examples). In this form HSIC1(K, K) is a sum of squares, so it is never
// negative, and by the Cauchy-Schwarz inequality the CKA of two
// representations lies in [−1, 1]. Both estimators are invariant to
// adding a constant vector to every row of X; Gram centres the columns of
// X first, which changes no value and keeps the sums small.
//
// # Minibatch CKA
//
// The representations of k minibatches of n examples give per-batch HSIC
// values; minibatch CKA averages each HSIC over the batches before taking
// the ratio:
//
//	CKA = mean_b HSIC(K_b, L_b) / √(mean_b HSIC(K_b, K_b) · mean_b HSIC(L_b, L_b))
//
// With the unbiased estimator every mean is an unbiased estimate of the
// population HSIC, so the result converges to the population CKA however
// small the batches are; with the biased one it converges to a value
// inflated by the batch size's bias. Only n×n Gram matrices are ever
// formed, so the feature dimension can be large. The diagonal of a
// self-similarity matrix is exactly 1.
//
// An Accumulator holds the per-batch HSIC of every pair of a list of
// representations (several layers, of one or several models, of the same
// examples) and returns the CKA matrix with jackknife standard errors over
// the minibatches (Result). Per-batch values (Batch) can be saved and
// added back, so that a long run resumes where it stopped.
//
// # Degenerate input
//
// A minibatch needs at least 4 examples for the unbiased estimator (its
// denominators are n−2 and n(n−3)); fewer is an error (ErrSmallBatch),
// never a NaN. A representation that is constant over every minibatch
// (all its features have zero variance) has HSIC 0 with everything: its
// CKA is undefined, reported as NaN in Go and null in JSON, and listed in
// Result.Undefined.
package cka

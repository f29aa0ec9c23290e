// Package hessian computes spectral information of a large symmetric
// operator known only through its matrix-vector products: the top
// eigenvalues (power iteration with deflation as in PyHessian, and Lanczos
// with full reorthogonalisation and a choice of stopping rules), the trace
// (Hutchinson, and Hutch++ with its low-rank sketch), the diagonal
// (Hutchinson), the eigenvalue density (stochastic Lanczos quadrature),
// and the minibatch max-eigenvalue spectrum of Park & Kim (ICLR 2022) with
// its summaries (NEP, APE, kernel density). Restrict turns an operator into
// its restriction to a subset of coordinates (one block's parameters).
//
// # Operators
//
// An Operator has a dimension n and a product MulVec(dst, v) storing H v in
// dst. The algorithms assume H is symmetric (a Hessian is) and do not check
// it. They call MulVec with slices of length n that do not alias and keep
// neither after the call. An error from MulVec stops the algorithm and is
// returned wrapped with the step it happened at; a product holding a NaN or
// an infinity does the same with ErrNonFinite, so no result is ever
// computed from non-finite numbers. NewDense makes an Operator of an
// explicit matrix, for tests and small problems. The package does not
// import libtorch: the Hessian-vector product of a model is an Operator
// written elsewhere (package analysis).
//
// # Determinism
//
// Every random quantity (start vectors, Rademacher probes) comes from a
// math/rand/v2 PCG generator seeded by the Seed of the settings, so a call
// with the same operator and settings makes the same products in the same
// order and returns the same numbers. Spectrum derives the seed of each
// minibatch from a base seed and the batch index alone (BatchSeed): a
// resumed, reordered or sharded run gives the numbers of a single run.
//
// # Costs
//
// The cost that matters is the number of operator products (a
// Hessian-vector product is a double backward pass), reported by every
// result as Products. Power iteration uses up to MaxIter products per
// eigenvalue and converges at a rate set by the ratios of consecutive
// eigenvalue magnitudes; Lanczos reaches the same eigenvalues to far
// higher accuracy with fewer products (2.5 times fewer at equal accuracy
// on a trained mini model, about 7 times on closer spectra), at the price of
// storing its Krylov basis (one vector of n values per step). Hutchinson
// uses one product per sample, SLQ one per Lanczos step and vector.
// Lanczos's StopEigenvalue rule with BoundResiduals asks only what a
// spectrum needs, the eigenvalues, and saves a third or more of the
// products of the default rule.
//
// # Memory
//
// Every algorithm states before it runs what it will keep: the Memory
// method of its settings counts the float64 vectors of the operator's
// dimension and, for the Krylov methods, the basis, in bytes. Lanczos and
// SLQ keep their basis in float32 or in a temporary file when the Basis
// setting asks (half the memory, or almost none, for the same eigenvalues
// to about 1e-7).
//
// # Settings and errors
//
// Settings are passed as pointers; nil, like a zero field, selects the
// defaults, which are PyHessian's where PyHessian has the method. Bad
// arguments (k <= 0, k larger than the dimension, negative settings) are
// returned as errors; a caller's slice length mismatch in a numeric helper
// (Density, KDE, Dense.MulVec) panics. Not reaching a tolerance is not an
// error: results say which pairs converged.
package hessian

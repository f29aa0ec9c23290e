package hessian

import (
	"context"
	"errors"
	"fmt"
)

// Solver computes top-k eigenpairs of an operator from a given seed, which
// replaces the Seed of its settings. *PowerSettings and *LanczosSettings
// implement it; a nil pointer of either means its defaults.
type Solver interface {
	TopK(op Operator, k int, seed uint64) (*Eigen, error)
}

// TopK runs PowerIteration with these settings and the given seed.
func (s *PowerSettings) TopK(op Operator, k int, seed uint64) (*Eigen, error) {
	var set PowerSettings
	if s != nil {
		set = *s
	}
	set.Seed = seed
	return PowerIteration(op, k, &set)
}

// TopK runs Lanczos with these settings and the given seed.
func (s *LanczosSettings) TopK(op Operator, k int, seed uint64) (*Eigen, error) {
	var set LanczosSettings
	if s != nil {
		set = *s
	}
	set.Seed = seed
	return Lanczos(op, k, &set)
}

// BatchEigen is the result for one minibatch of the paper's max-eigenvalue
// spectrum: the top eigenvalues of that minibatch's Hessian.
type BatchEigen struct {
	// Batch is the minibatch index.
	Batch int
	// Values are the eigenvalues, as the solver returned them.
	Values []float64
	// Residuals[i] is |Hx - λx| for Values[i].
	Residuals []float64
	// Converged reports whether every pair met the solver's stopping rule.
	Converged bool
	// Products is the number of operator products spent on the batch.
	Products int
}

// SpectrumSettings configures Spectrum. The zero value, or a nil pointer,
// is the paper's protocol: the top 5 eigenvalues of each minibatch by
// power iteration at PyHessian's defaults.
type SpectrumSettings struct {
	// K is the number of eigenvalues per batch; 0 means 5.
	K int
	// Solver computes them; nil means power iteration at PyHessian's
	// defaults.
	Solver Solver
	// Seed is the base seed: batch b is solved with seed BatchSeed(Seed, b).
	Seed uint64
	// Skip, if not nil, reports batches already done (journaled, or owned
	// by another shard); they are not computed.
	Skip func(batch int) bool
}

// BatchSeed derives the seed of a batch from a base seed, so that a batch
// gets the same start vectors whichever batches run before it, in this
// process or another.
func BatchSeed(base uint64, batch int) uint64 {
	return splitmix(base ^ splitmix(uint64(batch)))
}

// splitmix is the SplitMix64 finaliser, a bijective mixing of 64 bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Spectrum computes the minibatch max-eigenvalue spectrum of the paper
// (§2): for each batch in batches, in order, unless Skip reports it, it
// builds the batch's operator with operatorFor, computes its top K
// eigenvalues with the Solver and seed BatchSeed(Seed, batch), calls the
// release function (if not nil) and hands the result to done, which may
// journal it. The numbers for a batch depend only on the settings, the
// batch index and its operator, so a resumed or sharded run reproduces a
// single run.
//
// Cancelling ctx stops the run before the next batch, returning an error
// that wraps ctx.Err(). Any error of operatorFor, the solver or done stops
// the run and is returned naming the batch ("hessian: batch 17: ...").
func Spectrum(ctx context.Context, batches []int, operatorFor func(batch int) (Operator, func(), error),
	done func(BatchEigen) error, s *SpectrumSettings) error {
	var set SpectrumSettings
	if s != nil {
		set = *s
	}
	k, err := checkCount("Spectrum", "K", set.K, 5)
	if err != nil {
		return err
	}
	if operatorFor == nil || done == nil {
		return errors.New("hessian: Spectrum needs operatorFor and done")
	}
	solver := set.Solver
	if solver == nil {
		solver = (*PowerSettings)(nil)
	}
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hessian: stopped before batch %d: %w", b, err)
		}
		if set.Skip != nil && set.Skip(b) {
			continue
		}
		r, err := solveBatch(b, k, set.Seed, solver, operatorFor)
		if err != nil {
			return fmt.Errorf("hessian: batch %d: %w", b, err)
		}
		if err := done(*r); err != nil {
			return fmt.Errorf("hessian: batch %d: done: %w", b, err)
		}
	}
	return nil
}

// solveBatch builds, solves and releases one batch's operator.
func solveBatch(b, k int, seed uint64, solver Solver, operatorFor func(int) (Operator, func(), error)) (*BatchEigen, error) {
	op, release, err := operatorFor(b)
	if release != nil {
		defer release()
	}
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	if op == nil {
		return nil, errors.New("operator: nil")
	}
	e, err := solver.TopK(op, k, BatchSeed(seed, b))
	if err != nil {
		return nil, err
	}
	r := &BatchEigen{Batch: b, Values: e.Values, Residuals: e.Residuals, Converged: true, Products: e.Products}
	for _, ok := range e.Converged {
		r.Converged = r.Converged && ok
	}
	return r, nil
}

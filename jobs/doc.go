// Package jobs runs vitprobe's analyses as resumable, shardable jobs
// of one shape:
//
//	job := jobs.Hessian{Env: jobs.Env{Out: "runs/hess", Log: os.Stderr}}
//	res, err := job.Run(ctx, refs, jobs.HessianOptions{Batches: 20, BatchSize: 16, K: 5, Method: "lanczos"})
//	...
//	res, err = job.Merge("runs/hess") // after the shards of a sharded run
//
// Hessian (minibatch Hessian spectra, trace, density), Blocks (per-block
// curvature spectra against depth, NEP and APE per block kind), Landscape
// (loss-landscape grids) and Fourier (relative log amplitude, feature-map
// variance, frequency-band noise) each take checkpoint references
// (models.Ref, "label=path") and options that decide their numbers; Env
// says where and how they run (output folder, shard, device, log). Each
// returns the type its JSON output holds (results.Hessian, results.Blocks,
// landscape.Result, results.Fourier).
//
// All rest on one mechanism (internal/journal): every finished piece of
// work (a minibatch, a block on a minibatch, a grid point, a model's
// analysis) is appended to a locked journal whose first line fixes the
// settings. Cancelling ctx, a kill or a crash loses at most the piece
// under way; running the same job again skips what the journal holds; a
// journal of other settings is refused with an *errs.JournalMismatchError
// naming what differs (the Fourier job, whose journals hold one
// checkpoint's few minutes of work each, starts that checkpoint afresh
// instead, saying what changed). With
// Env.Shard a process does one share of the work into its own journal,
// and Merge writes the outputs from every shard's journal, the same bytes
// as one process would.
//
// Outputs are written atomically, the file that lists the others (a
// manifest: hessian.json, blocks.json, results.json) last, so a run killed while
// writing leaves either the old complete set or no manifest.
//
// Errors callers tell apart are typed (package errs); options that do not
// fit the inputs (more eigenvalues than parameters) are *errs.OptionError.
package jobs

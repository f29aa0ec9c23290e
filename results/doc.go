// Package results defines the files vitprobe's jobs write as Go types:
// hessian.json (Hessian), blocks.json (Blocks), the Fourier job's
// results.json (Fourier), a training run's metrics.json (EpochMetrics),
// cmd/lesion's lesion.json (Lesion) and cmd/corrupt's corrupt.json
// (Corruption), whose per-image outcomes (Outcomes) let findings resample
// the test images. The writers (package jobs, package train, the lesion
// and corruption studies of package analysis, whose result types are
// these) and the readers (cmd/report, notebooks, your own programs)
// decode them with the same definitions, so a field cannot drift between
// them. A landscape's landscape.json is landscape.Document,
// in package landscape, which writes it.
//
// The package needs no libtorch.
package results

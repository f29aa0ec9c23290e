// Package results defines the files vitprobe's jobs write as Go types:
// hessian.json (Hessian), the Fourier job's results.json (Fourier), a
// training run's metrics.json (EpochMetrics). The writers (package jobs,
// package train) and the readers (cmd/report, notebooks, your own
// programs) decode them with the same definitions, so a field cannot
// drift between them. A landscape's landscape.json is landscape.Document,
// in package landscape, which writes it.
//
// The package needs no libtorch.
package results

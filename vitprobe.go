// Package vitprobe is the entry point of a Go toolkit for loss-landscape and
// frequency studies of vision models, after Park & Kim, "How Do Vision
// Transformers Work?" (ICLR 2022). This package holds no code: it is the
// walk-through from "I have a checkpoint" to "I have the plot". The work is
// done by the packages below, which any Go program can use without the
// commands of cmd/.
//
// # The packages
//
//	jobs       the three analyses as resumable, shardable jobs (Run, Merge)
//	models     ResNet, pre-activation ResNet, ViT and AlterNet presets (gotch),
//	           the Model interface, probes, checkpoints (safetensors + JSON)
//	models/meta  specs and families, checkpoint sidecars and label=path references
//	data       MNIST, CIFAR-10/100, subsets, samplers, augmentations
//	train      the paper's training recipe with exact resume
//	analysis   model + data -> Hessian operators, landscape evaluators,
//	           Fourier/variance probes, frequency-noise robustness
//	hessian    power iteration, Lanczos, Hutchinson, SLQ, minibatch spectra
//	landscape  directions, filter normalisation, grids, journals, shards
//	fourier    FFTs, relative log amplitude, band masks
//	results    the JSON schemas of the jobs' outputs
//	reports    gonum/plot figures and HTML pages
//	findings   the paper's claims decided by code from measured numbers
//	errs       the error types callers tell apart with errors.As
//	torchx     exact gradients and Hessian-vector products, threads, seeds
//
// The definitions they follow are in docs/methods.md, their layers in
// docs/architecture.md.
//
// # From a checkpoint to a plot
//
// Set up once (make setup), train or take a checkpoint (cmd/train writes
// run/final.json and run/final.safetensors), then in Go:
//
//	torchx.SetThreads(0)                               // libtorch starts with one thread
//	m, ck, err := models.Load("run/final.json", gotch.CPU)
//	defer m.Close()
//	test, err := data.Load(ck.Dataset, "", data.Test)  // "" finds MNIST by itself
//	idx := test.Indices()[:1000]
//
// The relative log amplitude and the variance of every layer's feature
// maps, and the accuracy under band-limited noise (paper §4-5):
//
//	f, err := analysis.MeasureFeatures(ctx, m, test, idx, analysis.FeatureOptions{Batch: 100})
//	nr, err := analysis.NoiseRobustness(ctx, m, test, idx, analysis.NoiseOptions{Level: 1, Batch: 100})
//	fm := reports.FourierModelOf("my model", f.Fourier, f.Variance, nr)
//	fig, err := reports.DLogAmpFigure([]reports.FourierModel{fm})
//	err = fig.Save("dlogamp.png")
//
// The minibatch max-eigenvalue spectrum (paper §2; Lanczos finds PyHessian's
// eigenvalues with 1.6 to 2.5 times fewer Hessian-vector products):
//
//	train, err := data.Load(ck.Dataset, "", data.Train)
//	mb, err := analysis.NewMinibatches(train, nil, 16, 20, seed, data.Augment{})
//	var vals []float64
//	err = analysis.MaxEigenSpectrum(ctx, m, mb, &analysis.SpectrumOptions{Solver: &hessian.LanczosSettings{}},
//		func(r analysis.BatchResult) error { vals = append(vals, r.Values...); return nil })
//	s, err := hessian.Summarize(vals) // s.NEP, s.APE
//	fig, err := reports.HessianSpectrum([]reports.HessianSpectrumSeries{{Label: "my model", Values: vals}}, nil)
//	err = fig.Save("spectrum.png")
//
// A filter-normalised loss-landscape slice (paper §3), evaluated by moving
// the weights in place and restoring them bit for bit:
//
//	params, err := analysis.LandscapeParams(m)
//	analysis.LandscapeZeroRule(m, false, false).Apply(params) // biases, norms, position tables stay
//	d1, _ := landscape.Random(params, seed, 0, landscape.NormFilter)
//	d2, _ := landscape.Random(params, seed, 1, landscape.NormFilter)
//	ev, err := analysis.NewLandscapeEvaluator(m, train, subset, params, []landscape.Direction{d1, d2}, nil)
//	defer ev.Close()
//	res, err := landscape.Run(ctx, landscape.Spec{Grid: landscape.PaperGrid(), WeightDecay: 5e-4}, ev, landscape.Options{})
//	fig, err := reports.LandscapeSurface(res, reports.LandscapeOptions{})
//
// # Custom probes
//
// Every forward pass reports each layer's output, in depth order, to a
// models.Probe: one method, Observe(layer, output), given the layer's name,
// index and kind (stem, conv, down-sampling, MSA, MLP, head) and whether
// its output is a token sequence with a class token. Attach one to any
// preset, or to your own gotch model that implements models.Model (five
// methods): Example_customProbe measures the activation norm of every
// layer in under 40 lines, Example_ownModel runs the package's analyses
// on a hand-written network. A nil probe costs nothing.
//
// # Commands
//
// cmd/train, cmd/hessian, cmd/landscape and cmd/fourier do the same from
// the command line with progress bars, resumable journals, shards for
// clusters and provenance in every output; cmd/report gathers a demo into
// one page. See the README.
package vitprobe

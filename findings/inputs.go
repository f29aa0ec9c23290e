package findings

// Inputs are the measurements the findings are decided from: one entry
// per model, training seed and (for spectra) phase and data. The caller
// gathers them from the commands' outputs; the package never reads files.
type Inputs struct {
	Spectra    []Spectrum
	Profiles   []Profile
	Noise      []Noise
	Landscapes []Landscape
}

// Spectrum is one checkpoint's minibatch max-eigenvalue spectrum: the
// top-k eigenvalues of the Hessian of each minibatch's loss.
type Spectrum struct {
	// Family is the architecture family: "vit", "resnet" or "alternet".
	Family string
	// Model names the checkpoint in the tables (e.g. "vit-mini").
	Model string
	// Seed labels the training run; entries of one seed share it.
	Seed string
	// Phase is the checkpoint's training phase: "warmup" (end of the
	// warm-up), "final", "init", "epoch3"...
	Phase string
	// Data is "augmented" (the model's training augmentation) or "clean".
	Data string
	// Augmentation describes the augmentation the minibatches got, for
	// the inputs table (e.g. "none: trained without").
	Augmentation string
	// WeightDecay is the L2 coefficient of the loss: the eigenvalues are
	// those of NLL + (wd/2)·Σ‖w‖², shifted by wd from the NLL's.
	WeightDecay float64
	Batches     []Batch
}

// Batch is one minibatch's eigenvalues.
type Batch struct {
	Values []float64
	// Converged holds, per value, whether it met the solver's tolerance;
	// nil means all did. Unconverged values are left out and counted.
	Converged []bool
}

// Profile is one model's per-layer Fourier and variance measurements on
// the same images, in depth order.
type Profile struct {
	Family, Model, Seed, Phase string
	Layers                     []Layer
}

// Layer is one spatial layer's per-image measurements: image i's values
// are HighFreq[i] and Variance[i]; the layer's values are their means
// (the paper's quantities are means over images, so image-level values
// allow a bootstrap over images).
type Layer struct {
	Name string
	// Kind is the layer kind: stem, conv, down, msa, mlp (head layers are
	// left out).
	Kind string
	// Depth is the normalised depth, index / last index.
	Depth float64
	// HighFreq is, per image, the relative log amplitude at the layer's
	// highest frequency point (averaged over channels).
	HighFreq []float64
	// Variance is, per image, the feature-map variance (averaged over
	// channels).
	Variance []float64
}

// Noise is one model's accuracy under band-limited noise, per image.
type Noise struct {
	Family, Model, Seed, Phase string
	// Variant is "paper" (the paper's formula) or "equal-energy".
	Variant string
	// Clean holds whether each image is classified right without noise.
	Clean []bool
	Bands []NoiseBand
}

// NoiseBand is one band's per-image results.
type NoiseBand struct {
	// Center is the band's centre in units of π.
	Center float64
	// Correct holds, per image (in Noise.Clean's order), whether it is
	// classified right with this band's noise.
	Correct []bool
}

// Landscape is one loss-landscape slice: one checkpoint, one pair of
// random directions.
type Landscape struct {
	Family, Model, Seed, Phase string
	// Pair numbers the direction pair within the seed.
	Pair int
	// WeightDecay is the wd of the regularised losses.
	WeightDecay float64
	Points      []LandscapePoint
}

// LandscapePoint is one grid point.
type LandscapePoint struct {
	X, Y float64
	NLL  float64
	// L2 is the official code's l2, Σ‖w_t‖ over the trainable tensors
	// (unsquared norms); SqNorm is Σ‖w_t‖² over the same tensors (NaN
	// when the slice did not record it).
	L2, SqNorm float64
}

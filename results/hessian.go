package results

import (
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/prov"
)

// HessianSettings fixes everything that determines a Hessian run's
// numbers. It is the first line of the run's journals (a resumed or merged
// run must match it exactly) and the "settings" of hessian.json.
type HessianSettings struct {
	// Tool is "vitprobe hessian"; Format the version of the layout
	// (HessianFormat).
	Tool   string `json:"tool"`
	Format int    `json:"format"`
	// Batches minibatches of BatchSize training examples; the top K
	// eigenvalues of each minibatch's Hessian by Method ("power" or
	// "lanczos") with tolerance Tol and cap MaxIter (0: the method's
	// defaults).
	Batches   int     `json:"batches"`
	BatchSize int     `json:"batch_size"`
	K         int     `json:"k"`
	Method    string  `json:"method"`
	Tol       float64 `json:"tol"`
	MaxIter   int     `json:"max_iter"`
	// Seed draws the minibatches, their augmentation and the start
	// vectors.
	Seed uint64 `json:"seed"`
	// Augment: minibatches with each checkpoint's training augmentation.
	Augment bool `json:"augment"`
	// Curvature is the matrix of the minibatch spectra: "" (the Hessian),
	// "ggn" (the generalised Gauss-Newton matrix) or "fisher" (the
	// empirical Fisher matrix).
	Curvature string `json:"curvature,omitempty"`
	// Params, when not empty, is the regular expression that selects the
	// parameters the matrix is taken over (the others held fixed).
	Params string `json:"params,omitempty"`
	// Trace, Density and Full ask for the Hutchinson trace, the SLQ
	// density and the top K eigenvalues of the Hessian of the mean loss
	// over the first FullBatches minibatches, with TraceSamples
	// Rademacher vectors at most and SLQSteps Lanczos steps of SLQVectors
	// vectors.
	Trace        bool `json:"trace"`
	Density      bool `json:"density"`
	Full         bool `json:"full"`
	FullBatches  int  `json:"full_batches"`
	TraceSamples int  `json:"trace_samples"`
	SLQSteps     int  `json:"slq_steps"`
	SLQVectors   int  `json:"slq_vectors"`
	// Checkpoints are the run's inputs, in order.
	Checkpoints []HessianCheckpoint `json:"checkpoints"`
}

// HessianTool and HessianFormat are the Tool and Format of the settings
// this version writes.
const (
	HessianTool   = "vitprobe hessian"
	HessianFormat = 1
)

// HessianCheckpoint describes one checkpoint of a run.
type HessianCheckpoint struct {
	Label         string `json:"label"`
	Path          string `json:"path"`
	Model         string `json:"model"`
	Phase         string `json:"phase,omitempty"`
	Step          int64  `json:"step"`
	WeightsSHA256 string `json:"weights_sha256"`
	// Params is the number of trainable parameters, the Hessian's order.
	Params int64 `json:"params"`
	// WeightDecay is the L2 coefficient used; WeightDecaySource says
	// where it came from: "flag", "checkpoint" or "none recorded".
	WeightDecay       float64 `json:"weight_decay"`
	WeightDecaySource string  `json:"weight_decay_source"`
	Dataset           string  `json:"dataset"`
	// Examples is the number of training examples minibatches are drawn
	// from (the checkpoint's training subset, or the whole split).
	Examples int `json:"examples"`
	// Augment is the augmentation of the minibatches (zero: none).
	Augment data.Augment `json:"augmentation"`
}

// HessianBatch is one minibatch's result.
type HessianBatch struct {
	Batch int `json:"batch"`
	// Loss is the minibatch's NLL, without the L2 term.
	Loss float64 `json:"loss"`
	// Values are the top-k eigenvalues (L2 term included), in the order
	// the method returns them.
	Values    []float64 `json:"values"`
	Residuals []float64 `json:"residuals"`
	Converged bool      `json:"converged"`
	Products  int       `json:"products"`
}

// HessianTrace is a Hutchinson estimate of the trace of the Hessian over the
// minibatches, L2 term included: Mean = NLL + L2, where NLL is the
// estimate of the NLL Hessian's trace (from Values) and L2 = wd·n exactly.
type HessianTrace struct {
	Mean      float64   `json:"mean"`
	NLL       float64   `json:"nll"`
	L2        float64   `json:"l2"`
	StdErr    float64   `json:"stderr"`
	Samples   int       `json:"samples"`
	Converged bool      `json:"converged"`
	Products  int       `json:"products"`
	Values    []float64 `json:"values"`
}

// HessianDensity is a stochastic Lanczos quadrature.
type HessianDensity struct {
	Nodes    [][]float64 `json:"nodes"`
	Weights  [][]float64 `json:"weights"`
	Products int         `json:"products"`
}

// HessianTopK is the top-k of the Hessian over all minibatches.
type HessianTopK struct {
	Values    []float64 `json:"values"`
	Residuals []float64 `json:"residuals"`
	Converged bool      `json:"converged"`
	Products  int       `json:"products"`
}

// HessianSummary is hessian.Summary with JSON names: the pooled
// eigenvalues of the minibatches, NEP the share of negative ones, APE the
// mean of the positive ones, and quantiles.
type HessianSummary struct {
	N        int     `json:"n"`
	Negative int     `json:"negative"`
	Positive int     `json:"positive"`
	NEP      float64 `json:"nep"`
	APE      float64 `json:"ape"`
	Min      float64 `json:"min"`
	P05      float64 `json:"p05"`
	Q1       float64 `json:"q1"`
	Median   float64 `json:"median"`
	Q3       float64 `json:"q3"`
	P95      float64 `json:"p95"`
	Max      float64 `json:"max"`
	Mean     float64 `json:"mean"`
}

// HessianModel is everything computed for one checkpoint.
type HessianModel struct {
	HessianCheckpoint
	Summary HessianSummary `json:"summary"`
	// Products is the number of Hessian-vector products of the spectrum.
	Products int `json:"products"`
	// Unconverged counts the minibatches whose eigenpairs did not all
	// meet the tolerance within the iteration cap.
	Unconverged int             `json:"unconverged_batches"`
	Batches     []HessianBatch  `json:"batches"`
	Trace       *HessianTrace   `json:"trace,omitempty"`
	Density     *HessianDensity `json:"density,omitempty"`
	Full        *HessianTopK    `json:"full_topk,omitempty"`
}

// Hessian is hessian.json: the settings, every checkpoint's results and
// the provenance of the run.
type Hessian struct {
	Provenance prov.Provenance `json:"provenance"`
	Settings   HessianSettings `json:"settings"`
	Models     []HessianModel  `json:"models"`
}

package results

import "github.com/vitprobe/vitprobe/internal/prov"

// BlocksSettings fixes everything that determines a per-block curvature
// run's numbers. It is the first line of the run's journals (a resumed or
// merged run must match it exactly) and the "settings" of blocks.json.
type BlocksSettings struct {
	// Tool is "vitprobe blocks"; Format the version of the layout
	// (BlocksFormat).
	Tool   string `json:"tool"`
	Format int    `json:"format"`
	// Curvature is the matrix: "hessian", "ggn" (generalised
	// Gauss-Newton) or "fisher" (empirical Fisher).
	Curvature string `json:"curvature"`
	// Batches minibatches of BatchSize training examples drawn with Seed;
	// the top K eigenvalues (largest magnitude) of each block's matrix on
	// each minibatch, by Solver.
	Batches   int    `json:"batches"`
	BatchSize int    `json:"batch_size"`
	K         int    `json:"k"`
	Solver    string `json:"solver"`
	Seed      uint64 `json:"seed"`
	// TraceProducts is the number of Hutch++ products of each block's
	// trace per minibatch; 0: no trace.
	TraceProducts int `json:"trace_products"`
	// SLQSteps is the number of Lanczos steps of each block's eigenvalue
	// density (stochastic Lanczos quadrature, one start vector) per
	// minibatch; 0: no density.
	SLQSteps int `json:"slq_steps,omitempty"`
	// Params, when not empty, is the regular expression that selects the
	// blocks by name; the others are not computed.
	Params string `json:"params,omitempty"`
	// Checkpoints are the run's inputs, in order, with their blocks.
	Checkpoints []BlocksCheckpoint `json:"checkpoints"`
}

// BlocksTool and BlocksFormat are the Tool and Format of the settings this
// version writes.
const (
	BlocksTool   = "vitprobe blocks"
	BlocksFormat = 1
)

// BlocksCheckpoint is one checkpoint of a per-block run and the blocks
// computed for it, in depth order.
type BlocksCheckpoint struct {
	HessianCheckpoint
	Blocks []BlockInfo `json:"blocks"`
}

// BlockInfo describes one block: a group of a model's trainable
// parameters (analysis.BlockGroups).
type BlockInfo struct {
	// Name is the block's layer name ("layer2.0", "blocks.3.attn").
	Name string `json:"name"`
	// Kind is its kind: stem, conv, down, msa, mlp or head.
	Kind string `json:"kind"`
	// Index is its position in depth order among all the model's layers,
	// Depth its normalised depth in [0, 1].
	Index int     `json:"index"`
	Depth float64 `json:"depth"`
	// Size is its number of parameter values (the matrix's order), Params
	// the names of its parameters.
	Size   int      `json:"size"`
	Params []string `json:"params"`
}

// BlockBatch is one block's curvature on one minibatch.
type BlockBatch struct {
	Batch int `json:"batch"`
	// Loss is the minibatch's NLL, without the L2 term.
	Loss float64 `json:"loss"`
	// Values are the top eigenvalues (L2 term included) by largest
	// magnitude, Residuals their residuals; Converged reports whether all
	// met the solver's rule.
	Values    []float64 `json:"values"`
	Residuals []float64 `json:"residuals"`
	Converged bool      `json:"converged"`
	// Trace is the Hutch++ estimate of the block's trace (nil without).
	Trace *BlockTrace `json:"trace,omitempty"`
	// Density is the block's SLQ quadrature (nil without).
	Density  *HessianDensity `json:"density,omitempty"`
	Products int             `json:"products"`
}

// BlockTrace is a trace estimate and its standard error.
type BlockTrace struct {
	Mean   float64 `json:"mean"`
	StdErr float64 `json:"stderr"`
}

// BlockResult is one block's curvature over every minibatch.
type BlockResult struct {
	BlockInfo
	Batches []BlockBatch `json:"batches"`
	// Summary summarises the pooled top eigenvalues (NEP, APE,
	// quantiles).
	Summary HessianSummary `json:"summary"`
	// Trace is the mean over minibatches of the trace estimates and its
	// standard error (the spread of the per-batch estimates over the
	// square root of their number; a single estimate's own standard error
	// with one minibatch); nil without traces.
	Trace *BlockTrace `json:"trace,omitempty"`
	// Products is the number of matrix-vector products spent;
	// Unconverged the minibatches whose eigenpairs did not all converge.
	Products    int `json:"products"`
	Unconverged int `json:"unconverged_batches"`
}

// BlocksKind pools the top eigenvalues of every block of one kind: the
// paper's NEP and APE per block kind.
type BlocksKind struct {
	Kind   string `json:"kind"`
	Blocks int    `json:"blocks"`
	HessianSummary
}

// BlocksModel is everything computed for one checkpoint.
type BlocksModel struct {
	HessianCheckpoint
	Blocks []BlockResult `json:"blocks"`
	Kinds  []BlocksKind  `json:"kinds"`
	// Products is the number of matrix-vector products of all blocks.
	Products int `json:"products"`
}

// Blocks is blocks.json: the settings, every checkpoint's per-block
// results and the provenance of the run.
type Blocks struct {
	Provenance prov.Provenance `json:"provenance"`
	Settings   BlocksSettings  `json:"settings"`
	Models     []BlocksModel   `json:"models"`
}

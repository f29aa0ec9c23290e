package analysis

// The loss-landscape adapter of this package (landscape*.go) turns a model
// and data into a landscape.Evaluator (docs/methods.md §3):
//
//   - LandscapeParams lists a model's tensors as landscape.Params (float64
//     copies, sorted by name, Buffer on running statistics) and
//     LandscapeZeroRule picks the still ones (the paper's rule, with
//     switches to move 1-D tensors or position tables);
//   - LandscapeSubset draws the fixed, seeded, class-stratified evaluation
//     subset of exactly n examples;
//   - NewLandscapeEvaluator makes the batches once (augmented once if
//     asked, so every point sees the same images) and evaluates points by
//     writing w0 + x·d1 + y·d2 into the model's tensors in place, in eval
//     mode without gradients, on one or more model replicas that split the
//     batches (the numbers do not depend on how many); Close restores the
//     weights bit for bit;
//   - LandscapeEigvecs reads and writes flat direction vectors (top
//     Hessian eigenvectors) in a documented safetensors layout.
//
// cmd/landscape is the command over it; landscape/doc.go explains the
// method and the grid, journal and shard conventions.

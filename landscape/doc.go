// Package landscape computes loss-landscape slices as in Park & Kim, "How
// Do Vision Transformers Work?" (ICLR 2022, §3 of the method notes) after
// Li et al., "Visualizing the Loss Landscape of Neural Nets" (2018). It is
// pure Go: parameters are plain data ([]float64 with a shape) and the model
// is reached through the Evaluator interface, which an adapter in analysis/
// implements with gotch. Everything here is tested without a model.
//
// # Method
//
// The weights w0 of a trained model are moved in a plane spanned by two
// directions d1 and d2, w(x, y) = w0 + x*d1 + y*d2, and the model is
// evaluated at every point of a grid over (x, y) ([-1, 1]^2 at 21 x 21 in
// the paper: PaperGrid). The directions are
//
//   - random (Random): standard normal values shaped like the weights,
//     drawn from a seed, then scaled to the weights by a Norm: NormFilter
//     (Li et al.: every output filter d_k, a slice along dimension 0, gets
//     the norm of w_k), NormDim0 (the official code: norms along dimension
//     0, i.e. per input position across filters) or NormNone;
//   - the line between two checkpoints (Between: d = w_b - w_a, say init to
//     final, unnormalised);
//   - given vectors (FromVector: a flat vector such as a Hessian
//     eigenvector, split by the parameters' shapes).
//
// Tensors marked Zero (by ZeroRule: rank < 2, i.e. biases, norm scales and
// shifts, running statistics; position embeddings, relative-position
// tables, class tokens by name) and Buffer tensors get zero random
// directions and stay at their trained values.
//
// Each point records NLL, accuracy (a fraction), the official code's
// norms of the moved weights, l1 = sum over trainable tensors of sum |w|
// and l2 = sum over trainable tensors of their (unsquared) Frobenius norms
// (L1, L2, Surface.Norms), and SqNorm = the sum of their squared norms
// (SqNorm, Surface.NormsSq). The regularised loss (Result.Loss) is the
// project's one definition, NLL + (wd/2)·SqNorm, the loss whose Hessian
// cmd/hessian computes; the official code plots NLL + wd·l2
// (Result.LossOfficial). The weights' term dominates either at the
// paper's wd = 0.05, so NLL alone is worth plotting too. A point whose metrics are not finite (a diverged model) is
// recorded as such: NaN and Inf are data here, not errors.
//
// # What an adapter does
//
// List the model's tensors sorted by name as []Param (float64 copies, Buffer
// set on running statistics), apply a ZeroRule, make the directions and a
// Surface, and implement Evaluator:
//
//	d1, _ := landscape.Random(params, seed, 0, landscape.NormFilter)
//	d2, _ := landscape.Random(params, seed, 1, landscape.NormFilter)
//	s, _ := landscape.NewSurface(params, d1, d2)
//	eval := landscape.EvaluatorFunc(func(ctx context.Context, x, y float64) (landscape.Metrics, error) {
//		buf = s.At(buf, x, y)     // copy buf[i] into the model's tensor i
//		nll, acc := ...           // evaluate the model (eval mode) on the fixed data
//		l1, l2 := s.Norms(x, y)
//		return landscape.Metrics{NLL: nll, Acc: acc, L1: l1, L2: l2}, nil
//	})
//	res, err := landscape.Run(ctx, spec, eval, landscape.Options{Shard: sh, Journal: path, Progress: os.Stderr})
//
// The Spec must pin everything that determines the numbers: the grid, the
// directions (DirSpec with Fingerprint(d1, d2)), the weight decay, and in
// Inputs the checkpoint hash, model, data subset and the rest.
//
// # Conventions
//
// Coordinates come from Axis.Coord alone, (Min*(N-1-i) + Max*i)/(N-1), so
// the ends are exact and the centre of a symmetric grid is exactly 0.
// Points are indexed row-major with y as the row, index = iy*nx + ix (x
// fastest), the order of the official CSV. The CSV header is CSVHeader,
// "x,y,l1,l2,NLL,Acc,loss,index"; floats are written in shortest round-trip
// form (strconv 'g', -1), so equal numbers give equal bytes.
//
// # Sharding, resume and merge
//
// Run evaluates the points its shard owns (internal/shard: --shard i/n,
// Slurm array tasks or Kubernetes indexed jobs; shard i of n owns the
// indices with index mod n = i), in index order. Each finished point is
// appended to the shard's journal (internal/journal) and synced before the
// next one starts; the journal's header is the Spec, so a journal written
// under other settings is refused rather than mixed. A run that is killed
// or cancelled (ctx) loses at most the point in progress: rerun it with
// the same spec and journal and it skips every point already recorded.
// JournalName and ShardJournals give the conventional file names, one
// journal per shard in a shared output folder. Merge reads the shards'
// journals and returns the full result, refusing
// incomplete sets (naming the missing points) and shards that disagree on
// a point. Since the CSV depends only on the points, one process, a
// resumed run and a merge of shards write byte-identical files.
package landscape

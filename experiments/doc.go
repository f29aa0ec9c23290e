// Package experiments runs the paper's further experiments on vitprobe's
// mini models, end to end: training, measuring, deciding the claims and
// drawing the figures.
//
//   - DataSize: each model on several shares of the training split (Fig. 4
//     spectra per size, Fig. 5 training NLL against test error, AlterNet
//     against a CNN on small and large data).
//   - Smoothing: ViT's class token against a GAP head, a CNN with and
//     without a blur before each down-sampling (Fig. 6).
//   - Locality: ViT with local attention windows against global attention
//     (Fig. 7).
//   - Trajectories: the weights' distance and angle from their initial
//     values during training, in polar coordinates (Fig. 1b).
//   - FineTune: pre-training on some classes, fine-tuning on a small share
//     of others, against training on that share from scratch.
//   - BuildUp: the build-up rule of AlterNet (Fig. 11, 12a), package
//     buildup, on the lab's budget.
//
// A Lab holds the shared settings (a training Budget: the same number of
// steps for every run; a MeasureSpec: the Hessian spectrum, training NLL,
// landscape slices) and a folder where every run and measurement is kept:
// an experiment reuses the runs of another with the same configuration,
// and a second call of anything finds its work done. Runs are resumable
// (train.Run) and Hessian minibatches are journaled, so an interrupted
// experiment continues where it stopped; a lock per run lets several
// processes share the folder. WriteReport gathers the parts into one HTML
// page with every claim's verdict (package findings).
package experiments

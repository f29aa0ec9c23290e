// Package train trains vitprobe's models with the paper's recipe: AdamW
// with decoupled weight decay, linear warm-up then cosine decay to zero,
// gradient-norm clipping, label smoothing, mixup/CutMix, stochastic depth,
// evaluation on the test split after every epoch.
//
// Runs are reproducible and resumable bit for bit on CPU: every random
// number is derived from the seed and the position in training (the data
// order from the seed and the epoch, augmentations and libtorch's stochastic
// depth masks from the seed and the step), so a run restarted from any
// checkpoint, with its optimiser state, retraces the uninterrupted run
// exactly (with the same thread count). Checkpoints are written at init, at
// the end of warm-up ("warmup", the paper's early phase), every N epochs,
// at the end ("final") and on interruption.
package train

// Package trajectory follows a model's weights during training, as the
// paper's Fig. 1b does: every snapshot w_t of the trainable weights (a run
// trained with train.Options.SnapshotEvery, or any sequence of flat
// vectors) is placed in polar coordinates around the origin of weight
// space, relative to the initial weights w_0:
//
//   - the distance r_t = ‖w_t − w_0‖ (also relative to ‖w_0‖), how far
//     training has moved the weights;
//   - the angle θ_t = arccos(⟨w_t, w_0⟩ / (‖w_t‖·‖w_0‖)), how much it has
//     turned them, seen from the origin.
//
// A trajectory that moves straight away from the origin keeps θ = 0; one
// that only rescales the weights too; a turn at constant norm keeps ‖w‖
// and raises θ. All sums are taken in float64. The package is pure Go.
package trajectory

package train

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// splitStep computes a training step's gradient over workers
// (Options.Workers): worker i takes rows [start_i, start_i+n_i) of the
// batch on its own OS thread with one libtorch thread and its own copy of
// the model, and differentiates (n_i/n)·L_i, its rows' mean loss weighted
// by their share, so that the parts' gradients add up to the gradient of
// the batch's mean loss. The models with batch norm (the ResNets and
// AlterNets) share its statistics among the workers (a torchx.StatsGroup:
// each worker's rows are normalised with the batch's statistics, as in the
// one-graph step, and its backward pass takes the batch's sums); the
// stochastic-depth masks are drawn for the whole batch on the calling
// thread first (models.DrawDropPath), as the one-graph step draws them.
//
// At small batches this beats one pass on libtorch's threads, whose small
// elementwise operations cost more to share out than to compute
// (docs/benchmarks.md). The sum differs from the one-graph gradient in the
// last bits, the same way at every run with the same number of workers.
type splitStep struct {
	w        *torchx.Workers
	stats    *torchx.StatsGroup // batch norm's shared statistics (nil: none)
	models   []models.Model     // [0] is the run's model, the others copies
	params   [][]*ts.Tensor     // each model's trainable tensors (packed for i > 0)
	buffers  [][]*ts.Tensor     // each model's other tensors (running statistics)
	flat     []*ts.Tensor       // the copies' packed parameters ([0] unused)
	grads    []*ts.Tensor       // the copies' gradient buffers ([0]: the optimiser's)
	replicas []models.Model
}

// newSplitStep prepares n ≥ 2 workers for m, whose optimiser is opt.
func newSplitStep(m models.Model, opt *optimizer, n int) (_ *splitStep, err error) {
	if !models.SplitsTraining(m) {
		return nil, fmt.Errorf("train: %d workers: %s's training pass is not vitprobe's own, so its steps cannot be split; use one worker", n, m.Spec().Name)
	}
	s := &splitStep{models: []models.Model{m}, params: [][]*ts.Tensor{opt.params}, buffers: [][]*ts.Tensor{buffers(m)},
		flat: []*ts.Tensor{nil}, grads: []*ts.Tensor{opt.gflat}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if models.SharesStats(m) {
		if s.stats, err = torchx.NewStatsGroup(n); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	for range n - 1 {
		r, err := models.Replicate(m, nil)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		s.replicas = append(s.replicas, r)
		ps, _ := trainableParams(r)
		flat, err := torchx.Pack(ps)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		s.flat = append(s.flat, flat)
		g, err := flat.ZerosLike(false)
		if err != nil {
			return nil, fmt.Errorf("train: gradient buffer: %w", err)
		}
		s.grads = append(s.grads, g)
		s.models = append(s.models, r)
		s.params = append(s.params, ps)
		s.buffers = append(s.buffers, buffers(r))
	}
	if s.w, err = torchx.StartWorkers(n); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return s, nil
}

// close stops the workers and releases the copies.
func (s *splitStep) close() {
	if s == nil {
		return
	}
	if s.w != nil {
		s.w.Close(nil)
	}
	for i := 1; i < len(s.flat); i++ {
		_ = s.flat[i].Drop()
	}
	for i := 1; i < len(s.grads); i++ {
		_ = s.grads[i].Drop()
	}
	for _, r := range s.replicas {
		r.Close()
	}
	if s.stats != nil {
		s.stats.Close()
	}
	*s = splitStep{}
}

// buffers returns m's tensors that the optimiser does not update (batch
// norm's running statistics), in Params order.
func buffers(m models.Model) []*ts.Tensor {
	var out []*ts.Tensor
	for _, p := range m.Params() {
		if !p.Trainable() {
			out = append(out, p.Tensor)
		}
	}
	return out
}

// sync gives copy i the run's model's current weights and buffers.
func (s *splitStep) sync(opt *optimizer, i int) error {
	return torchx.NoGrad(func() error {
		if err := torchx.Copy(s.flat[i], opt.pflat); err != nil {
			return err
		}
		for k, b := range s.buffers[i] {
			if err := torchx.Copy(b, s.buffers[0][k]); err != nil {
				return err
			}
		}
		return nil
	})
}

// gradients leaves the gradient of b's mean loss in opt's gradient buffer
// and returns the loss and the number of correct predictions. The copies
// take the run's model's current weights and running statistics first;
// every worker's batch norm moves its running statistics with the batch's
// statistics, so the run's model's move as in the one-graph step.
func (s *splitStep) gradients(opt *optimizer, b *torchdata.Batch) (loss float64, correct int, err error) {
	total := b.Len()
	rows := torchdata.PartSizes(total, s.w.Len())
	if total < 1 {
		return 0, 0, fmt.Errorf("an empty batch")
	}
	masks, err := models.DrawDropPath(s.models[0], int64(total))
	if err != nil {
		return 0, 0, err
	}
	defer masks.Close()
	// Workers without rows (a batch smaller than the workers) sit out.
	for i := 1; i < len(rows); i++ {
		if err := s.sync(opt, i); err != nil {
			return 0, 0, fmt.Errorf("weights to worker %d: %w", i, err)
		}
	}
	if s.stats != nil {
		if err := s.stats.Reset(len(rows)); err != nil {
			return 0, 0, err
		}
	}
	starts := make([]int64, len(rows))
	for i := 1; i < len(rows); i++ {
		starts[i] = starts[i-1] + int64(rows[i-1])
	}
	losses := make([]float64, s.w.Len())
	corrects := make([]int, s.w.Len())
	err = s.w.All(func(i int) (err error) {
		if i >= len(rows) {
			return nil
		}
		if s.stats != nil {
			// A worker that fails or panics abandons the shared
			// statistics, so that the others fail instead of waiting.
			defer func() {
				if r := recover(); r != nil {
					s.stats.Abort()
					panic(r)
				}
				if err != nil {
					s.stats.Abort()
				}
			}()
		}
		losses[i], corrects[i], err = s.part(i, b, masks, models.Part{Start: starts[i], Stats: s.stats, Rank: i}, int64(rows[i]), float64(rows[i])/float64(total))
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for i, l := range losses {
		loss += l
		correct += corrects[i]
	}
	for i := 1; i < len(rows); i++ {
		if err := torchx.InPlace(opt.gflat, func() error { return opt.gflat.Add_(s.grads[i]) }); err != nil {
			return 0, 0, fmt.Errorf("gradient sum: %w", err)
		}
	}
	return loss, correct, nil
}

// evaluate is Evaluate with the batches dealt to the workers in turn (the
// copies take the current weights first); the batches' parts are added in
// batch order, as Evaluate adds them.
func (s *splitStep) evaluate(opt *optimizer, d *data.Dataset, indices []int, batch int) (Eval, error) {
	batches, err := evalBatches(indices, batch)
	if err != nil {
		return Eval{}, err
	}
	for i := 1; i < len(s.models); i++ {
		if err := s.sync(opt, i); err != nil {
			return Eval{}, fmt.Errorf("train: evaluate: weights to worker %d: %w", i, err)
		}
	}
	parts := make([]evalPart, len(batches))
	w := s.w.Len()
	err = s.w.All(func(i int) error {
		return torchx.NoGrad(func() error {
			for k := i; k < len(batches); k += w {
				var err error
				if parts[k], err = evalBatch(s.models[i], d, batches[k]); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return Eval{}, fmt.Errorf("train: evaluate: %w", err)
	}
	return evalOf(parts, len(indices))
}

// part runs worker i's rows: forward, weighted loss, gradient into its
// buffer. It returns the weighted loss and the rows' correct predictions.
func (s *splitStep) part(i int, b *torchdata.Batch, masks *models.DropPathMasks, p models.Part, n int64, weight float64) (lv float64, correct int, err error) {
	sub, err := b.Rows(p.Start, n)
	if err != nil {
		return 0, 0, err
	}
	defer sub.Close()
	logits, err := models.ForwardTrainRows(s.models[i], sub.Images, masks, p)
	if err != nil {
		return 0, 0, err
	}
	defer torchx.DropTo(&err, logits)
	mean, err := Loss(logits, sub)
	if err != nil {
		return 0, 0, err
	}
	defer torchx.DropTo(&err, mean)
	w := ts.FloatScalar(weight)
	loss, err := mean.MulScalar(w, false)
	_ = w.Drop()
	if err != nil {
		return 0, 0, fmt.Errorf("loss: %w", err)
	}
	defer torchx.DropTo(&err, loss)
	if lv, err = Scalar(loss); err != nil {
		return 0, 0, err
	}
	if correct, err = Correct(logits, sub); err != nil {
		return 0, 0, err
	}
	if err := torchx.GradInto(s.grads[i], loss, s.params[i]); err != nil {
		return 0, 0, err
	}
	return lv, correct, nil
}

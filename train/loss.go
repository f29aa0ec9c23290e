package train

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// Loss returns the mean cross-entropy of logits (B, K) against the batch's
// targets: against its soft targets when it has them (mixup, CutMix, label
// smoothing), else against its labels. It is the NLL of the paper's
// Hessian and landscape analyses too. The caller owns the result.
func Loss(logits *ts.Tensor, b *torchdata.Batch) (*ts.Tensor, error) {
	if b.Targets == nil {
		l, err := logits.CrossEntropyLoss(b.Labels, ts.None, 1, -100, 0, false)
		if err != nil {
			return nil, fmt.Errorf("train: loss: %w", err)
		}
		return l, nil
	}
	var s torchx.Scope
	defer s.Close()
	lp, err := logits.LogSoftmax(1, gotch.Float, false)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	s.Add(lp)
	prod, err := lp.Mul(b.Targets, false)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	s.Add(prod)
	sum, err := prod.Sum(gotch.Float, false)
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	s.Add(sum)
	shape, err := logits.Size()
	if err != nil {
		return nil, err
	}
	sc := ts.FloatScalar(-1 / float64(shape[0]))
	l, err := sum.MulScalar(sc, false)
	if derr := sc.Drop(); err == nil && derr != nil {
		err = derr
		_ = l.Drop()
	}
	if err != nil {
		return nil, fmt.Errorf("train: loss: %w", err)
	}
	return l, nil
}

// Correct returns how many rows of logits have their largest entry at the
// batch's label.
func Correct(logits *ts.Tensor, b *torchdata.Batch) (n int, err error) {
	am, err := logits.Argmax([]int64{1}, false, false)
	if err != nil {
		return 0, err
	}
	defer torchx.DropTo(&err, am)
	eq, err := am.EqTensor(b.Labels, false)
	if err != nil {
		return 0, err
	}
	defer torchx.DropTo(&err, eq)
	v, err := torchx.Values[uint8](eq)
	if err != nil {
		return 0, err
	}
	for _, x := range v {
		n += int(x)
	}
	return n, nil
}

// Scalar returns a one-element tensor's value.
func Scalar(t *ts.Tensor) (float64, error) {
	v := make([]float64, 1)
	if err := torchx.CopyOut(v, t); err != nil {
		return 0, err
	}
	return v[0], nil
}

// Eval is the result of evaluating a model on a data set.
type Eval struct {
	NLL      float64 `json:"nll"`
	Accuracy float64 `json:"accuracy"`
	N        int     `json:"n"`
}

// Evaluate runs m in eval mode without gradients over the examples of d at
// indices, in batches of size batch, and returns the mean NLL (plain
// cross-entropy) and the accuracy.
func Evaluate(m models.Model, d *data.Dataset, indices []int, batch int) (Eval, error) {
	batches, err := evalBatches(indices, batch)
	if err != nil {
		return Eval{}, err
	}
	parts := make([]evalPart, len(batches))
	err = torchx.NoGrad(func() error {
		for k, idx := range batches {
			if parts[k], err = evalBatch(m, d, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Eval{}, fmt.Errorf("train: evaluate: %w", err)
	}
	return evalOf(parts, len(indices))
}

// evalBatches cuts indices into the batches Evaluate runs.
func evalBatches(indices []int, batch int) ([][]int, error) {
	if len(indices) == 0 {
		return nil, fmt.Errorf("train: evaluate on no examples")
	}
	smp, err := data.Sequential(indices, batch)
	if err != nil {
		return nil, err
	}
	var out [][]int
	for _, idx := range smp.Epoch(0).All() {
		out = append(out, idx)
	}
	return out, nil
}

// evalPart is one batch's summed NLL and correct count.
type evalPart struct {
	sum     float64
	correct int
}

// evalBatch evaluates m on the examples of d at idx (gradients off).
func evalBatch(m models.Model, d *data.Dataset, idx []int) (p evalPart, err error) {
	b, err := torchdata.NewBatch(d, idx, data.Augment{}, nil)
	if err != nil {
		return p, err
	}
	defer b.Close()
	logits, err := m.Forward(b.Images, models.Eval, nil)
	if err != nil {
		return p, err
	}
	defer torchx.DropTo(&err, logits)
	l, err := Loss(logits, b)
	if err != nil {
		return p, err
	}
	v, err := Scalar(l)
	torchx.DropTo(&err, l)
	if err != nil {
		return p, err
	}
	p.sum = v * float64(len(idx))
	p.correct, err = Correct(logits, b)
	return p, err
}

// evalOf adds the batches' parts in batch order into the mean NLL and the
// accuracy over n examples.
func evalOf(parts []evalPart, n int) (Eval, error) {
	var sum float64
	var correct int
	for _, p := range parts {
		sum += p.sum
		correct += p.correct
	}
	e := Eval{NLL: sum / float64(n), Accuracy: float64(correct) / float64(n), N: n}
	if math.IsNaN(e.NLL) || math.IsInf(e.NLL, 0) {
		return e, fmt.Errorf("train: evaluate: %w", &errs.NonFiniteError{What: "loss", Value: e.NLL})
	}
	return e, nil
}

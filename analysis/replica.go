package analysis

import (
	"fmt"
	"runtime"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// replicate makes a copy of m for another worker: a model of the same
// architecture from build (nil: models.Rebuild on the device of m's
// tensors) with every tensor, parameters and buffers, set to m's values.
// The caller owns the copy; on an error none is left open.
func replicate(m models.Model, build func() (models.Model, error)) (models.Model, error) {
	ps := sortedParams(m)
	if len(ps) == 0 {
		return nil, fmt.Errorf("replica of %s: the model has no tensors", m.Spec().Name)
	}
	var r models.Model
	var err error
	if build != nil {
		r, err = build()
	} else {
		dev, derr := ps[0].Tensor.Device()
		if derr != nil {
			return nil, fmt.Errorf("replica of %s: %w", m.Spec().Name, derr)
		}
		r, err = models.Rebuild(m, dev)
	}
	if err != nil {
		return nil, fmt.Errorf("replica of %s for a second worker: %w", m.Spec().Name, err)
	}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	rp := sortedParams(r)
	if len(rp) != len(ps) {
		return nil, fmt.Errorf("the replica has %d tensors, the model %d", len(rp), len(ps))
	}
	for i, p := range ps {
		if rp[i].Name != p.Name || fmt.Sprint(rp[i].Shape) != fmt.Sprint(p.Shape) {
			return nil, fmt.Errorf("the replica's tensor %s%v differs from the model's %s%v", rp[i].Name, rp[i].Shape, p.Name, p.Shape)
		}
		v, err := torchx.Values[float32](p.Tensor)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.Name, err)
		}
		if err := torchx.CopyIn(rp[i].Tensor, v); err != nil {
			return nil, fmt.Errorf("replica %s: %w", p.Name, err)
		}
	}
	ok = true
	return r, nil
}

// workerThread starts a worker goroutine's libtorch state: it locks the
// goroutine to its OS thread for good (the thread ends with the
// goroutine, and with it the thread-local grad mode and thread count),
// sets grad mode and the thread count.
func workerThread(grad bool, threads int) error {
	runtime.LockOSThread()
	torchx.SetGradEnabled(grad)
	_, err := torchx.SetThreads(threads)
	return err
}

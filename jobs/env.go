package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/data/torchdata"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/torchx"
)

// Env is where and how a job runs: nothing in it changes the job's
// numbers (except Threads in the last bits, recorded with the results).
type Env struct {
	// Out is the output folder, made if missing.
	Out string
	// Shard is this process's share of the work (zero value: all).
	Shard shard.Shard
	// Device is where models run (CPU unless CUDA is asked for).
	Device gotch.Device
	// Threads is the thread count recorded in the provenance (the
	// caller sets libtorch's, see torchx.SetThreads).
	Threads int
	// DataDir is the data set folder ("" finds MNIST by itself).
	DataDir string
	// Log receives progress bars and notices (nil: discarded).
	Log io.Writer
	// Command is the command line, recorded in the provenance.
	Command []string
}

func (e *Env) log() io.Writer {
	if e.Log == nil {
		return io.Discard
	}
	return e.Log
}

func (e *Env) shard() shard.Shard {
	if e.Shard.Count == 0 {
		return shard.All
	}
	return e.Shard
}

// sharded reports a share of a sharded run, which writes only its journal.
func (e *Env) sharded() bool { return e.shard().Count > 1 }

// prepareOut makes the output folder and removes the temporary files a
// killed run left there.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	return atomicfile.RemoveStale(dir)
}

// provenance starts the provenance of a job's outputs.
func (e *Env) provenance(tool string, seed uint64) prov.Provenance {
	return prov.New(tool, e.Command, seed, e.Threads)
}

// Interrupted reports whether err stops a job because its context was
// cancelled (finished work is in its journal; run it again to resume).
func Interrupted(err error) bool {
	return err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// resolve reads and labels the checkpoints of refs.
func resolve(refs []meta.Ref) ([]meta.Resolved, error) {
	if len(refs) == 0 {
		return nil, errs.Optionf("no checkpoint given")
	}
	return meta.Resolve(refs)
}

// datasets loads each data set split once per job.
type datasets struct {
	dir  string
	sets map[string]*data.Dataset
}

func (d *datasets) get(name string, split data.Split) (*data.Dataset, error) {
	key := name + "\x00" + split.String()
	if s, ok := d.sets[key]; ok {
		return s, nil
	}
	s, err := data.Load(name, d.dir, split)
	if err != nil {
		return nil, err
	}
	if d.sets == nil {
		d.sets = map[string]*data.Dataset{}
	}
	d.sets[key] = s
	return s, nil
}

// deviceName names a device as the specs record it.
func deviceName(d gotch.Device) string {
	if d == gotch.CPU {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", d.Value)
}

// datasetOf is the data set a checkpoint is analysed on: the one given, or
// the one it was trained on.
func datasetOf(r meta.Resolved, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if n := r.DatasetName(); n != "" {
		return n, nil
	}
	return "", errs.Optionf("checkpoint %s records no dataset: give --dataset", r.Sidecar)
}

// dataOf returns the data a checkpoint is analysed on and the data set's
// name: for a preset, the data set given, or the one it was trained on
// (loaded once per job); for an exported TorchScript model, the user's
// images in Env.DataDir (an image folder or a tensor file), sized and
// normalised as its sidecar says (decoded once per process).
func (d *datasets) dataOf(r meta.Resolved, given string, split data.Split) (*data.Dataset, string, error) {
	if r.TorchScript == "" {
		name, err := datasetOf(r, given)
		if err != nil {
			return nil, "", err
		}
		s, err := d.get(name, split)
		return s, name, err
	}
	if given != "" {
		return nil, "", errs.Optionf("--dataset %s: %s is an exported TorchScript model; its images come from --data (an image folder or a .safetensors file)", given, r.Sidecar)
	}
	s, err := models.TorchScriptData(r.Checkpoint, d.dir, split)
	if errors.Is(err, models.ErrNoUserData) {
		return nil, "", &errs.OptionError{Err: err}
	}
	if err != nil {
		return nil, "", err
	}
	return s, s.Info.Name, nil
}

// checkTorchScript loads every exported TorchScript model of rs once, so
// that a module that is not TorchScript, a sidecar of another export or one
// that does not match the module stops the job before it writes anything.
// With hessian set it also takes one Hessian-vector product on two of the
// model's images (d), so that an operation without a second derivative
// stops it too.
func checkTorchScript(r meta.Resolved, dev gotch.Device, d *data.Dataset, hessian bool) error {
	if r.TorchScript == "" {
		return nil
	}
	m, err := models.LoadTorchScript(r.Sidecar, dev)
	if err != nil {
		return err
	}
	defer m.Close()
	if !hessian || d == nil || d.Len() == 0 {
		return nil
	}
	return torchx.OnLockedThread(func() error {
		idx := []int{0, min(1, d.Len()-1)}
		b, err := torchdata.NewBatch(d, idx, data.Augment{}, nil)
		if err != nil {
			return err
		}
		defer b.Close()
		h, err := analysis.NewBatchHessian(m, b, &analysis.HessianOptions{Label: "a check of " + r.Label})
		if err != nil {
			return err
		}
		defer h.Close()
		v := make([]float64, h.Dim())
		v[0] = 1
		if err := h.MulVec(make([]float64, h.Dim()), v); err != nil {
			return fmt.Errorf("%s: %w", r.Sidecar, err)
		}
		return nil
	})
}

// knownModel checks that a checkpoint's model can be built: a preset, or
// an exported TorchScript model (checked when loaded).
func knownModel(r meta.Resolved) error {
	if r.TorchScript != "" {
		return nil
	}
	if _, err := models.Describe(r.Spec.Name); err != nil {
		return fmt.Errorf("checkpoint %s: %w", r.Sidecar, err)
	}
	return nil
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/shard"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
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

// knownModel checks that a checkpoint's model can be built.
func knownModel(r meta.Resolved) error {
	if _, err := models.Describe(r.Spec.Name); err != nil {
		return fmt.Errorf("checkpoint %s: %w", r.Sidecar, err)
	}
	return nil
}

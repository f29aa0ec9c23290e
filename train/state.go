package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/safetensors"
	"github.com/vitprobe/vitprobe/torchx"
)

// EpochMetrics is one epoch's record (see results.EpochMetrics).
type EpochMetrics = results.EpochMetrics

// sums accumulates an epoch's training loss and accuracy, so that an
// epoch interrupted and resumed reports the same figures.
type sums struct {
	Loss    float64 `json:"loss"`
	Correct int     `json:"correct"`
	Seen    int     `json:"seen"`
	Seconds float64 `json:"seconds"`
	// Window sums the steps since the last point of Trace.
	Window window       `json:"window"`
	Trace  []TracePoint `json:"trace,omitempty"`
}

// window accumulates the training loss and accuracy of a few steps.
type window struct {
	Loss    float64 `json:"loss"`
	Correct int     `json:"correct"`
	Seen    int     `json:"seen"`
}

// TracePoint is the training loss and accuracy over the steps since the
// previous point (see results.TracePoint).
type TracePoint = results.TracePoint

// TracePoints is the number of TracePoints recorded per epoch.
const TracePoints = 25

// trainState is the trainer's part of a checkpoint sidecar.
type trainState struct {
	Config  Config `json:"config"`
	Threads int    `json:"threads"`
	// Workers is the number of workers each step was split over (1: one
	// pass on Threads threads).
	Workers int `json:"workers,omitempty"`
	// BLAS names OpenBLAS's kernels (torchx.BLASCore) of the latest stretch.
	BLAS    string         `json:"blas,omitempty"`
	Metrics []EpochMetrics `json:"metrics"`
	// Position: the epoch in progress (from 0) and how many of its batches
	// are done; Step = Epoch·batches + Batch.
	Epoch int   `json:"epoch"`
	Batch int   `json:"batch"`
	Sums  sums  `json:"sums"`
	Step  int64 `json:"step"`
	// Optim names the optimiser-state file (AdamW moments), relative to the
	// sidecar; empty at init.
	Optim string `json:"optim,omitempty"`
	// OptimSHA256 is the data hash of the optimiser-state file.
	OptimSHA256 string `json:"optim_sha256,omitempty"`
}

// optimizer holds AdamW's moment buffers, one pair per trainable parameter
// in name order, as views of two flat buffers (flatopt.go).
type optimizer struct {
	names []string
	m, v  []*ts.Tensor
	flatState
}

func newOptimizer(params []models.Param) (*optimizer, error) {
	o := &optimizer{}
	if err := o.attach(params); err != nil {
		o.close()
		return nil, err
	}
	for _, p := range params {
		o.names = append(o.names, p.Name)
	}
	return o, nil
}

func (o *optimizer) close() {
	torchx.DropAll(o.m)
	torchx.DropAll(o.v)
	o.m, o.v = nil, nil
	o.flatState.close()
}

func (o *optimizer) save(path string) (string, error) {
	var tensors []safetensors.Tensor
	for i, n := range o.names {
		for _, mv := range []struct {
			prefix string
			t      *ts.Tensor
		}{{"exp_avg.", o.m[i]}, {"exp_avg_sq.", o.v[i]}} {
			vals, err := torchx.Values[float32](mv.t)
			if err != nil {
				return "", err
			}
			shape, err := mv.t.Size()
			if err != nil {
				return "", err
			}
			tensors = append(tensors, safetensors.FromFloat32s(mv.prefix+n, shape, vals))
		}
	}
	var buf bytes.Buffer
	hash, err := safetensors.Encode(&buf, tensors, map[string]string{"optimizer": "adamw"})
	if err != nil {
		return "", err
	}
	return hash, atomicfile.WriteFile(path, buf.Bytes())
}

func (o *optimizer) load(path, hash string) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	if f.DataSHA256 != hash {
		return fmt.Errorf("%s: hash %.12s differs from the checkpoint's %.12s (file replaced or corrupt)", path, f.DataSHA256, hash)
	}
	if len(f.Tensors) != 2*len(o.names) {
		return fmt.Errorf("%s: %d tensors, want %d (2 per parameter)", path, len(f.Tensors), 2*len(o.names))
	}
	for i, n := range o.names {
		for _, mv := range []struct {
			prefix string
			t      *ts.Tensor
		}{{"exp_avg.", o.m[i]}, {"exp_avg_sq.", o.v[i]}} {
			t, ok := f.Lookup(mv.prefix + n)
			if !ok {
				return fmt.Errorf("%s: no %s%s", path, mv.prefix, n)
			}
			vals, err := t.Float32s()
			if err != nil {
				return err
			}
			if err := torchx.CopyIn(mv.t, vals); err != nil {
				return fmt.Errorf("%s: %s%s: %w", path, mv.prefix, n, err)
			}
		}
	}
	return nil
}

// saveCheckpoint writes the optimiser state (if any), then the model's
// weights and sidecar under dir/name.
func saveCheckpoint(dir, name, phase string, m models.Model, o *optimizer, st trainState) (string, error) {
	base := filepath.Join(dir, name)
	if o != nil {
		st.Optim = name + ".optim.safetensors"
		h, err := o.save(base + ".optim.safetensors")
		if err != nil {
			return "", fmt.Errorf("train: save optimiser state: %w", err)
		}
		st.OptimSHA256 = h
	}
	js, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	ck := models.Checkpoint{Phase: phase, Dataset: st.Config.Dataset, Fraction: st.Config.Fraction,
		Epoch: st.Epoch, Step: st.Step, Seed: st.Config.Seed, Train: js}
	if _, err := models.Save(base, m, ck); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	return base + ".json", nil
}

// latest finds the checkpoint of dir with the most steps done.
func latest(dir string) (string, models.Checkpoint, trainState, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return "", models.Checkpoint{}, trainState{}, err
	}
	sort.Strings(files)
	var best string
	var bestCk models.Checkpoint
	var bestSt trainState
	found := false
	for _, f := range files {
		if strings.HasSuffix(f, "run.json") || strings.HasSuffix(f, "metrics.json") {
			continue
		}
		ck, err := models.ReadCheckpoint(f)
		if err != nil || len(ck.Train) == 0 {
			continue
		}
		var st trainState
		if err := json.Unmarshal(ck.Train, &st); err != nil {
			continue
		}
		if !found || st.Step > bestSt.Step {
			best, bestCk, bestSt, found = f, ck, st, true
		}
	}
	if !found {
		return "", models.Checkpoint{}, trainState{}, os.ErrNotExist
	}
	return best, bestCk, bestSt, nil
}

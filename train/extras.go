package train

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/safetensors"
	"github.com/vitprobe/vitprobe/torchx"
)

// ValidationSeed draws the validation split of every run that holds one
// out (Config.Validation): one fixed seed, so that runs of any seed, and
// of any architecture, are scored on the same images.
const ValidationSeed uint64 = 0x76616c // "val"

// Split returns the training examples of a run (the stratified Fraction
// of the training split, or of what the validation split leaves) and its
// validation examples (nil when Config.Validation is 0), from the training
// split d.
func Split(d *data.Dataset, c Config) (trainIdx, valIdx []int, err error) {
	if c.Validation == 0 {
		trainIdx, err = d.Subset(c.Fraction, c.Seed)
		return trainIdx, nil, err
	}
	rest, held, err := d.Holdout(c.Validation, ValidationSeed)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	trainIdx, err = d.SubsetOf(rest, c.Fraction, c.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	return trainIdx, held, nil
}

// resolveInit fills c.InitSHA256 with the weights hash of the checkpoint
// c.Init, so that the run records which weights it started from and a
// resume refuses a checkpoint replaced since.
func resolveInit(c Config) (Config, error) {
	if c.Init == "" {
		if c.NewHead {
			return c, fmt.Errorf("train: a new head (--new-head) needs weights to start from (--init)")
		}
		return c, nil
	}
	ck, err := models.ReadCheckpoint(c.Init)
	if err != nil {
		return c, fmt.Errorf("train: init: %w", err)
	}
	if ck.Spec.Name != c.Model {
		return c, fmt.Errorf("train: init checkpoint %s is a %s, not a %s", c.Init, ck.Spec.Name, c.Model)
	}
	want, got := ck.Spec.Config, c.ModelConfig
	want.Classes, got.Classes = 0, 0
	if want != got {
		return c, fmt.Errorf("train: init checkpoint %s was made with model options %+v, this run asks for %+v", c.Init, ck.Spec.Config, c.ModelConfig)
	}
	if ck.Spec.Config.Classes != c.ModelConfig.Classes && !c.NewHead {
		return c, fmt.Errorf("train: init checkpoint %s has %d classes, %s has %d: start a new classifier with --new-head",
			c.Init, ck.Spec.Config.Classes, c.Dataset, c.ModelConfig.Classes)
	}
	c.InitSHA256 = ck.WeightsSHA256
	return c, nil
}

// loadInit copies the weights of checkpoint c.Init into the freshly
// initialised m: every tensor, or, with c.NewHead, every tensor but the
// classifier's (models.HeadParams), which keeps its fresh initialisation.
func loadInit(m models.Model, c Config) error {
	ck, err := models.ReadCheckpoint(c.Init)
	if err != nil {
		return fmt.Errorf("train: init: %w", err)
	}
	if ck.WeightsSHA256 != c.InitSHA256 {
		return fmt.Errorf("train: init checkpoint %s now holds weights %.12s, the run started from %.12s", c.Init, ck.WeightsSHA256, c.InitSHA256)
	}
	wpath := filepath.Join(filepath.Dir(c.Init), ck.Weights)
	f, err := safetensors.ReadFile(wpath)
	if err != nil {
		return fmt.Errorf("train: init: %w", err)
	}
	if f.DataSHA256 != ck.WeightsSHA256 {
		return fmt.Errorf("train: init: %s hashes to %.12s, its sidecar says %.12s", wpath, f.DataSHA256, ck.WeightsSHA256)
	}
	var skip []string
	if c.NewHead {
		skip = models.HeadParams(m)
	}
	ps := m.Params()
	for _, p := range ps {
		if slices.Contains(skip, p.Name) {
			continue
		}
		t, ok := f.Lookup(p.Name)
		if !ok {
			return fmt.Errorf("train: init checkpoint %s has no tensor %s", c.Init, p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return fmt.Errorf("train: init checkpoint %s: %s has shape %v, the model %v", c.Init, p.Name, t.Shape, p.Shape)
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("train: init: %w", err)
		}
		if err := torchx.CopyIn(p.Tensor, v); err != nil {
			return fmt.Errorf("train: init %s: %w", p.Name, err)
		}
	}
	return nil
}

// SnapshotDir is the folder of a run's weight snapshots (Options.SnapshotEvery).
const SnapshotDir = "snapshots"

// SnapshotTensor names the one tensor of a snapshot file: every trainable
// parameter, flattened and concatenated in name order.
const SnapshotTensor = "weights"

// SnapshotPath returns the path of the snapshot of step in run folder dir.
func SnapshotPath(dir string, step int64) string {
	return filepath.Join(dir, SnapshotDir, fmt.Sprintf("step-%07d.safetensors", step))
}

// snapshot writes the trainable weights of m at step into the run's
// snapshot folder as one flat float32 tensor (SnapshotTensor), with the
// step and the model in the metadata, atomically.
func snapshot(dir string, m models.Model, step int64) error {
	_, params := trainableParams(m)
	var flat []float32
	for _, p := range params {
		v, err := torchx.Values[float32](p.Tensor)
		if err != nil {
			return fmt.Errorf("train: snapshot %s: %w", p.Name, err)
		}
		flat = append(flat, v...)
	}
	var buf bytes.Buffer
	meta := map[string]string{"step": strconv.FormatInt(step, 10), "vitprobe_model": m.Spec().Name}
	if _, err := safetensors.Encode(&buf, []safetensors.Tensor{safetensors.FromFloat32s(SnapshotTensor, []int64{int64(len(flat))}, flat)}, meta); err != nil {
		return fmt.Errorf("train: snapshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, SnapshotDir), 0o755); err != nil {
		return fmt.Errorf("train: snapshot: %w", err)
	}
	if err := atomicfile.WriteFile(SnapshotPath(dir, step), buf.Bytes()); err != nil {
		return fmt.Errorf("train: snapshot: %w", err)
	}
	return nil
}

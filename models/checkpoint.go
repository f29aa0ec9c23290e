package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/safetensors"
	"github.com/vitprobe/vitprobe/torchx"
)

// Checkpoint is the JSON sidecar of a checkpoint (see meta.Checkpoint):
// everything needed to rebuild the model and to say where its weights came
// from. The weights themselves are a safetensors file beside it with the
// same base name.
type Checkpoint = meta.Checkpoint

// Ref names a checkpoint on a command line, "label=path" (see meta.Ref).
type Ref = meta.Ref

// paths returns the sidecar and weights paths for a checkpoint path given
// with or without one of the two extensions.
func paths(path string) (sidecar, weights string) { return meta.Paths(path) }

// StateTensors returns m's parameters and buffers as safetensors tensors.
func StateTensors(m Model) ([]safetensors.Tensor, error) {
	ps := m.Params()
	out := make([]safetensors.Tensor, 0, len(ps))
	for _, p := range ps {
		v, err := torchx.Values[float32](p.Tensor)
		if err != nil {
			return nil, fmt.Errorf("models: read %s: %w", p.Name, err)
		}
		out = append(out, safetensors.FromFloat32s(p.Name, p.Shape, v))
	}
	return out, nil
}

// Save writes m's weights and the sidecar ck to path (".json" or
// ".safetensors" or neither), each atomically, weights first: a sidecar on
// disk always describes complete weights. It fills ck's Version, Spec,
// Weights, WeightsSHA256 and Params and returns the completed sidecar.
func Save(path string, m Model, ck Checkpoint) (Checkpoint, error) {
	sidecar, weights := paths(path)
	state, err := StateTensors(m)
	if err != nil {
		return ck, err
	}
	var buf bytes.Buffer
	meta := map[string]string{"format": "pt", "vitprobe_model": m.Spec().Name}
	hash, err := safetensors.Encode(&buf, state, meta)
	if err != nil {
		return ck, fmt.Errorf("models: save %s: %w", weights, err)
	}
	if err := atomicfile.WriteFile(weights, buf.Bytes()); err != nil {
		return ck, fmt.Errorf("models: save: %w", err)
	}
	ck.Version = prov.Version
	ck.Spec = m.Spec()
	ck.Weights = filepath.Base(weights)
	ck.WeightsSHA256 = hash
	ck.Params = NumParams(m)
	js, err := json.MarshalIndent(ck, "", "  ")
	if err != nil {
		return ck, fmt.Errorf("models: save %s: %w", sidecar, err)
	}
	if err := atomicfile.WriteFile(sidecar, append(js, '\n')); err != nil {
		return ck, fmt.Errorf("models: save: %w", err)
	}
	return ck, nil
}

// ReadCheckpoint reads a checkpoint's sidecar (path with or without
// extension; see meta.ReadCheckpoint).
func ReadCheckpoint(path string) (Checkpoint, error) {
	ck, err := meta.ReadCheckpoint(path)
	if err != nil {
		return ck, fmt.Errorf("models: %w", err)
	}
	return ck, nil
}

// Load rebuilds the model a checkpoint describes on dev and loads its
// weights, checking their hash against the sidecar. An exported
// TorchScript model (meta.IsTorchScript) is loaded with LoadTorchScript.
func Load(path string, dev gotch.Device) (Model, Checkpoint, error) {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, ck, err
	}
	if ck.TorchScript != "" {
		m, err := LoadTorchScript(path, dev)
		if err != nil {
			return nil, ck, err
		}
		return m, ck, nil
	}
	sidecar, _ := paths(path)
	wpath := filepath.Join(filepath.Dir(sidecar), ck.Weights)
	f, err := safetensors.ReadFile(wpath)
	if err != nil {
		return nil, ck, fmt.Errorf("models: checkpoint weights: %w", err)
	}
	if f.DataSHA256 != ck.WeightsSHA256 {
		return nil, ck, fmt.Errorf("models: %s: weights hash %.12s differs from the sidecar's %.12s (file replaced or corrupt)", wpath, f.DataSHA256, ck.WeightsSHA256)
	}
	m, err := FromSpec(ck.Spec, dev)
	if err != nil {
		return nil, ck, fmt.Errorf("models: checkpoint %s: %w", sidecar, err)
	}
	if err := LoadState(m, f); err != nil {
		m.Close()
		var inc *errs.IncompatibleError
		if errors.As(err, &inc) {
			inc.Checkpoint = wpath
			return nil, ck, fmt.Errorf("models: %w", inc)
		}
		return nil, ck, fmt.Errorf("models: checkpoint %s: %w", wpath, err)
	}
	return m, ck, nil
}

// LoadWeightsFile loads a safetensors file (for example one exported from
// PyTorch with the same parameter names) into m.
func LoadWeightsFile(m Model, path string) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return LoadState(m, f)
}

// LoadState copies every parameter and buffer of m from f. Names and shapes
// must match exactly; the error lists what differs (a checkpoint of another
// architecture, typically).
func LoadState(m Model, f *safetensors.File) error {
	ps := m.Params()
	var missing, wrong []string
	want := map[string]bool{}
	for _, p := range ps {
		want[p.Name] = true
		t, ok := f.Lookup(p.Name)
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(p.Shape) || t.DType != safetensors.F32 {
			wrong = append(wrong, fmt.Sprintf("%s (%s%v, want F32%v)", p.Name, t.DType, t.Shape, p.Shape))
		}
	}
	var extra []string
	for _, t := range f.Tensors {
		if !want[t.Name] {
			extra = append(extra, t.Name)
		}
	}
	if len(missing)+len(wrong)+len(extra) > 0 {
		return &errs.IncompatibleError{Reason: fmt.Sprintf("weights do not fit model %s: %s", m.Spec().Name, describeMismatch(missing, wrong, extra))}
	}
	for _, p := range ps {
		t, _ := f.Lookup(p.Name)
		v, err := t.Float32s()
		if err != nil {
			return err
		}
		if err := torchx.CopyIn(p.Tensor, v); err != nil {
			return fmt.Errorf("load %s: %w", p.Name, err)
		}
	}
	return nil
}

func describeMismatch(missing, wrong, extra []string) string {
	list := func(what string, xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		n, more := len(xs), ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
			xs = xs[:3]
		}
		return fmt.Sprintf("%d %s (%s%s)", n, what, strings.Join(xs, ", "), more)
	}
	var parts []string
	for _, p := range []string{list("missing", missing), list("with another shape", wrong), list("unexpected", extra)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

// ParseRefs reads checkpoint arguments, "path" or "label=path" (see
// meta.ParseRef).
func ParseRefs(args []string) ([]Ref, error) { return meta.ParseRefs(args) }

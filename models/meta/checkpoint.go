package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Checkpoint is the JSON sidecar of a checkpoint: everything needed to
// rebuild the model and to say where its weights came from. The weights
// themselves are a safetensors file beside it with the same base name.
type Checkpoint struct {
	Version string `json:"version"`
	Spec    Spec   `json:"model"`
	// Phase names the moment of training: "init", "warmup" (end of warm-up,
	// the paper's early phase), "epoch-N", "final", "interrupt".
	Phase    string  `json:"phase"`
	Dataset  string  `json:"dataset,omitempty"`
	Fraction float64 `json:"fraction,omitempty"`
	Epoch    int     `json:"epoch"`
	Step     int64   `json:"step"`
	Seed     uint64  `json:"seed"`
	// Weights is the weights file's name, relative to the sidecar.
	Weights string `json:"weights"`
	// WeightsSHA256 is the hash of the weights' data bytes (metadata
	// excluded): equal hashes mean bit-identical weights.
	WeightsSHA256 string `json:"weights_sha256"`
	Params        int64  `json:"params"`
	// Train holds the trainer's own state (configuration, metrics so far,
	// optimiser file); Training reads what the analyses need of it.
	Train json.RawMessage `json:"train,omitempty"`
	// TorchScript is set, to the module's path, on the checkpoint that
	// ReadCheckpoint makes for an exported TorchScript model
	// (TorchScriptCheckpoint); it is never written to a file.
	TorchScript string `json:"-"`
}

// Paths returns the sidecar and weights paths for a checkpoint path given
// with or without one of the two extensions.
func Paths(path string) (sidecar, weights string) {
	base := strings.TrimSuffix(strings.TrimSuffix(path, ".json"), ".safetensors")
	return base + ".json", base + ".safetensors"
}

// SidecarPath resolves a checkpoint argument to its sidecar: a run folder
// gives its final.json, a weights file or base path the .json beside it,
// an exported TorchScript module (model.pt) its sidecar (model.json).
func SidecarPath(path string) (string, error) {
	if IsTorchScript(path) {
		module, s := TorchScriptPaths(path)
		if _, err := os.Stat(s); errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s has no sidecar %s (export the model with python/vitprobe_export.py, which writes both)", module, s)
		}
		return s, nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		f := filepath.Join(path, "final.json")
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("%s is a folder without final.json: name a checkpoint in it", path)
		}
		return f, nil
	}
	s, _ := Paths(path)
	return s, nil
}

// ReadCheckpoint reads a checkpoint's sidecar (path with or without
// extension). A spec without a family gets its preset's. For an exported
// TorchScript model (IsTorchScript: model.pt or its sidecar) it returns
// TorchScriptCheckpoint's stand-in.
func ReadCheckpoint(path string) (Checkpoint, error) {
	if IsTorchScript(path) {
		ck, _, err := TorchScriptCheckpoint(path)
		return ck, err
	}
	sidecar, _ := Paths(path)
	b, err := os.ReadFile(sidecar)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Checkpoint{}, fmt.Errorf("checkpoint %s does not exist", sidecar)
		}
		return Checkpoint{}, err
	}
	var ck Checkpoint
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ck); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %s: not a vitprobe checkpoint sidecar: %w", sidecar, err)
	}
	if ck.Spec.Name == "" || ck.Weights == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint %s: no model or weights recorded", sidecar)
	}
	if ck.Spec.Family == "" {
		ck.Spec.Family, _ = PresetFamily(ck.Spec.Name)
	}
	return ck, nil
}

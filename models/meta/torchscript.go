package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vitprobe/vitprobe/data"
)

// TorchScriptFormat is the "format" field of the sidecar that
// python/vitprobe_export.py writes beside a TorchScript module.
const TorchScriptFormat = "vitprobe-torchscript"

// TorchScriptSidecar is the JSON file beside an exported TorchScript module
// (model.pt -> model.json): what the module's outputs are and how its input
// is made. docs/torchscript.md describes every field.
type TorchScriptSidecar struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	// Name is the model's name in tables and plots.
	Name string `json:"name"`
	// Family is the architecture family ("resnet", "vit", "alternet"), as
	// the exporter recognised it or was told; "" for others.
	Family Family `json:"family,omitempty"`
	// Module is the TorchScript file's name, relative to the sidecar, and
	// ModuleSHA256 the hash of its bytes.
	Module       string `json:"module"`
	ModuleSHA256 string `json:"module_sha256"`
	// Classes is the number of logits.
	Classes int `json:"classes"`
	// Params is the number of trainable parameters (elements).
	Params int64 `json:"params"`
	// Input is the image shape the module takes: Channels x Size x Size.
	Input struct {
		Channels int `json:"channels"`
		Size     int `json:"size"`
	} `json:"input"`
	// Mean and Std normalise pixels per channel: (v/255 - Mean) / Std.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// ParamPrefix is the prefix of every parameter name in the module (the
	// exporter's wrapper attribute, "model."), removed from Params' names.
	ParamPrefix string `json:"param_prefix"`
	// TrainMethod names the method traced in training mode ("" when none).
	TrainMethod string `json:"train_method"`
	// Layers lists the observed layers in depth order; every layer but a
	// final head is one tensor of the module's output tuple, in order.
	Layers []TorchScriptLayer `json:"layers"`
	// ParamKinds gives the kind of the parameters (names without the
	// prefix) whose kind the default rule (TorchScriptParamKind) gets wrong.
	ParamKinds map[string]string `json:"param_kinds,omitempty"`
	// Torch is the exporting PyTorch's version.
	Torch string `json:"torch,omitempty"`
	// LayerChoice is "automatic" or "given".
	LayerChoice string `json:"layer_choice,omitempty"`
}

// TorchScriptLayer is one observed layer of a sidecar.
type TorchScriptLayer struct {
	Index  int       `json:"index"`
	Name   string    `json:"name"`
	Kind   LayerKind `json:"kind"`
	Tokens bool      `json:"tokens"`
	CLS    bool      `json:"cls"`
	// Module and At say where the exporter took the output: the output or
	// the first input of that submodule (informative only).
	Module string `json:"module,omitempty"`
	At     string `json:"at,omitempty"`
	// Shape is the output's shape without the batch dimension.
	Shape []int64 `json:"shape"`
}

// TorchScriptPaths returns the module and sidecar paths for path, which
// names either (model.pt or model.json; a path with neither extension is the
// module, its sidecar path + ".json").
func TorchScriptPaths(path string) (module, sidecar string) {
	switch filepath.Ext(path) {
	case ".json":
		return strings.TrimSuffix(path, ".json") + ".pt", path
	case ".pt":
		return path, strings.TrimSuffix(path, ".pt") + ".json"
	}
	return path, path + ".json"
}

// IsTorchScript reports whether path names an exported TorchScript model
// rather than a vitprobe checkpoint: a ".pt" file, or a ".json" sidecar
// whose format is TorchScriptFormat.
func IsTorchScript(path string) bool {
	switch filepath.Ext(path) {
	case ".pt":
		return true
	case ".json":
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		var head struct {
			Format string `json:"format"`
		}
		return json.Unmarshal(b, &head) == nil && head.Format == TorchScriptFormat
	}
	return false
}

// ReadTorchScriptSidecar reads and validates the sidecar of the exported
// model at path (the module or the sidecar).
func ReadTorchScriptSidecar(path string) (*TorchScriptSidecar, error) {
	module, sidecar := TorchScriptPaths(path)
	b, err := os.ReadFile(sidecar)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s has no sidecar %s (export the model with python/vitprobe_export.py, which writes both)", module, sidecar)
	}
	if err != nil {
		return nil, err
	}
	var s TorchScriptSidecar
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: not a vitprobe TorchScript sidecar: %w", sidecar, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", sidecar, err)
	}
	return &s, nil
}

func (s *TorchScriptSidecar) validate() error {
	switch {
	case s.Format != TorchScriptFormat:
		return fmt.Errorf("format %q, want %q (not a file of python/vitprobe_export.py)", s.Format, TorchScriptFormat)
	case s.FormatVersion != 1:
		return fmt.Errorf("format version %d; this vitprobe reads version 1", s.FormatVersion)
	case s.Name == "":
		return errors.New("no model name")
	case s.Classes < 2:
		return fmt.Errorf("classes = %d, want at least 2", s.Classes)
	case s.Params < 1:
		return fmt.Errorf("params = %d, want the number of trainable parameters", s.Params)
	case s.Input.Channels < 1 || s.Input.Size < 1:
		return fmt.Errorf("input %d x %d x %d: want positive channels and size", s.Input.Channels, s.Input.Size, s.Input.Size)
	case len(s.Mean) != s.Input.Channels || len(s.Std) != s.Input.Channels:
		return fmt.Errorf("%d mean and %d std values for %d channels", len(s.Mean), len(s.Std), s.Input.Channels)
	case len(s.Layers) == 0:
		return errors.New("no layers")
	}
	for _, v := range s.Std {
		if !(v > 0) {
			return fmt.Errorf("std %v: want positive values", s.Std)
		}
	}
	names := map[string]bool{}
	for i, l := range s.Layers {
		if l.Index != i {
			return fmt.Errorf("layer %q has index %d at position %d", l.Name, l.Index, i)
		}
		if l.Name == "" || names[l.Name] {
			return fmt.Errorf("layer %d: empty or repeated name %q", i, l.Name)
		}
		names[l.Name] = true
		if l.Kind == KindHead && i != len(s.Layers)-1 {
			return fmt.Errorf("layer %q: the head must be the last layer", l.Name)
		}
		if l.CLS && !l.Tokens {
			return fmt.Errorf("layer %q: a class token without a token output", l.Name)
		}
		if l.Kind != KindHead {
			want := 3
			if l.Tokens {
				want = 2
			}
			if len(l.Shape) != want {
				return fmt.Errorf("layer %q: shape %v, want %d dimensions after the batch", l.Name, l.Shape, want)
			}
		}
	}
	for n, k := range s.ParamKinds {
		if _, err := ParseParamKind(k); err != nil || k == ParamBuffer.String() {
			return fmt.Errorf("parameter %s: kind %q is not a parameter kind", n, k)
		}
	}
	return nil
}

// TorchScriptCheckpoint reads the sidecar of the exported model at path and
// returns the Checkpoint that stands for it where the commands take
// checkpoints: its spec, the module's hash as the weights hash (checked when
// the module is loaded), the parameter count, the module's path in
// TorchScript and Weights; no phase, dataset or training state. The data of
// such a model come from the user (data.LoadUserData with DataInput).
func TorchScriptCheckpoint(path string) (Checkpoint, *TorchScriptSidecar, error) {
	s, err := ReadTorchScriptSidecar(path)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	module, sidecar := TorchScriptPaths(path)
	if s.Module != "" {
		module = filepath.Join(filepath.Dir(sidecar), s.Module)
	}
	return Checkpoint{Spec: s.Spec(), Weights: filepath.Base(module), WeightsSHA256: s.ModuleSHA256, Params: s.Params,
		TorchScript: module}, s, nil
}

// Spec is the Spec of the sidecar's model.
func (s *TorchScriptSidecar) Spec() Spec {
	return Spec{Name: s.Name, Family: s.Family, Config: Config{Classes: s.Classes, InChannels: s.Input.Channels, ImageSize: s.Input.Size}}
}

// DataInput is what the model takes, for data.LoadUserData.
func (s *TorchScriptSidecar) DataInput() data.Input {
	return data.Input{Side: s.Input.Size, Channels: s.Input.Channels, Classes: s.Classes,
		Mean: slices.Clone(s.Mean), Std: slices.Clone(s.Std)}
}

// ParseParamKind is ParamKind's String inverse.
func ParseParamKind(s string) (ParamKind, error) {
	for i, n := range paramKindNames {
		if n == s {
			return ParamKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown parameter kind %q", s)
}

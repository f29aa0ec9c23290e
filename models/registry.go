package models

import (
	"fmt"
	"sort"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/models/pattern"
	"github.com/vitprobe/vitprobe/torchx"
)

// Config is the part of a model's definition a user can change (see
// meta.Config). Defaults returns a preset's values; New validates them.
type Config = meta.Config

// Spec identifies a model: preset name, family and configuration (see
// meta.Spec). It is what checkpoints record to rebuild the model.
type Spec = meta.Spec

// Family is a model's architecture family (see meta.Family).
type Family = meta.Family

// preset is one registered architecture.
type preset struct {
	doc      string
	defaults Config
	build    func(cfg Config, dev gotch.Device) (Model, error)
}

var registry = map[string]preset{}

func register(name string, p preset) {
	if _, dup := registry[name]; dup {
		panic("models: duplicate preset " + name)
	}
	if _, ok := meta.PresetFamily(name); !ok {
		panic("models: preset " + name + " has no family in meta's preset table")
	}
	registry[name] = p
}

// presetSpec is the spec of preset name with configuration cfg.
func presetSpec(name string, cfg Config) Spec {
	f, _ := meta.PresetFamily(name)
	return Spec{Name: name, Family: f, Config: cfg}
}

// Names returns the registered preset names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe returns a preset's one-line description.
func Describe(name string) (string, error) {
	p, err := lookup(name)
	if err != nil {
		return "", err
	}
	return p.doc, nil
}

func lookup(name string) (preset, error) {
	p, ok := registry[name]
	if !ok && pattern.IsName(name) {
		return patternPreset(name)
	}
	if !ok {
		return preset{}, fmt.Errorf("models: %w", &errs.UnknownModelError{Name: name, Known: Names()})
	}
	return p, nil
}

// Defaults returns the preset's default configuration.
func Defaults(name string) (Config, error) {
	p, err := lookup(name)
	if err != nil {
		return Config{}, err
	}
	return p.defaults, nil
}

// New builds the preset name with configuration cfg on device dev, with
// freshly initialised weights drawn from libtorch's generator (seed it with
// torchx.Seed first for reproducible weights).
func New(name string, cfg Config, dev gotch.Device) (Model, error) {
	p, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if err := validate(cfg); err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	if dev.IsCuda() && !torchx.CUDAAvailable() {
		return nil, fmt.Errorf("models: device %v asked for, but this libtorch has no usable CUDA", dev)
	}
	return p.build(cfg, dev)
}

// FromSpec builds the model a Spec describes.
func FromSpec(s Spec, dev gotch.Device) (Model, error) { return New(s.Name, s.Config, dev) }

func validate(c Config) error {
	switch {
	case c.Classes < 2:
		return fmt.Errorf("classes = %d, want at least 2", c.Classes)
	case c.InChannels < 1:
		return fmt.Errorf("in_channels = %d, want at least 1", c.InChannels)
	case c.ImageSize < 1:
		return fmt.Errorf("image size = %d, want at least 1", c.ImageSize)
	case c.DropPath < 0 || c.DropPath >= 1:
		return fmt.Errorf("drop path = %g, want a rate in [0, 1)", c.DropPath)
	case c.Window < 0 || (c.Window > 0 && c.Window%2 == 0):
		return fmt.Errorf("attention window = %d, want an odd size or 0 (global)", c.Window)
	}
	return nil
}

func errGAP(name string) error {
	return fmt.Errorf("models: %s: the GAP head option applies to ViT presets only", name)
}

package models

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/models/pattern"
	"github.com/vitprobe/vitprobe/torchx"
)

// Config is the part of a model's definition a user can change. Defaults
// returns a preset's values; New validates them.
type Config struct {
	// Classes is the number of output classes.
	Classes int `json:"classes"`
	// InChannels is the number of input image channels.
	InChannels int `json:"in_channels"`
	// ImageSize is the side of the square input images.
	ImageSize int `json:"image_size"`
	// GAPHead replaces ViT's class token by global average pooling of the
	// tokens (paper.md §1). Only ViT presets accept it.
	GAPHead bool `json:"gap_head,omitempty"`
	// DropPath is the largest stochastic-depth rate, reached by the last
	// block (rates grow linearly with depth).
	DropPath float64 `json:"drop_path"`
	// Window makes ViT's attention local: a patch token attends only to
	// the patch tokens of the Window x Window square centred on it (and to
	// the class token, which stays global). Odd; 0 is global attention.
	// Only ViT presets accept it.
	Window int `json:"window,omitempty"`
	// Blur smooths the feature map before every down-sampling block with
	// a fixed 3x3 binomial filter (spatial smoothing, as the paper's
	// reference code does). Only ResNet and AlterNet presets accept it.
	Blur bool `json:"blur,omitempty"`
}

// Spec identifies a model: the preset it was built from and its
// configuration. It is what checkpoints record to rebuild the model.
type Spec struct {
	Name   string `json:"name"`
	Config Config `json:"config"`
}

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
	registry[name] = p
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
		return preset{}, fmt.Errorf("models: unknown model %q (known: %s)", name, strings.Join(Names(), ", "))
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
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	if dev.IsCuda() && !torchx.CUDAAvailable() {
		return nil, fmt.Errorf("models: device %v asked for, but this libtorch has no usable CUDA", dev)
	}
	return p.build(cfg, dev)
}

// FromSpec builds the model a Spec describes.
func FromSpec(s Spec, dev gotch.Device) (Model, error) { return New(s.Name, s.Config, dev) }

func (c Config) validate() error {
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

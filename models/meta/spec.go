package meta

import "sort"

// Config is the part of a model's definition a user can change.
// models.Defaults returns a preset's values; models.New validates them.
type Config struct {
	// Classes is the number of output classes.
	Classes int `json:"classes"`
	// InChannels is the number of input image channels.
	InChannels int `json:"in_channels"`
	// ImageSize is the side of the square input images.
	ImageSize int `json:"image_size"`
	// GAPHead replaces ViT's class token by global average pooling of the
	// tokens. Only ViT presets accept it.
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

// Family is a model's architecture family, the unit the paper's claims
// compare (ViT against ResNet, AlterNet against ViT).
type Family string

// The families of the presets.
const (
	ResNet   Family = "resnet"
	ViT      Family = "vit"
	AlterNet Family = "alternet"
)

// Spec identifies a model: the preset it was built from, its family and
// its configuration. It is what checkpoints record to rebuild the model.
type Spec struct {
	Name string `json:"name"`
	// Family is the architecture family. Sidecars written before it was
	// recorded get it from the preset table when read (PresetFamily).
	Family Family `json:"family,omitempty"`
	Config Config `json:"config"`
}

// presetFamilies is the family of every preset of package models, which
// checks at start-up that each of its presets is listed here.
var presetFamilies = map[string]Family{
	"resnet18": ResNet, "resnet50": ResNet, "preact-resnet50": ResNet, "resnet-mini": ResNet,
	"vit-ti": ViT, "vit-s": ViT, "vit-mini": ViT,
	"alternet50": AlterNet, "alternet-mini": AlterNet,
}

// PresetFamily returns the family of the preset called name, and false
// for a name that is not a preset.
func PresetFamily(name string) (Family, bool) {
	f, ok := presetFamilies[name]
	return f, ok
}

// Presets returns the names of the presets, sorted.
func Presets() []string {
	out := make([]string, 0, len(presetFamilies))
	for n := range presetFamilies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

package models

import (
	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/models/meta"
)

// CIFAR-sized defaults of the paper's presets (CIFAR-100) and MNIST-sized
// defaults of the mini presets.
var (
	paperDefaults = Config{Classes: 100, InChannels: 3, ImageSize: 32}
	miniDefaults  = Config{Classes: 10, InChannels: 1, ImageSize: 32}
)

func withDrop(c Config, rate float64) Config {
	c.DropPath = rate
	return c
}

func init() {
	resnet18 := resnetArch{blocks: []int{2, 2, 2, 2}, widths: []int64{64, 128, 256, 512}, stem: 64}
	resnet50 := resnetArch{bottleneck: true, blocks: []int{3, 4, 6, 3}, widths: []int64{64, 128, 256, 512}, stem: 64}
	resnetMini := resnetArch{blocks: []int{1, 1, 1, 1}, widths: []int64{16, 32, 64, 128}, stem: 16}

	// The heads of stages without MSA blocks matter only to preset strings
	// that put MSA blocks there (pattern.go): they double from stage to
	// stage, as the build-up rule's "more heads in later stages" says.
	preact50 := alterArch{stem: 64, widths: []int64{64, 128, 256, 512},
		pattern: []string{"CCC", "CCCC", "CCCCCC", "CCC"}, heads: []int{3, 6, 12, 24}, dimHead: 64, window: 4}
	alter50 := alterArch{stem: 64, widths: []int64{64, 128, 256, 512},
		pattern: []string{"CCC", "CCCM", "CCCCCM", "CMCM"}, heads: []int{3, 6, 12, 24}, dimHead: 64, window: 4}
	alterMini := alterArch{stem: 16, widths: []int64{8, 16, 32, 64},
		pattern: []string{"C", "CM", "CM", "CM"}, heads: []int{1, 2, 4, 8}, dimHead: 16, window: 4}
	alterBases["preact-resnet50"], alterBases["alternet50"], alterBases["alternet-mini"] = preact50, alter50, alterMini

	vitTi := vitArch{patch: 2, dim: 192, depth: 12, heads: 3, mlp: 768}
	vitS := vitArch{patch: 2, dim: 384, depth: 12, heads: 6, mlp: 1536}
	vitMini := vitArch{patch: 4, dim: 64, depth: 6, heads: 4, mlp: 128}

	add := func(name, doc string, def Config, build func(Config, gotch.Device, string) (Model, error)) {
		register(name, preset{doc: doc, defaults: def, build: func(c Config, d gotch.Device) (Model, error) {
			f, _ := meta.PresetFamily(name)
			if err := checkOptions(name, f == meta.ViT, c); err != nil {
				return nil, err
			}
			return build(c, d, name)
		}})
	}
	resnet := func(a resnetArch) func(Config, gotch.Device, string) (Model, error) {
		return func(c Config, d gotch.Device, n string) (Model, error) { return newResNet(a, c, d, n) }
	}
	alter := func(a alterArch) func(Config, gotch.Device, string) (Model, error) {
		return func(c Config, d gotch.Device, n string) (Model, error) { return newAlterNet(a, c, d, n) }
	}
	vitb := func(a vitArch) func(Config, gotch.Device, string) (Model, error) {
		return func(c Config, d gotch.Device, n string) (Model, error) { return newViT(a, c, d, n) }
	}

	add("resnet18", "ResNet-18, CIFAR stem (3x3 conv, no max-pool), basic blocks [2,2,2,2]", paperDefaults, resnet(resnet18))
	add("resnet50", "ResNet-50, CIFAR stem (3x3 conv, no max-pool), bottlenecks [3,4,6,3]", paperDefaults, resnet(resnet50))
	add("preact-resnet50", "pre-activation ResNet-50, CIFAR stem, bottlenecks [3,4,6,3]", paperDefaults, alter(preact50))
	add("alternet50", "Alter-ResNet-50 for CIFAR-100: pre-activation stages 3-4-6-4, MSA blocks at the ends of stages 2-4 (6/12/24 heads of 64 dims, window 4)",
		withDrop(paperDefaults, 0.1), alter(alter50))
	add("vit-ti", "ViT-Ti, patch 2: dim 192, depth 12, 3 heads, MLP 768, no qkv bias, class token", withDrop(paperDefaults, 0.1), vitb(vitTi))
	add("vit-s", "ViT-S, patch 2: dim 384, depth 12, 6 heads, MLP 1536, no qkv bias, class token", withDrop(paperDefaults, 0.1), vitb(vitS))
	add("resnet-mini", "small ResNet for CPU: basic blocks [1,1,1,1], widths 16-32-64-128", miniDefaults, resnet(resnetMini))
	add("alternet-mini", "small AlterNet for CPU: pre-activation bottlenecks, stages C|CM|CM|CM, widths 32-64-128-256, 2/4/8 heads of 16 dims, window 4",
		miniDefaults, alter(alterMini))
	add("vit-mini", "small ViT for CPU: patch 4, dim 64, depth 6, 4 heads, MLP 128, no qkv bias, class token", miniDefaults, vitb(vitMini))
}

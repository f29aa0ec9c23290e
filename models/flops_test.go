package models

import (
	"testing"

	"github.com/sugarme/gotch"
)

// TestCountFLOPsByHand checks the matrix-product counts of CountFLOPs on
// tiny networks against sums done by hand from the layer shapes (2
// operations per multiply-add, batch 3), for forward, backward and
// Hessian-vector product (the rules of FLOPs: backward 2F per product, F
// for the first layer; HVP 6F, 2F for the first layer; attention 2A, 4A
// and 15A).
func TestCountFLOPsByHand(t *testing.T) {
	const B = 3
	cfg := Config{Classes: 3, InChannels: 1, ImageSize: 8}
	for _, c := range []struct {
		name          string
		build         func() (Model, error)
		fwd, bwd, hvp float64 // per image
	}{
		{
			// patch 4 on 8x8: 4 patches + class token = 5 tokens, dim 8,
			// 2 heads of 4, MLP 16.
			name: "vit",
			build: func() (Model, error) {
				return newViT(vitArch{patch: 4, dim: 8, depth: 1, heads: 2, mlp: 16}, cfg, gotch.CPU, "tiny-vit")
			},
			// patch conv 2·4·8·1·16 = 1024 (first layer); qkv 2·5·8·24 =
			// 1920; attention A = 2·2·25·4 = 400 per product, two; proj
			// 2·5·8·8 = 640; fc1, fc2 2·5·8·16 = 1280 each; head 2·8·3 = 48.
			fwd: 1024 + 1920 + 2*400 + 640 + 1280 + 1280 + 48,
			bwd: 1024 + 2*(1920+640+1280+1280+48) + 4*400,
			hvp: 2*1024 + 6*(1920+640+1280+1280+48) + 15*400,
		},
		{
			// stem 3x3 1->2 at 8x8, a basic block 2->2, a strided one
			// 2->4 with a 1x1 shortcut, fc 4->3.
			name: "resnet",
			build: func() (Model, error) {
				return newResNet(resnetArch{blocks: []int{1, 1}, widths: []int64{2, 4}, stem: 2}, cfg, gotch.CPU, "tiny-resnet")
			},
			// stem 2·64·2·1·9 = 2304; block 1: 2·64·2·2·9 = 4608 twice;
			// block 2: conv1 (stride 2, 4x4 out) 2·16·4·2·9 = 2304, conv2
			// 2·16·4·4·9 = 4608, shortcut 2·16·4·2 = 256; fc 2·4·3 = 24.
			fwd: 2304 + 4608 + 4608 + 2304 + 4608 + 256 + 24,
			bwd: 2304 + 2*(4608+4608+2304+4608+256+24),
			hvp: 2*2304 + 6*(4608+4608+2304+4608+256+24),
		},
		{
			// The same with spatial smoothing: a depthwise 3x3 filter of
			// the strided block's 2x8x8 input, 2·64·2·9 = 2304, counted
			// as a first layer (its kernel needs no gradient).
			name: "resnet blur",
			build: func() (Model, error) {
				c := cfg
				c.Blur = true
				return newResNet(resnetArch{blocks: []int{1, 1}, widths: []int64{2, 4}, stem: 2}, c, gotch.CPU, "tiny-resnet")
			},
			fwd: 2304 + 4608 + 4608 + 2304 + 2304 + 4608 + 256 + 24,
			bwd: 2304 + 2304 + 2*(4608+4608+2304+4608+256+24),
			hvp: 2*2304 + 2*2304 + 6*(4608+4608+2304+4608+256+24),
		},
		{
			// stem 3x3 1->4; stage 1 a bottleneck (width 2, out 8) with a
			// 1x1 shortcut; stage 2 a strided bottleneck and an MSA block
			// (1 head of 2 dims, 2x2 windows on the 4x4 map).
			name: "alternet",
			build: func() (Model, error) {
				return newAlterNet(alterArch{stem: 4, widths: []int64{2, 2}, pattern: []string{"C", "CM"},
					heads: []int{0, 1}, dimHead: 2, window: 2}, cfg, gotch.CPU, "tiny-alternet")
			},
			// stem 2·64·4·9 = 4608 (first); stage 1: conv1 2·64·2·4 =
			// 1024, conv2 2·64·2·2·9 = 4608, conv3 2·64·8·2 = 2048,
			// shortcut 2·64·8·4 = 4096; stage 2 C: conv1 2·64·2·8 = 2048,
			// conv2 (stride 2) 2·16·2·2·9 = 1152, conv3 2·16·8·2 = 512,
			// shortcut (stride 2) 2·16·8·8 = 2048; M: conv1 2·16·2·8 = 512,
			// qkv 2·16·6·2 = 384, attention over 4 windows of 4 tokens
			// A = 2·4·16·2 = 256 per product, proj 2·16·8·2 = 512; fc
			// 2·8·3 = 48.
			fwd: 4608 + 1024 + 4608 + 2048 + 4096 + 2048 + 1152 + 512 + 2048 + 512 + 384 + 2*256 + 512 + 48,
			bwd: 4608 + 2*(1024+4608+2048+4096+2048+1152+512+2048+512+384+512+48) + 4*256,
			hvp: 2*4608 + 6*(1024+4608+2048+4096+2048+1152+512+2048+512+384+512+48) + 15*256,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.build()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			f, err := CountFLOPs(m, B, Eval)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range []struct {
				what      string
				got, want float64
			}{{"forward", f.Forward.Products, B * c.fwd}, {"backward", f.Backward.Products, B * c.bwd}, {"HVP", f.HVP.Products, B * c.hvp}} {
				if x.got != x.want {
					t.Errorf("%s products: %v FLOPs, by hand %v", x.what, x.got, x.want)
				}
			}
			if f.Forward.Other <= 0 || f.Backward.Other != 2*f.Forward.Other || f.HVP.Other != 4*f.Forward.Other {
				t.Errorf("elementwise estimate %+v: want forward > 0, backward 2x, HVP 4x", f)
			}
		})
	}
}

// TestCountFLOPsPresets checks the account of the mini presets for what
// does not depend on counting conventions: products scale with the batch,
// and a user's own model is an error, not a guess.
func TestCountFLOPsPresets(t *testing.T) {
	for _, name := range []string{"resnet-mini", "vit-mini", "alternet-mini"} {
		cfg, err := Defaults(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(name, cfg, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		a, err1 := CountFLOPs(m, 1, Train)
		b, err2 := CountFLOPs(m, 16, Train)
		m.Close()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if b.Forward.Products != 16*a.Forward.Products || a.Forward.Products <= 0 {
			t.Errorf("%s: %v FLOPs at batch 1, %v at 16", name, a.Forward.Products, b.Forward.Products)
		}
		t.Logf("%s per image: forward %.1f MFLOP (products %.1f), backward %.1f, HVP %.1f", name,
			a.Forward.Total()/1e6, a.Forward.Products/1e6, a.Backward.Total()/1e6, a.HVP.Total()/1e6)
	}
	if _, err := CountFLOPs(struct{ Model }{}, 1, Eval); err == nil {
		t.Error("a model of another kind: no error")
	}
}

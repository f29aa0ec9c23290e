package meta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tsSidecar is a valid sidecar of an exported ResNet with two observed
// layers and a head.
func tsSidecar() map[string]any {
	return map[string]any{
		"format": TorchScriptFormat, "format_version": 1, "name": "resnet18", "family": "resnet",
		"module": "net.pt", "module_sha256": strings.Repeat("ab", 32), "classes": 10, "params": 1234,
		"input": map[string]any{"channels": 3, "size": 64}, "mean": []float64{0.5, 0.5, 0.5}, "std": []float64{0.2, 0.2, 0.2},
		"param_prefix": "model.", "train_method": "forward_train",
		"layers": []map[string]any{
			{"index": 0, "name": "maxpool", "kind": "stem", "tokens": false, "cls": false, "shape": []int{64, 16, 16}},
			{"index": 1, "name": "layer1.0", "kind": "conv", "tokens": false, "cls": false, "shape": []int{64, 16, 16}},
			{"index": 2, "name": "fc", "kind": "head", "tokens": false, "cls": false, "shape": []int{10}},
		},
		"param_kinds": map[string]string{"ln.weight": "norm_scale"},
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTorchScriptReference checks that an exported model fits the
// checkpoint references of every command: "net.pt", "label=net.pt" and its
// sidecar resolve to the sidecar, read as a checkpoint with the model's
// spec, family, module and hash, and get the model's name as label.
func TestTorchScriptReference(t *testing.T) {
	dir := t.TempDir()
	pt := filepath.Join(dir, "net.pt")
	side := filepath.Join(dir, "net.json")
	if err := os.WriteFile(pt, []byte("module bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, side, tsSidecar())
	if !IsTorchScript(pt) || !IsTorchScript(side) {
		t.Fatal("IsTorchScript is false for the module or its sidecar")
	}
	vitprobe := filepath.Join(dir, "run.json")
	writeSidecar(t, vitprobe, "vit-mini", "final", "")
	if IsTorchScript(vitprobe) {
		t.Error("a vitprobe checkpoint sidecar is taken for a TorchScript sidecar")
	}
	for _, arg := range []string{pt, side, "mine=" + pt} {
		ref, err := ParseRef(arg)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Resolve([]Ref{ref, {Path: vitprobe}})
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		r := rs[0]
		wantLabel := "resnet18"
		if ref.Label != "" {
			wantLabel = ref.Label
		}
		if r.Label != wantLabel || r.Sidecar != side || r.Weights != pt || r.TorchScript != pt {
			t.Errorf("%s: label %q, sidecar %s, weights %s, module %s", arg, r.Label, r.Sidecar, r.Weights, r.TorchScript)
		}
		want := Spec{Name: "resnet18", Family: ResNet, Config: Config{Classes: 10, InChannels: 3, ImageSize: 64}}
		if r.Spec != want || r.Params != 1234 || r.WeightsSHA256 != strings.Repeat("ab", 32) || r.DatasetName() != "" || r.Training().Recorded {
			t.Errorf("%s: checkpoint %+v", arg, r.Checkpoint)
		}
		if rs[1].TorchScript != "" || rs[1].Label != "vit-mini" {
			t.Errorf("the vitprobe checkpoint beside it: %+v", rs[1])
		}
	}
	s, err := ReadTorchScriptSidecar(pt)
	if err != nil {
		t.Fatal(err)
	}
	in := s.DataInput()
	if in.Side != 64 || in.Channels != 3 || in.Classes != 10 || len(in.Mean) != 3 || in.Std[2] != 0.2 {
		t.Errorf("data input %+v", in)
	}
}

// TestTorchScriptSidecarErrors checks the one-line errors of sidecars that
// are missing or not what the exporter writes.
func TestTorchScriptSidecarErrors(t *testing.T) {
	dir := t.TempDir()
	lonely := filepath.Join(dir, "lonely.pt")
	if err := os.WriteFile(lonely, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SidecarPath(lonely); err == nil || !strings.Contains(err.Error(), "lonely.pt has no sidecar "+filepath.Join(dir, "lonely.json")) {
		t.Errorf("no sidecar: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"version", func(s map[string]any) { s["format_version"] = 2 }, "format version 2"},
		{"classes", func(s map[string]any) { s["classes"] = 1 }, "classes = 1"},
		{"params", func(s map[string]any) { delete(s, "params") }, "params = 0"},
		{"channels", func(s map[string]any) { s["mean"] = []float64{0.5} }, "1 mean and 3 std values for 3 channels"},
		{"std", func(s map[string]any) { s["std"] = []float64{0.2, 0, 0.2} }, "want positive values"},
		{"no layers", func(s map[string]any) { s["layers"] = []any{} }, "no layers"},
		{"head first", func(s map[string]any) {
			ls := s["layers"].([]map[string]any)
			ls[0]["kind"] = "head"
		}, "the head must be the last layer"},
		{"index", func(s map[string]any) { s["layers"].([]map[string]any)[1]["index"] = 5 }, "index 5 at position 1"},
		{"shape", func(s map[string]any) { s["layers"].([]map[string]any)[1]["shape"] = []int{64, 16} }, "want 3 dimensions after the batch"},
		{"kind", func(s map[string]any) { s["param_kinds"] = map[string]string{"a": "buffer"} }, `kind "buffer" is not a parameter kind`},
		{"not json", nil, "not a vitprobe TorchScript sidecar"},
	} {
		p := filepath.Join(dir, c.name+".json")
		if c.edit == nil {
			if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			s := tsSidecar()
			c.edit(s)
			writeJSON(t, p, s)
		}
		_, err := ReadTorchScriptSidecar(strings.TrimSuffix(p, ".json") + ".pt")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line naming %s and saying %q", c.name, err, p, c.want)
		}
	}
}

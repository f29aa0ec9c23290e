package meta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSidecar writes a minimal sidecar of model name and phase.
func writeSidecar(t *testing.T, path, model, phase, train string) {
	t.Helper()
	ck := Checkpoint{Spec: Spec{Name: model}, Phase: phase, Weights: filepath.Base(strings.TrimSuffix(path, ".json")) + ".safetensors"}
	if train != "" {
		ck.Train = json.RawMessage(train)
	}
	b, err := json.Marshal(ck)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseRef(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a=b.json") // a path holding "=" stays whole
	if err := os.WriteFile(odd, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arg   string
		want  Ref
		fails string
	}{
		{"runs/v/final.json", Ref{Path: "runs/v/final.json"}, ""},
		{"vit=runs/v/final.json", Ref{Label: "vit", Path: "runs/v/final.json"}, ""},
		{"runs/x=1/final.json", Ref{Path: "runs/x=1/final.json"}, ""}, // "=" after a separator
		{odd, Ref{Path: odd}, ""},
		{"..=ckpt.json", Ref{}, "outside the output folder"},
		{".=ckpt.json", Ref{}, "outside the output folder"},
		{"a\tb=ckpt.json", Ref{}, "control character"},
		{"vit=", Ref{}, "empty path"},
		{"", Ref{}, "empty checkpoint"},
	} {
		got, err := ParseRef(c.arg)
		if c.fails != "" {
			if err == nil || !strings.Contains(err.Error(), c.fails) {
				t.Errorf("ParseRef(%q) = %v, %v; want an error with %q", c.arg, got, err, c.fails)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", c.arg, got, err, c.want)
		}
	}
	if err := CheckLabel("a/b"); err == nil {
		t.Error("a label with a separator is accepted")
	}
}

func TestResolveLabelsAndPaths(t *testing.T) {
	dir := t.TempDir()
	writeSidecar(t, filepath.Join(dir, "r", "final.json"), "resnet-mini", "final", "")
	writeSidecar(t, filepath.Join(dir, "v", "final.json"), "vit-mini", "final", "")
	writeSidecar(t, filepath.Join(dir, "v", "warmup.json"), "vit-mini", "warmup", "")
	writeSidecar(t, filepath.Join(dir, "v2", "final.json"), "vit-mini", "final", "")
	refs := []Ref{
		{Path: filepath.Join(dir, "r")},                      // a run folder: its final.json
		{Path: filepath.Join(dir, "v", "final.safetensors")}, // the weights: the sidecar beside them
		{Path: filepath.Join(dir, "v", "warmup")},            // the base path
		{Path: filepath.Join(dir, "v2", "final.json")},
		{Label: "resnet-mini-final", Path: filepath.Join(dir, "r", "final.json")},
	}
	rs, err := Resolve(refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"resnet-mini", "vit-mini-final", "vit-mini-warmup", "vit-mini-final-2", "resnet-mini-final"}
	for i, r := range rs {
		if r.Label != want[i] {
			t.Errorf("checkpoint %d labelled %q, want %q", i, r.Label, want[i])
		}
	}
	if rs[0].Sidecar != filepath.Join(dir, "r", "final.json") || rs[0].Weights != filepath.Join(dir, "r", "final.safetensors") {
		t.Errorf("run folder resolved to %s, %s", rs[0].Sidecar, rs[0].Weights)
	}
	if rs[1].Sidecar != filepath.Join(dir, "v", "final.json") || rs[2].Sidecar != filepath.Join(dir, "v", "warmup.json") {
		t.Errorf("sidecars %s, %s", rs[1].Sidecar, rs[2].Sidecar)
	}
	if rs[1].Spec.Family != ViT || rs[0].Spec.Family != ResNet {
		t.Errorf("families %q, %q: the preset table should fill them", rs[1].Spec.Family, rs[0].Spec.Family)
	}
	if _, err := Resolve([]Ref{{Label: "a", Path: refs[0].Path}, {Label: "a", Path: refs[1].Path}}); err == nil ||
		!strings.Contains(err.Error(), `labelled "a"`) {
		t.Errorf("two equal labels: %v", err)
	}
	if _, err := Resolve([]Ref{{Label: "..", Path: refs[0].Path}}); err == nil {
		t.Error("label .. accepted by Resolve")
	}
	if _, err := Resolve([]Ref{{Path: dir}}); err == nil || !strings.Contains(err.Error(), "without final.json") {
		t.Errorf("a folder without final.json: %v", err)
	}
	if _, err := Resolve([]Ref{{Path: filepath.Join(dir, "nope.json")}}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing checkpoint: %v", err)
	}
}

func TestTraining(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	writeSidecar(t, p, "vit-mini", "final", `{"config":{"dataset":"mnist","fraction":0.5,"seed":3,"weight_decay":0.1,"augment":{"crop_pad":4}},"step":9}`)
	ck, err := ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	tr := ck.Training()
	if !tr.Recorded || !tr.WeightDecayRecorded || tr.WeightDecay != 0.1 || tr.Dataset != "mnist" || tr.Fraction != 0.5 || tr.Seed != 3 ||
		tr.Augment == nil || tr.Augment.CropPad != 4 {
		t.Errorf("training %+v", tr)
	}
	if ck.DatasetName() != "mnist" {
		t.Errorf("dataset %q", ck.DatasetName())
	}
	// No trainer state, one without weight decay, and an unreadable one
	// (no record, not an error).
	for _, train := range []string{"", `{"config":{"dataset":"mnist"}}`, `"not cmd/train's"`} {
		writeSidecar(t, p, "vit-mini", "final", train)
		if ck, err = ReadCheckpoint(p); err != nil {
			t.Fatal(err)
		}
		tr := ck.Training()
		if tr.WeightDecayRecorded || tr.WeightDecay != DefaultWeightDecay || tr.Augment != nil {
			t.Errorf("train %q: %+v, want the default weight decay and no augmentation", train, tr)
		}
	}
}

func TestLayerKindText(t *testing.T) {
	for k := KindStem; k <= KindHead; k++ {
		b, _ := k.MarshalText()
		var back LayerKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%v: round trip %v, %v", k, back, err)
		}
	}
	if _, err := ParseLayerKind("pool"); err == nil {
		t.Error("unknown kind accepted")
	}
	if got := ParamBuffer.String(); got != "buffer" {
		t.Errorf("ParamBuffer = %q", got)
	}
}

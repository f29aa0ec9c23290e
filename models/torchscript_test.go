package models_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/torchx"
)

// tsCase is a Go preset and its reference twin exported as TorchScript
// with the same weights.
type tsCase struct {
	*parityCase
	pt string
	ts *models.TorchScript
}

// exportTwins builds each preset with perturbed weights (prepareParity),
// exports the PyTorch reference model with those weights through
// python/vitprobe_export.py (reference/pytorch/export_ref.py, automatic
// layer choice) and loads the TorchScript model.
func exportTwins(t *testing.T, configs []parityConfig) []*tsCase {
	t.Helper()
	dir := t.TempDir()
	var cases []*tsCase
	var spec []map[string]any
	for i, pc := range configs {
		c := &tsCase{parityCase: prepareParity(t, dir, pc, uint64(2000+i))}
		c.pt = filepath.Join(dir, c.label+".pt")
		spec = append(spec, map[string]any{"model": pc.name, "gap": pc.gap, "weights": c.files["weights"], "out": c.pt})
		cases = append(cases, c)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	casesPath := filepath.Join(dir, "export.json")
	if err := os.WriteFile(casesPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	runReference(t, 300*time.Second, "export_ref.py", "--cases", casesPath)
	for _, c := range cases {
		m, err := models.LoadTorchScript(c.pt, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		c.ts = m
	}
	return cases
}

// pass runs m on the case's batch in mode and returns the logits, every
// observed layer's output by name, the mean cross-entropy's gradient by
// parameter name and the Hessian-vector product with v (by name; nil v
// skips it).
func pass(t *testing.T, m models.Model, c *parityCase, mode models.Mode, v map[string][]float32) (logits []float64, layers, grads, hv map[string][]float64) {
	t.Helper()
	var s torchx.Scope
	defer s.Close()
	x := s.Add(must(torchx.FromSlice(c.x, c.xs, gotch.Float)))
	y := s.Add(must(torchx.FromSlice(c.y, []int64{int64(len(c.y))}, gotch.Int64)))
	layers = map[string][]float64{}
	probe := models.ProbeFunc(func(l models.Layer, out *ts.Tensor) error {
		v, err := torchx.Values[float64](out)
		layers[l.Name] = v
		return err
	})
	out := s.Add(must(m.Forward(x, mode, probe)))
	l := s.Add(must(out.CrossEntropyLoss(y, ts.None, 1, -100, 0, false)))
	logits = values64(t, out)
	var names []string
	var params []*ts.Tensor
	for _, p := range m.Params() {
		if p.Trainable() {
			names = append(names, p.Name)
			params = append(params, p.Tensor)
		}
	}
	h, err := torchx.NewHVP(l, params)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	grads, hv = map[string][]float64{}, map[string][]float64{}
	for i, g := range h.Grads() {
		grads[names[i]] = values64(t, g)
	}
	if v == nil {
		return logits, layers, grads, nil
	}
	vs := make([]*ts.Tensor, len(params))
	for i, n := range names {
		shape, err := params[i].Size()
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = s.Add(must(torchx.FromSlice(v[n], shape, gotch.Float)))
	}
	for i, r := range s.AddAll(must(h.Apply(vs))) {
		hv[names[i]] = values64(t, r)
	}
	return logits, layers, grads, hv
}

// TestTorchScriptMatchesPreset exports the PyTorch twins of the mini
// presets with the presets' (perturbed) weights and checks that the
// TorchScript model is the preset: the same parameter names, shapes, kinds
// and values, the same layers, and, in eval and in train mode, the same
// logits, layer outputs, gradients and Hessian-vector products, and the
// same running statistics after a training-mode pass. The two compute in
// float32 with the same libtorch kernels but with different op sequences
// (the reference models are written differently from the Go forward
// passes), so equality is to round-off: 1e-5 relative for outputs, 1e-4 for
// derivatives, as the parity test with a float64 reference allows.
func TestTorchScriptMatchesPreset(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The presets as the exporter's reference models build them: the
	// mini presets with their defaults and the GAP head (the window, blur
	// and block-pattern options are checked against PyTorch by
	// TestNumericalParityPyTorch).
	var plain []parityConfig
	for _, pc := range parityConfigs {
		if pc.window == 0 && !pc.blur && !strings.Contains(pc.name, ":") {
			plain = append(plain, pc)
		}
	}
	cases := exportTwins(t, plain)
	for _, c := range cases {
		goPs, tsPs := c.m.Params(), c.ts.Params()
		if len(goPs) != len(tsPs) {
			t.Fatalf("%s: Go has %d tensors, TorchScript %d", c.label, len(goPs), len(tsPs))
		}
		v := map[string][]float32{}
		rng := rand.New(rand.NewPCG(9, uint64(len(goPs))))
		for i, p := range goPs {
			q := tsPs[i]
			if p.Name != q.Name || p.Kind != q.Kind || !slices.Equal(p.Shape, q.Shape) {
				t.Errorf("%s: tensor %d: Go %s %v %v, TorchScript %s %v %v", c.label, i, p.Name, p.Kind, p.Shape, q.Name, q.Kind, q.Shape)
				continue
			}
			if a, b := values64(t, p.Tensor), values64(t, q.Tensor); !slices.Equal(a, b) {
				t.Errorf("%s: %s: values differ", c.label, p.Name)
			}
			if p.Trainable() {
				n := 1
				for _, d := range p.Shape {
					n *= int(d)
				}
				v[p.Name] = make([]float32, n)
				for k := range v[p.Name] {
					v[p.Name][k] = float32(rng.NormFloat64())
				}
			}
		}
		if !slices.Equal(c.m.Layers(), c.ts.Layers()) {
			t.Errorf("%s: layers differ:\nGo          %v\nTorchScript %v", c.label, c.m.Layers(), c.ts.Layers())
		}
		if got, want := c.ts.Spec().Config, c.m.Spec().Config; got.Classes != want.Classes || got.InChannels != want.InChannels || got.ImageSize != want.ImageSize {
			t.Errorf("%s: TorchScript config %+v, Go %+v", c.label, got, want)
		}
		for _, mode := range []models.Mode{models.Eval, models.Train} {
			label := c.label + [...]string{" eval", " train"}[mode]
			gl, gLayers, gGrads, gHV := pass(t, c.m, c.parityCase, mode, v)
			tl, tLayers, tGrads, tHV := pass(t, c.ts, c.parityCase, mode, v)
			if e := relErr(tl, gl, 1e-12); e > 1e-5 {
				t.Errorf("%s: logits differ, relative error %.2e", label, e)
			}
			if len(gLayers) != len(tLayers) {
				t.Errorf("%s: Go observed %d layers, TorchScript %d", label, len(gLayers), len(tLayers))
			}
			worst := 0.0
			for n, want := range gLayers {
				e := relErr(tLayers[n], want, 1e-12)
				worst = max(worst, e)
				if e > 1e-5 {
					t.Errorf("%s: layer %s differs, relative error %.2e", label, n, e)
				}
			}
			var all []float64
			for _, g := range gGrads {
				all = append(all, g...)
			}
			floor := gradFloor * norm2(all)
			worstG, worstH := 0.0, 0.0
			for n, want := range gGrads {
				e := relErr(tGrads[n], want, floor)
				worstG = max(worstG, e)
				if e > parityTol {
					t.Errorf("%s: gradient of %s differs, relative error %.2e", label, n, e)
				}
			}
			all = all[:0]
			for _, h := range gHV {
				all = append(all, h...)
			}
			floor = gradFloor * norm2(all)
			for n, want := range gHV {
				e := relErr(tHV[n], want, floor)
				worstH = max(worstH, e)
				if e > parityTol {
					t.Errorf("%s: Hessian-vector product, %s differs, relative error %.2e", label, n, e)
				}
			}
			t.Logf("%-18s worst relative error: layers %.1e, gradients %.1e, Hessian-vector products %.1e", label, worst, worstG, worstH)
		}
		// Both took one training-mode step: the running statistics moved
		// the same way.
		for i, p := range goPs {
			if p.Kind != models.ParamBuffer {
				continue
			}
			if e := relErr(values64(t, tsPs[i].Tensor), values64(t, p.Tensor), 1e-12); e > 1e-5 {
				t.Errorf("%s: running statistic %s after a training pass differs, relative error %.2e", c.label, p.Name, e)
			}
		}
	}
}

func TestTorchScriptParamKindRule(t *testing.T) {
	for _, c := range []struct {
		name  string
		rank  int
		owner string
		want  models.ParamKind
	}{
		{"model.conv1.weight", 4, "Conv2d", models.ParamWeight},
		{"model.fc.bias", 1, "Linear", models.ParamBias},
		{"model.bn1.weight", 1, "BatchNorm2d", models.ParamNormScale},
		{"model.bn1.bias", 1, "BatchNorm2d", models.ParamNormShift},
		{"model.blocks.0.norm1.weight", 1, "LayerNorm", models.ParamNormScale},
		{"model.ln.weight", 1, "RMSNorm", models.ParamNormScale},
		{"model.cls_token", 3, "VisionTransformer", models.ParamToken},
		{"model.dist_token", 3, "VisionTransformer", models.ParamToken},
		{"model.pos_embed", 3, "VisionTransformer", models.ParamPosEmbed},
		{"model.embeddings.position_embeddings", 3, "Embeddings", models.ParamPosEmbed},
		{"model.layers.0.attn.relative_position_bias_table", 2, "WindowAttention", models.ParamRelPos},
		{"model.layer2.1.attn.rel_pos", 2, "WindowAttention", models.ParamRelPos},
		{"model.blocks.0.ls1.gamma", 1, "LayerScale", models.ParamBias},
		{"model.scale", 0, "Net", models.ParamBias},
	} {
		if got := models.TorchScriptParamKind(c.name, c.rank, c.owner); got != c.want {
			t.Errorf("TorchScriptParamKind(%q, %d, %q) = %v, want %v", c.name, c.rank, c.owner, got, c.want)
		}
	}
}

// TestTorchScriptParamKindRuleMatchesExporter checks that the exporter's
// Python copy of the rule (which decides what the sidecar records) gives the
// same kinds as TorchScriptParamKind on the same table.
func TestTorchScriptParamKindRuleMatchesExporter(t *testing.T) {
	type row struct {
		Name  string `json:"name"`
		Rank  int    `json:"rank"`
		Owner string `json:"owner"`
	}
	var rows []row
	for _, n := range []string{"weight", "bias", "cls_token", "foo_token", "pos_embed", "pos_emb", "position_embedding",
		"absolute_pos_embed", "relative_position_bias_table", "rel_pos", "rel_pos_h", "gamma", "scale"} {
		for _, rank := range []int{0, 1, 2, 4} {
			for _, owner := range []string{"Conv2d", "Linear", "BatchNorm2d", "LayerNorm", "GroupNorm", "MyNorm", "Block"} {
				rows = append(rows, row{"model.a." + n, rank, owner})
			}
		}
	}
	js, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(in, js, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runReference(t, 60*time.Second, "export_ref.py", "--kind-rule", in)
	var kinds []string
	if err := json.Unmarshal(out, &kinds); err != nil {
		t.Fatalf("export_ref.py --kind-rule: %v (%s)", err, out)
	}
	if len(kinds) != len(rows) {
		t.Fatalf("%d kinds for %d rows", len(kinds), len(rows))
	}
	for i, r := range rows {
		if got := models.TorchScriptParamKind(r.Name, r.Rank, r.Owner).String(); got != kinds[i] {
			t.Errorf("%s rank %d owner %s: Go %s, exporter %s", r.Name, r.Rank, r.Owner, got, kinds[i])
		}
	}
}

// TestLoadTorchScriptErrors checks the one-line errors of item 2 of the
// issue: a file that is not TorchScript, no sidecar, a sidecar of another
// export, a sidecar whose layers do not match what the module returns, and
// an operation without a second derivative (named).
func TestLoadTorchScriptErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	runReference(t, 120*time.Second, "export_ref.py", "--testnets", dir)
	good := filepath.Join(dir, "cdist.pt")
	side, err := os.ReadFile(filepath.Join(dir, "cdist.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	copyAs := func(base string, sidecar []byte, module []byte) string {
		if module == nil {
			var err error
			if module, err = os.ReadFile(good); err != nil {
				t.Fatal(err)
			}
		}
		write(base+".json", sidecar)
		return write(base+".pt", module)
	}
	edit := func(f func(s map[string]any)) []byte {
		var s map[string]any
		if err := json.Unmarshal(side, &s); err != nil {
			t.Fatal(err)
		}
		s["module"] = ""
		f(s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	noHash := func(s map[string]any) { s["module_sha256"] = "" }
	for _, c := range []struct {
		name, path string
		want       []string
	}{
		{"not TorchScript", copyAs("garbage", edit(noHash), []byte("these bytes are not a zip archive")),
			[]string{"garbage.pt is not a TorchScript file", "torch.jit.load"}},
		{"a torch.save'd state dict", copyAs("statedict", edit(noHash), must(os.ReadFile(filepath.Join(dir, "state_dict.pt")))),
			[]string{"statedict.pt is not a TorchScript file"}},
		{"no sidecar", write("lonely.pt", must(os.ReadFile(good))),
			[]string{"lonely.pt has no sidecar", "lonely.json", "vitprobe_export.py"}},
		{"another export", copyAs("other", edit(func(s map[string]any) { s["module_sha256"] = strings.Repeat("ab", 32) }), nil),
			[]string{"other.json describes another export of", "export the model again"}},
		{"a layer too many", copyAs("extra", edit(func(s map[string]any) {
			noHash(s)
			ls := s["layers"].([]any)
			l := map[string]any{}
			for k, v := range ls[0].(map[string]any) {
				l[k] = v
			}
			l["name"] = "again"
			ls = append([]any{ls[0], l}, ls[1:]...)
			for i, x := range ls {
				x.(map[string]any)["index"] = i
			}
			s["layers"] = ls
		}), nil), []string{"does not match its sidecar", "returned 2 layer outputs, the sidecar lists 3"}},
		{"a wrong shape", copyAs("shape", edit(func(s map[string]any) {
			noHash(s)
			s["layers"].([]any)[0].(map[string]any)["shape"] = []int{5, 6, 6}
		}), nil), []string{"does not match its sidecar", "layer stem (output 0) has shape [2 4 8 8], the sidecar says (B, 5, 6, 6)"}},
		{"wrong classes", copyAs("classes", edit(func(s map[string]any) { noHash(s); s["classes"] = 7 }), nil),
			[]string{"does not match its sidecar", "the logits have shape [2 3], the sidecar says (B, 7)"}},
		{"not a sidecar", copyAs("format", edit(func(s map[string]any) { s["format"] = "something" }), nil),
			[]string{"format.json", `format "something"`}},
	} {
		_, err := models.LoadTorchScript(c.path, gotch.CPU)
		if err == nil {
			t.Errorf("%s: loaded", c.name)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error on several lines:\n%s", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", c.name, msg, w)
			}
		}
	}

	// The model itself loads; its Hessian needs the second derivative of
	// torch.cdist, which libtorch lacks.
	m, err := models.LoadTorchScript(good, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := must(ts.Randn([]int64{4, 1, 8, 8}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	y := must(torchx.FromSlice([]int64{0, 1, 2, 0}, []int64{4}, gotch.Int64))
	defer y.MustDrop()
	logits := must(m.Forward(x, models.Eval, nil))
	defer logits.MustDrop()
	loss := must(logits.CrossEntropyLoss(y, ts.None, 1, -100, 0, false))
	defer loss.MustDrop()
	var params []*ts.Tensor
	for _, p := range m.Params() {
		if p.Trainable() {
			params = append(params, p.Tensor)
		}
	}
	h, err := torchx.NewHVP(loss, params)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	vs := make([]*ts.Tensor, len(params))
	for i, p := range params {
		vs[i] = must(p.OnesLike(false))
		defer vs[i].MustDrop()
	}
	_, err = h.Apply(vs)
	if err == nil {
		t.Fatal("Hessian-vector product through torch.cdist worked; libtorch 1.13 has no double backward for it")
	}
	if msg := err.Error(); !strings.Contains(msg, "_cdist_backward") || !strings.Contains(msg, "no second derivative") || strings.Contains(msg, "\n") {
		t.Errorf("error %q does not name _cdist_backward on one line", msg)
	}
	t.Logf("cdist: %v", err)
}

// TestTorchScriptWithoutTrainGraph checks that a module exported with
// train=False runs in eval mode and refuses training mode with a clear error.
func TestTorchScriptWithoutTrainGraph(t *testing.T) {
	dir := t.TempDir()
	runReference(t, 120*time.Second, "export_ref.py", "--testnets", dir)
	m, err := models.LoadTorchScript(filepath.Join(dir, "cdist.pt"), gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := must(ts.Randn([]int64{2, 1, 8, 8}, gotch.Float, gotch.CPU))
	defer x.MustDrop()
	out, err := m.Forward(x, models.Eval, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.MustDrop()
	if _, err := m.Forward(x, models.Train, nil); err == nil || !strings.Contains(err.Error(), "without a training-mode graph") {
		t.Errorf("training mode without a traced training graph: error %v", err)
	}
}

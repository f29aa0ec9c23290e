package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/torchx"
)

// TorchScriptFormat is the "format" field of the sidecar that
// python/vitprobe_export.py writes beside a TorchScript module.
const TorchScriptFormat = meta.TorchScriptFormat

// TorchScriptSidecar is the JSON file beside an exported TorchScript module
// (see meta.TorchScriptSidecar and docs/torchscript.md).
type TorchScriptSidecar = meta.TorchScriptSidecar

// TorchScriptLayer is one observed layer of a sidecar.
type TorchScriptLayer = meta.TorchScriptLayer

// TorchScriptPaths returns the module and sidecar paths for path, which
// names either (see meta.TorchScriptPaths).
func TorchScriptPaths(path string) (module, sidecar string) { return meta.TorchScriptPaths(path) }

// IsTorchScript reports whether path names an exported TorchScript model
// rather than a vitprobe checkpoint (see meta.IsTorchScript).
func IsTorchScript(path string) bool { return meta.IsTorchScript(path) }

// ReadTorchScriptSidecar reads and validates the sidecar of the exported
// model at path (see meta.ReadTorchScriptSidecar).
func ReadTorchScriptSidecar(path string) (*TorchScriptSidecar, error) {
	s, err := meta.ReadTorchScriptSidecar(path)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return s, nil
}

// tapped returns the layers that are tensors of the module's output tuple
// (all but a final head) and the head, if any.
func sidecarLayers(s *TorchScriptSidecar) (out []Layer, head *Layer) {
	for _, l := range s.Layers {
		ml := Layer{Index: l.Index, Name: l.Name, Kind: l.Kind, Tokens: l.Tokens, CLS: l.CLS}
		if l.Kind == KindHead {
			head = &ml
			continue
		}
		out = append(out, ml)
	}
	return out, head
}

// TorchScriptParamKind is the kind a TorchScript model's parameter gets
// without a sidecar entry, from its name, rank and the type name of the
// module that owns it: names ending in a token name (cls_token, *_token)
// are tokens, position-embedding names (pos_embed, position_embedding...)
// position embeddings, relative-position tables (relative_position_bias_table,
// rel_pos*) relative-position tables; then rank >= 2 is a weight; a 1-D
// weight or bias of a module whose type name contains "Norm" is a norm scale
// or shift; any other 1-D tensor is a bias. python/vitprobe_export.py applies
// the same rule to decide which kinds to record.
func TorchScriptParamKind(name string, rank int, ownerType string) ParamKind {
	leaf := name[strings.LastIndex(name, ".")+1:]
	switch {
	case slices.Contains([]string{"cls_token", "dist_token", "reg_token", "mask_token"}, leaf) || strings.HasSuffix(leaf, "_token"):
		return ParamToken
	case slices.Contains([]string{"pos_embed", "pos_emb", "position_embedding", "position_embeddings", "absolute_pos_embed"}, leaf):
		return ParamPosEmbed
	case leaf == "relative_position_bias_table" || strings.HasPrefix(leaf, "rel_pos"):
		return ParamRelPos
	case rank >= 2:
		return ParamWeight
	}
	if strings.Contains(ownerType, "Norm") {
		switch leaf {
		case "weight":
			return ParamNormScale
		case "bias":
			return ParamNormShift
		}
	}
	return ParamBias
}

// TorchScript is a Model backed by a TorchScript module exported with
// python/vitprobe_export.py: a traced forward returning the logits and the
// observed layers' outputs, and a sidecar describing them. Its Params are
// the module's own parameters and floating-point buffers (moving them moves
// the module), named without the exporter's prefix; gradients and
// Hessian-vector products go through libtorch's autograd as for the presets.
type TorchScript struct {
	base
	mod    *torchx.Module
	side   *TorchScriptSidecar
	path   string
	dev    gotch.Device
	tapped []Layer
	head   *Layer
}

// LoadTorchScript loads the exported model at path (the .pt module or its
// .json sidecar) onto dev. It checks the sidecar against the module: the
// module's hash, the parameter prefix, and, by one forward pass on a
// zero batch, the number and shapes of the returned outputs. Errors are one
// line naming the file: not TorchScript, no sidecar, a sidecar of another
// export, outputs that do not match.
func LoadTorchScript(path string, dev gotch.Device) (*TorchScript, error) {
	side, err := ReadTorchScriptSidecar(path)
	if err != nil {
		return nil, err
	}
	_, sidecar := TorchScriptPaths(path)
	module := filepath.Join(filepath.Dir(sidecar), side.Module)
	if side.Module == "" {
		module, _ = TorchScriptPaths(path)
	}
	if dev.IsCuda() && !torchx.CUDAAvailable() {
		return nil, fmt.Errorf("models: device %v asked for, but this libtorch has no usable CUDA", dev)
	}
	if _, err := os.Stat(module); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("models: %s: the module %s it describes does not exist", sidecar, module)
		}
		return nil, fmt.Errorf("models: %w", err)
	}
	mod, err := torchx.LoadModule(module)
	if err != nil {
		return nil, fmt.Errorf("models: %s is not a TorchScript file this libtorch can load (torch.jit.load: %w)", module, err)
	}
	if err := checkModuleHash(module, sidecar, side.ModuleSHA256); err != nil {
		mod.Close()
		return nil, err
	}
	m := &TorchScript{mod: mod, side: side, path: module, dev: dev}
	ok := false
	defer func() {
		if !ok {
			m.Close()
		}
	}()
	if dev.IsCuda() {
		if err := mod.To(dev); err != nil {
			return nil, fmt.Errorf("models: %s: move to %v: %w", module, dev, err)
		}
	}
	for _, meth := range []string{"forward", side.TrainMethod} {
		if meth != "" && !mod.HasMethod(meth) {
			return nil, fmt.Errorf("models: %s has no method %s, which its sidecar %s names", module, meth, sidecar)
		}
	}
	mod.SetTraining(false)
	m.spec = side.Spec()
	m.tapped, m.head = sidecarLayers(side)
	m.layers = append(m.layers, m.tapped...)
	if m.head != nil {
		m.layers = append(m.layers, *m.head)
	}
	if m.params, err = m.loadParams(); err != nil {
		return nil, fmt.Errorf("models: %s: %w", module, err)
	}
	if err := m.checkOutputs(); err != nil {
		return nil, fmt.Errorf("models: %s does not match its sidecar %s: %w", module, sidecar, err)
	}
	ok = true
	return m, nil
}

func checkModuleHash(module, sidecar, want string) error {
	f, err := os.Open(module)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("models: %s: %w", module, err)
	}
	if want == "" {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("models: %s describes another export of %s (module hash %.12s, the sidecar's %.12s): export the model again", sidecar, module, got, want)
	}
	return nil
}

// loadParams lists the module's parameters and floating-point buffers with
// their kinds, sorted by name (prefix removed). Integer buffers (batch
// counters, index tables) are not model state the analyses move and are
// left out; a second name of a tied tensor is left out too.
func (m *TorchScript) loadParams() (params []Param, err error) {
	ps, err := m.mod.Parameters()
	if err != nil {
		return nil, err
	}
	bs, err := m.mod.Buffers()
	if err != nil {
		torchx.DropAll(tensorsOf(ps))
		return nil, err
	}
	all := append(ps, bs...)
	kept := make([]bool, len(all))
	defer func() {
		// Drop every handle not handed out, and all of them on error.
		for i, nt := range all {
			if !kept[i] || err != nil {
				_ = nt.Tensor.Drop()
			}
		}
		if err != nil {
			params = nil
		}
	}()
	types, err := m.mod.Submodules()
	if err != nil {
		return nil, err
	}
	prefix := m.side.ParamPrefix
	seen := map[uint64]bool{}
	kinds := map[string]bool{}
	for i, nt := range all {
		buffer := i >= len(ps)
		if !strings.HasPrefix(nt.Name, prefix) {
			return nil, fmt.Errorf("tensor %s does not start with the sidecar's parameter prefix %q", nt.Name, prefix)
		}
		name := strings.TrimPrefix(nt.Name, prefix)
		if seen[nt.Identity] {
			continue
		}
		seen[nt.Identity] = true
		if nt.DType != "Float" {
			switch {
			case buffer && nt.DType != "Double" && nt.DType != "Half" && nt.DType != "BFloat16":
				continue // counters and index tables
			case buffer:
				return nil, fmt.Errorf("buffer %s is %s: vitprobe computes in float32 (export after model.float())", name, nt.DType)
			}
			return nil, fmt.Errorf("parameter %s is %s: vitprobe computes in float32 (export after model.float())", name, nt.DType)
		}
		shape, err := nt.Tensor.Size()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		kind := ParamBuffer
		if !buffer {
			owner := ""
			if k := strings.LastIndex(nt.Name, "."); k >= 0 {
				owner = nt.Name[:k]
			}
			t := types[owner]
			kind = TorchScriptParamKind(nt.Name, len(shape), t[strings.LastIndex(t, ".")+1:])
			if k, ok := m.side.ParamKinds[name]; ok {
				if kind, err = meta.ParseParamKind(k); err != nil {
					return nil, err
				}
				kinds[name] = true
			}
			if !nt.RequiresGrad {
				if err := torchx.RequireGrad(nt.Tensor); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		kept[i] = true
		params = append(params, Param{Name: name, Kind: kind, Shape: shape, Tensor: nt.Tensor})
	}
	for n := range m.side.ParamKinds {
		if !kinds[n] {
			return nil, fmt.Errorf("the sidecar gives a kind for %s, which is not a parameter of the module", n)
		}
	}
	if !slices.ContainsFunc(params, Param.Trainable) {
		return nil, errors.New("the module has no float32 parameters")
	}
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	for i := 1; i < len(params); i++ {
		if params[i].Name == params[i-1].Name {
			return nil, fmt.Errorf("two tensors are named %s", params[i].Name)
		}
	}
	return params, nil
}

func tensorsOf(list []torchx.NamedTensor) []*ts.Tensor {
	out := make([]*ts.Tensor, len(list))
	for i, nt := range list {
		out[i] = nt.Tensor
	}
	return out
}

// checkOutputs runs the module once, without gradients, on a batch of two
// zero images and compares the outputs with the sidecar.
func (m *TorchScript) checkOutputs() error {
	return torchx.OnLockedThread(func() error {
		return torchx.NoGrad(func() (err error) {
			c := m.spec.Config
			x, err := ts.Zeros([]int64{2, int64(c.InChannels), int64(c.ImageSize), int64(c.ImageSize)}, gotch.Float, m.dev)
			if err != nil {
				return err
			}
			defer torchx.DropTo(&err, x)
			outs, err := m.run("forward", x)
			if err != nil {
				return err
			}
			defer torchx.DropAll(outs)
			for i, l := range m.tapped {
				shape, err := outs[i+1].Size()
				if err != nil {
					return err
				}
				want := m.side.Layers[l.Index].Shape
				if len(shape) == 0 || !slices.Equal(shape[1:], want) {
					return fmt.Errorf("layer %s (output %d) has shape %v, the sidecar says (B, %v)", l.Name, i, shape, joinDims(want))
				}
			}
			shape, err := outs[0].Size()
			if err != nil {
				return err
			}
			if len(shape) != 2 || shape[1] != int64(c.Classes) {
				return fmt.Errorf("the logits have shape %v, the sidecar says (B, %d)", shape, c.Classes)
			}
			return nil
		})
	})
}

func joinDims(d []int64) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

// run calls a method and checks the number of outputs.
func (m *TorchScript) run(method string, x *ts.Tensor) ([]*ts.Tensor, error) {
	outs, err := m.mod.Run(method, x, len(m.tapped))
	if err != nil {
		return nil, err
	}
	if len(outs) != len(m.tapped)+1 {
		torchx.DropAll(outs)
		return nil, fmt.Errorf("%s returned %d layer outputs, the sidecar lists %d", method, len(outs)-1, len(m.tapped))
	}
	return outs, nil
}

// Forward implements Model: the module's forward (Eval) or its traced
// training-mode method (Train), the probe called on each exported layer in
// depth order and on the logits for a head layer.
func (m *TorchScript) Forward(x *ts.Tensor, mode Mode, probe Probe) (*ts.Tensor, error) {
	if m.mod == nil {
		return nil, errors.New("models: TorchScript model used after Close")
	}
	if err := checkInput(x, m.spec.Config); err != nil {
		return nil, err
	}
	method := "forward"
	if mode == Train {
		if m.side.TrainMethod == "" {
			return nil, fmt.Errorf("models: %s was exported without a training-mode graph (vitprobe_export train=False)", m.path)
		}
		method = m.side.TrainMethod
	}
	outs, err := m.run(method, x)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %s: %w", m.spec.Name, method, err)
	}
	logits := outs[0]
	defer torchx.DropAll(outs[1:])
	if probe != nil {
		for i, l := range m.tapped {
			if err := probe.Observe(l, outs[i+1]); err != nil {
				_ = logits.Drop()
				return nil, err
			}
		}
		if m.head != nil {
			if err := probe.Observe(*m.head, logits); err != nil {
				_ = logits.Drop()
				return nil, err
			}
		}
	}
	return logits, nil
}

// Sidecar returns the model's sidecar (shared: do not modify).
func (m *TorchScript) Sidecar() *TorchScriptSidecar { return m.side }

// Path returns the module's file.
func (m *TorchScript) Path() string { return m.path }

// Rebuild implements Rebuilder: the same module loaded again, with the
// file's weights, on dev.
func (m *TorchScript) Rebuild(dev gotch.Device) (Model, error) {
	return LoadTorchScript(m.path, dev)
}

// Close implements Model.
func (m *TorchScript) Close() {
	m.base.Close()
	if m.mod != nil {
		m.mod.Close()
		m.mod = nil
	}
}

// Rebuilder is implemented by models that are not built from a preset's
// Spec, such as TorchScript models: Rebuild makes an independent model of
// the same architecture on dev (with the weights it was loaded with, not
// necessarily the current ones).
type Rebuilder interface {
	Rebuild(dev gotch.Device) (Model, error)
}

// Rebuild makes an independent model of m's architecture on dev: through
// Rebuilder when m implements it, else FromSpec (fresh weights). Copy the
// weights over when they matter.
func Rebuild(m Model, dev gotch.Device) (Model, error) {
	if r, ok := m.(Rebuilder); ok {
		return r.Rebuild(dev)
	}
	return FromSpec(m.Spec(), dev)
}

// ErrNoUserData is returned by TorchScriptData when no data path is given:
// an exported model records no dataset of its own.
var ErrNoUserData = errors.New("an exported TorchScript model needs --data: an image folder (one sub-folder per class) or a .safetensors file with x and y")

// TorchScriptData loads the data that the exported model of ck (a
// TorchScriptCheckpoint) is analysed on, from dataPath, an image folder or
// a safetensors tensor file (data.LoadUserData), sized and normalised as
// its sidecar says.
func TorchScriptData(ck Checkpoint, dataPath string, split data.Split) (*data.Dataset, error) {
	if ck.TorchScript == "" {
		return nil, errors.New("models: not a TorchScript checkpoint")
	}
	if dataPath == "" {
		return nil, fmt.Errorf("%s: %w", ck.TorchScript, ErrNoUserData)
	}
	s, err := ReadTorchScriptSidecar(ck.TorchScript)
	if err != nil {
		return nil, err
	}
	return data.LoadUserData(dataPath, split, s.DataInput())
}

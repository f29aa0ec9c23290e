// Package ckptarg resolves the checkpoint arguments of the commands that
// analyse several models (cka, lesion, corrupt): "LABEL=PATH" or "PATH",
// where PATH is a checkpoint sidecar (.json), its weights (.safetensors),
// their common base path, or a run folder of cmd/train (its final.json);
// unlabelled checkpoints are named after their preset, with the training
// phase added when two would share a name. It also picks the dataset the
// checkpoints share and loads their models.
package ckptarg

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models"
)

// Checkpoint is one resolved argument.
type Checkpoint struct {
	// Name labels the checkpoint in results and figures.
	Name string
	// Path is the sidecar's path, SidecarSHA256 its content hash.
	Path          string
	SidecarSHA256 string
	Checkpoint    models.Checkpoint
}

// Resolve reads every argument's sidecar and names the checkpoints. Two
// checkpoints with the same label are an error.
func Resolve(args []string) ([]*Checkpoint, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no checkpoint given")
	}
	var out []*Checkpoint
	used := map[string]bool{}
	for _, a := range args {
		label, p := "", a
		if name, path, ok := strings.Cut(a, "="); ok && name != "" {
			if _, err := os.Stat(a); err != nil { // a path containing "=" stays whole
				label, p = name, path
			}
		}
		if p == "" {
			return nil, fmt.Errorf("checkpoint %q: empty path", a)
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			f := filepath.Join(p, "final.json")
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("%s is a folder without final.json: name a checkpoint in it", p)
			}
			p = f
		}
		ck, err := models.ReadCheckpoint(p)
		if err != nil {
			return nil, err
		}
		if _, err := models.Describe(ck.Spec.Name); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", p, err)
		}
		side := strings.TrimSuffix(strings.TrimSuffix(p, ".json"), ".safetensors") + ".json"
		h, err := prov.HashFile(side)
		if err != nil {
			return nil, err
		}
		if label != "" {
			if used[label] {
				return nil, fmt.Errorf("two checkpoints are labelled %q", label)
			}
			used[label] = true
		}
		out = append(out, &Checkpoint{Name: label, Path: side, SidecarSHA256: h, Checkpoint: ck})
	}
	count := map[string]int{}
	for _, c := range out {
		if c.Name == "" {
			count[c.Checkpoint.Spec.Name]++
		}
	}
	for _, c := range out {
		if c.Name != "" {
			continue
		}
		n := c.Checkpoint.Spec.Name
		if count[n] > 1 && c.Checkpoint.Phase != "" {
			n += "/" + c.Checkpoint.Phase
		}
		base := n
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s/%d", base, i)
		}
		c.Name = n
		used[n] = true
	}
	return out, nil
}

// Dataset returns flag if it is set, else the dataset every checkpoint
// was trained on ("mnist" when none records one); checkpoints of
// different datasets need the flag.
func Dataset(cks []*Checkpoint, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	ds := ""
	for _, c := range cks {
		d := c.Checkpoint.Dataset
		if d == "" {
			continue
		}
		if ds != "" && d != ds {
			return "", fmt.Errorf("the checkpoints were trained on %s and %s: choose the test images with --dataset", ds, d)
		}
		ds = d
	}
	if ds == "" {
		ds = "mnist"
	}
	return ds, nil
}

// Load builds c's model on dev with its weights.
func (c *Checkpoint) Load(dev gotch.Device) (models.Model, error) {
	m, _, err := models.Load(c.Path, dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return m, nil
}

// Inputs returns what a journal header records of c: its model, weights
// hash and dataset.
func (c *Checkpoint) Inputs(dataset string) map[string]string {
	return map[string]string{"model": c.Checkpoint.Spec.Name, "weights_sha256": c.Checkpoint.WeightsSHA256, "dataset": dataset}
}

// FileName turns a name into a file name: "/", "\", ":" and spaces become
// "_".
func FileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

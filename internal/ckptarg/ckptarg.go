// Package ckptarg gives the commands that analyse several models (cka,
// lesion, corrupt) their checkpoints: the arguments resolved and labelled
// as every command does (models/meta), with the sidecar's hash, the dataset
// they share, and their models loaded.
package ckptarg

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
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

// Resolve reads every argument's sidecar and names the checkpoints, as
// every command does (models/meta: ParseRefs, Resolve); the model must be
// a preset of the registry.
func Resolve(args []string) ([]*Checkpoint, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no checkpoint given")
	}
	refs, err := meta.ParseRefs(args)
	if err != nil {
		return nil, err
	}
	rs, err := meta.Resolve(refs)
	if err != nil {
		return nil, err
	}
	out := make([]*Checkpoint, len(rs))
	for i, r := range rs {
		if _, err := models.Describe(r.Spec.Name); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", r.Sidecar, err)
		}
		h, err := prov.HashFile(r.Sidecar)
		if err != nil {
			return nil, err
		}
		out[i] = &Checkpoint{Name: r.Label, Path: r.Sidecar, SidecarSHA256: h, Checkpoint: r.Checkpoint}
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

// Package ckptarg gives the commands that analyse several models (cka,
// lesion, corrupt) their checkpoints: the arguments resolved and labelled
// as every command does (models/meta), with the sidecar's hash, the dataset
// they share, and their models loaded.
package ckptarg

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/internal/torchcli"
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

// Common holds the flags that every command comparing models shares:
// --out, --images, --batch, --dataset, --data, --threads, --device, and
// the checkpoint arguments.
type Common struct {
	Out, Dataset, DataDir, Device string
	Images, Batch, Threads        int
	Args                          []string
}

// Register adds the shared flags to fs, with the command's defaults for
// --images and --batch and the meaning of --batch.
func (c *Common) Register(fs *flag.FlagSet, images, batch int, batchUsage string) {
	fs.StringVar(&c.Out, "out", "", "output folder (required)")
	fs.IntVar(&c.Images, "images", images, "test images: the first N of the test split")
	fs.IntVar(&c.Batch, "batch", batch, batchUsage)
	fs.StringVar(&c.Dataset, "dataset", "", "dataset (default: the checkpoints')")
	fs.StringVar(&c.DataDir, "data", "", "dataset folder (MNIST: found by itself)")
	fs.IntVar(&c.Threads, "threads", 0, "libtorch threads (0: all cores, or $VITPROBE_THREADS)")
	fs.StringVar(&c.Device, "device", "cpu", "device: cpu, cuda, cuda:N")
}

// Parse parses args with fs (the usage text for -h names the command) and
// checks the shared flags: --out given, at least one checkpoint, --images
// and --batch positive.
func (c *Common) Parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	name := fs.Name()
	fs.Usage = func() {}
	if err := cli.ParseFlags(fs, args, true); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Usage(stderr, fs, fmt.Sprintf("usage: %s --out DIR [flags] CHECKPOINT...\n\nSee `go doc github.com/vitprobe/vitprobe/cmd/%s` for the manual.", name, name))
		}
		return err
	}
	c.Args = fs.Args()
	switch {
	case c.Out == "":
		return cli.Usagef("--out is required (the output folder)")
	case len(c.Args) == 0:
		return cli.Usagef("no checkpoint given (usage: %s --out DIR [flags] CHECKPOINT...)", name)
	case c.Images < 1 || c.Batch < 1:
		return cli.Usagef("--images %d, --batch %d: want at least 1", c.Images, c.Batch)
	}
	return nil
}

// Inputs is what a command comparing models starts from.
type Inputs struct {
	Checkpoints []*Checkpoint
	// Dataset names the test images' dataset; Test is its test split.
	Dataset string
	Test    *data.Dataset
	// Threads is libtorch's thread count, Device where the models run.
	Threads int
	Device  gotch.Device
}

// Open resolves the checkpoints, picks their dataset, sets libtorch's
// threads and device, and loads the test split, which must hold --images
// images. A mistake on the command line is a usage error.
func (c *Common) Open() (*Inputs, error) {
	cks, err := Resolve(c.Args)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	dataset, err := Dataset(cks, c.Dataset)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	threads, dev, err := torchcli.Setup(c.Threads, c.Device)
	if err != nil {
		return nil, err
	}
	ds, err := data.Load(dataset, c.DataDir, data.Test)
	if err != nil {
		return nil, err
	}
	if c.Images > ds.Len() {
		return nil, cli.Usagef("--images %d: the %s test split has %d images", c.Images, dataset, ds.Len())
	}
	return &Inputs{Checkpoints: cks, Dataset: dataset, Test: ds, Threads: threads, Device: dev}, nil
}

package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/safetensors"
)

// LandscapeOptions are the settings of a landscape job: everything that
// decides its numbers (landscape.Spec records them).
type LandscapeOptions struct {
	// Grid is the grid of (x, y) coordinates (a 1-D grid has no Y axis).
	Grid landscape.Grid
	// Norm normalises random directions: "filter" (default), "dim0" or
	// "none"; given vectors (Eigvecs) are used as they are unless set.
	Norm string
	// Seed draws the random directions.
	Seed uint64
	// Images training (or Split) examples, a stratified subset drawn with
	// SubsetSeed, evaluated in batches of Batch.
	Images, Batch int
	SubsetSeed    uint64
	// Split is "train" ("" too) or "test"; Dataset overrides the
	// checkpoint's data set.
	Split, Dataset string
	// Augment evaluates augmented images, made once: "recipe" (the
	// checkpoint's training augmentation), "paper" or "" (none).
	Augment string
	// WeightDecay is wd of the regularised loss NLL + (wd/2)·Σ‖w‖² (the
	// official code's NLL + wd·l2 is recorded beside it); nil takes each
	// checkpoint's training weight decay (meta.Training).
	WeightDecay *float64
	// DirFrom, a checkpoint, makes x the line from it (x = 0) to the
	// checkpoint (x = 1); Eigvecs, a safetensors file of flat vectors
	// eigvec.0, eigvec.1, gives the directions. At most one of the two.
	DirFrom, Eigvecs string
	// Move1D and MovePos let tensors of rank < 2 and position tables move.
	Move1D, MovePos bool
}

// Validate checks the options that need no checkpoint, as
// *errs.OptionError.
func (o LandscapeOptions) Validate() error {
	if err := o.Grid.Validate(); err != nil {
		return &errs.OptionError{Err: err}
	}
	if o.Norm != "" {
		if _, err := landscape.ParseNorm(o.Norm); err != nil {
			return errs.Optionf("--norm %q: want filter, dim0 or none", o.Norm)
		}
	}
	switch {
	case o.Images < 1:
		return errs.Optionf("--images %d: want at least 1", o.Images)
	case o.Batch < 1:
		return errs.Optionf("--batch %d: want at least 1", o.Batch)
	case o.WeightDecay != nil && !(*o.WeightDecay >= 0 && *o.WeightDecay <= math.MaxFloat64):
		return errs.Optionf("--wd %v: want a finite number >= 0", *o.WeightDecay)
	case o.DirFrom != "" && o.Eigvecs != "":
		return errs.Optionf("--dir-from and --eigvecs both give the x direction: choose one")
	case o.Split != "train" && o.Split != "test":
		return errs.Optionf("--split %q: want train or test", o.Split)
	case o.Augment != "" && o.Augment != "recipe" && o.Augment != "paper":
		return errs.Optionf("--augment %q: want recipe, paper or none", o.Augment)
	}
	return nil
}

// LandscapeFigures are the figures of a landscape job: presentation only,
// free to change between a run and its rerun or merge.
type LandscapeFigures struct {
	// Plots renders the PNGs.
	Plots bool
	// Clip caps the plotted value minus its minimum at Clip (0: none);
	// ClipDrop leaves the points above out instead.
	Clip     float64
	ClipDrop bool
	// SideBySide also draws all checkpoints on one colour scale.
	SideBySide bool
}

// Landscape evaluates loss-landscape slices of checkpoints. With one
// checkpoint the outputs go into Env.Out, with several into Env.Out/LABEL:
// landscape.csv, landscape.json (landscape.Document), subset.json, the
// figures and the journal; side-by-side figures into Env.Out.
type Landscape struct {
	Env
	// Workers evaluate a point's batches in parallel, one libtorch
	// thread each (0: 1). The numbers do not depend on it.
	Workers int
	// Figures are the figures to draw.
	Figures LandscapeFigures
}

// LandscapeResult is one checkpoint's finished landscape.
type LandscapeResult struct {
	// Label names the checkpoint; Dir holds its outputs.
	Label, Dir string
	*landscape.Result
	// Files are the outputs written, figures included.
	Files []string
}

// LandscapeOutputs is what a landscape job wrote: each checkpoint's
// landscape and the side-by-side figures.
type LandscapeOutputs struct {
	Checkpoints []LandscapeResult
	SideBySide  []string
}

// landscapeJournals names a landscape's journals in its folder.
var landscapeJournals = journal.Names{Single: "landscape.journal.jsonl", Shard: "landscape.shard-%d-of-%d.jsonl"}

// dirs returns the output folder of each checkpoint.
func (j *Landscape) dirs(out string, labels []string) []string {
	d := make([]string, len(labels))
	for i, l := range labels {
		d[i] = out
		if len(labels) > 1 {
			d[i] = filepath.Join(out, l)
		}
	}
	return d
}

// Run evaluates the grid for each checkpoint refs name, resuming from the
// journals, and writes the outputs, unless it is one shard of a sharded
// run: then it returns nil, and Merge writes them once every shard is
// done. Cancelling ctx stops it after the point under way (Interrupted is
// true of the error); the model's weights are restored in every case.
func (j *Landscape) Run(ctx context.Context, refs []meta.Ref, opt LandscapeOptions) (*LandscapeOutputs, error) {
	if opt.Split == "" {
		opt.Split = "train"
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	rs, err := resolve(refs)
	if err != nil {
		return nil, err
	}
	// Models that do not load and data that do not read stop the job
	// before it writes anything.
	sets := &datasets{dir: j.DataDir}
	split, err := data.ParseSplit(opt.Split)
	if err != nil {
		return nil, &errs.OptionError{Err: err}
	}
	for _, r := range rs {
		if _, _, err := sets.dataOf(r, opt.Dataset, split); err != nil {
			return nil, err
		}
		if err := checkTorchScript(r, j.Device, nil, false); err != nil {
			return nil, err
		}
	}
	if err := prepareOut(j.Out); err != nil {
		return nil, err
	}
	labels := make([]string, len(rs))
	for i, r := range rs {
		labels[i] = r.Label
	}
	dirs := j.dirs(j.Out, labels)
	var done []LandscapeResult
	for i, r := range rs {
		res, err := j.one(ctx, r, dirs[i], opt, sets)
		if err != nil {
			if len(rs) > 1 && !Interrupted(err) {
				return nil, fmt.Errorf("%s: %w", r.Label, err)
			}
			return nil, err
		}
		if res != nil {
			done = append(done, *res)
		}
	}
	if j.sharded() {
		return nil, nil
	}
	side, err := j.sideBySide(done)
	if err != nil {
		return nil, err
	}
	return &LandscapeOutputs{Checkpoints: done, SideBySide: side}, nil
}

// Merge combines the shard journals of a sharded run in dir into the
// outputs a single process would have written, byte for byte, taking the
// settings from the journals. labels are the run's checkpoints: one (any
// label, "" for the model's name) when dir holds its journals, several
// when each is in dir/LABEL; none finds them (dir itself, else every
// subfolder holding shard journals).
func (j *Landscape) Merge(dir string, labels ...string) (*LandscapeOutputs, error) {
	if len(labels) == 0 {
		var err error
		if labels, err = landscapeLabels(dir); err != nil {
			return nil, err
		}
	}
	var done []LandscapeResult
	for i, d := range j.dirs(dir, labels) {
		res, label, err := j.merge(d, labels[i])
		if err != nil {
			if len(labels) > 1 {
				return nil, fmt.Errorf("%s: %w", labels[i], err)
			}
			return nil, err
		}
		pv := j.provenance("landscape", res.Spec.Directions.Seed)
		paths, _ := landscapeJournals.Shards(d)
		for _, p := range paths {
			if err := pv.AddInput(p); err != nil {
				return nil, err
			}
		}
		out, err := j.write(res, label, d, pv)
		if err != nil {
			return nil, err
		}
		done = append(done, out)
	}
	side, err := j.sideBySide(done)
	if err != nil {
		return nil, err
	}
	return &LandscapeOutputs{Checkpoints: done, SideBySide: side}, nil
}

// merge merges the shard journals of one folder; label "" becomes the
// model's name.
func (j *Landscape) merge(dir, label string) (*landscape.Result, string, error) {
	paths, err := landscapeJournals.Shards(dir)
	if err != nil {
		return nil, "", fmt.Errorf("merge: %w", err)
	}
	spec, err := landscape.ReadSpec(paths[0])
	if err != nil {
		return nil, "", fmt.Errorf("merge: %w", err)
	}
	res, err := landscape.Merge(spec, paths...)
	if err != nil {
		return nil, "", err
	}
	if label == "" {
		label = spec.Inputs["model"]
	}
	fmt.Fprintf(j.log(), "%s: merged %d shard journals\n", label, len(paths))
	return res, label, nil
}

// landscapeLabels finds the checkpoints of a sharded run in dir: dir itself
// ("" label) when it holds shard journals, else its subfolders that do.
func landscapeLabels(dir string) ([]string, error) {
	if _, err := landscapeJournals.Shards(dir); err == nil {
		return []string{""}, nil
	}
	found, _ := filepath.Glob(filepath.Join(dir, "*", "landscape.shard-*-of-*.jsonl"))
	var labels []string
	seen := map[string]bool{}
	for _, f := range found {
		l := filepath.Base(filepath.Dir(f))
		if !seen[l] {
			seen[l] = true
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("merge: no shard journals (landscape.shard-I-of-N.jsonl) in %s or its subfolders", dir)
	}
	return labels, nil
}

// landscapeInput is a checkpoint loaded for its landscape.
type landscapeInput struct {
	r       meta.Resolved
	m       models.Model
	d       *data.Dataset
	indices []int
	aug     data.Augment
	wd      float64
	dataset string
	// loaded is the hash of the weights as loaded (weightsHash).
	loaded string
}

// one computes the landscape of one checkpoint into dir and writes its
// outputs; nil for a shard of a sharded run.
func (j *Landscape) one(ctx context.Context, r meta.Resolved, dir string, opt LandscapeOptions, sets *datasets) (*LandscapeResult, error) {
	in, err := j.load(r, opt, sets)
	if err != nil {
		return nil, err
	}
	defer in.m.Close()
	spec, ev, err := j.evaluator(in, opt)
	if err != nil {
		return nil, err
	}
	if err := prepareOut(dir); err != nil {
		_ = ev.Close()
		return nil, err
	}
	if err := writeSubset(filepath.Join(dir, "subset.json"), in.dataset, opt.Split, opt.SubsetSeed, in.indices); err != nil {
		_ = ev.Close()
		return nil, err
	}
	jpath := landscapeJournals.Path(dir, j.shard())
	lbl := r.Label
	if j.sharded() {
		lbl += " shard " + j.shard().String()
	}
	res, err := landscape.Run(ctx, spec, ev, landscape.Options{Shard: j.shard(), Journal: jpath, Progress: j.Log, Label: lbl})
	if err := restored(ev, in); err != nil {
		return nil, err
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(j.log(), "%s: %v; rerun the same command to resume\n", r.Label, err)
		}
		return nil, err
	}
	if j.sharded() {
		fmt.Fprintf(j.log(), "%s: shard %s done (%d points in %s); when every shard is done, rerun the same command with --merge (and no --shard)\n",
			r.Label, j.shard(), len(res.Points), jpath)
		return nil, nil
	}
	pv := j.provenance("landscape", opt.Seed)
	module := ""
	if r.TorchScript != "" {
		module = r.TorchScript
	}
	for _, p := range []string{r.Sidecar, module, sidecarOf(opt.DirFrom), opt.Eigvecs} {
		if p == "" {
			continue
		}
		if err := pv.AddInput(p); err != nil {
			return nil, err
		}
	}
	out, err := j.write(res, r.Label, dir, pv)
	return &out, err
}

// sidecarOf is the sidecar of a checkpoint path, "" for none.
func sidecarOf(p string) string {
	if p == "" {
		return ""
	}
	s, _ := meta.SidecarPath(p)
	return s
}

// restored closes the evaluator, which writes the weights back, and checks
// that the model is the checkpoint again, bit for bit.
func restored(ev *analysis.LandscapeEvaluator, in *landscapeInput) error {
	if err := ev.Close(); err != nil {
		return fmt.Errorf("the weights could not be restored after the grid: %w", err)
	}
	h, err := weightsHash(in.m)
	if err != nil {
		return err
	}
	if h != in.loaded {
		return fmt.Errorf("BUG: after the grid the weights hash to %.12s, the checkpoint's to %.12s: the restore is broken; outputs not written",
			h, in.loaded)
	}
	return nil
}

// weightsHash is the checkpoint hash of m's current weights (the SHA-256
// of the safetensors data section, as models.Save records it).
func weightsHash(m models.Model) (string, error) {
	state, err := models.StateTensors(m)
	if err != nil {
		return "", err
	}
	h, err := safetensors.Encode(io.Discard, state, nil)
	if err != nil {
		return "", fmt.Errorf("hash the weights: %w", err)
	}
	return h, nil
}

// indicesHash pins the evaluated examples.
func indicesHash(idx []int) string {
	b := make([]byte, 0, 6*len(idx))
	for _, i := range idx {
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ',')
	}
	return prov.HashBytes(b)
}

// subsetFile is subset.json.
type subsetFile struct {
	Dataset string `json:"dataset"`
	Split   string `json:"split"`
	Seed    uint64 `json:"seed"`
	N       int    `json:"n"`
	Indices []int  `json:"indices"`
}

func writeSubset(path, dataset, split string, seed uint64, idx []int) error {
	b, err := json.Marshal(subsetFile{Dataset: dataset, Split: split, Seed: seed, N: len(idx), Indices: idx})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("subset: %w", err)
	}
	return nil
}

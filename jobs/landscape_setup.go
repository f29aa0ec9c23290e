package jobs

import (
	"encoding/json"
	"fmt"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
)

// load loads a checkpoint, checks its weights, and picks its weight decay,
// evaluation data and augmentation.
func (j *Landscape) load(r meta.Resolved, opt LandscapeOptions, sets *datasets) (*landscapeInput, error) {
	m, _, err := models.Load(r.Sidecar, j.Device)
	if err != nil {
		return nil, err
	}
	in := &landscapeInput{r: r, m: m}
	if err := j.fill(in, opt, sets); err != nil {
		m.Close()
		return nil, err
	}
	return in, nil
}

func (j *Landscape) fill(in *landscapeInput, opt LandscapeOptions, sets *datasets) error {
	r := in.r
	// The weights as loaded, which the grid must leave bit for bit: a
	// checkpoint's sidecar records their hash; an exported TorchScript
	// model's records the module file's (checked by its loader).
	h, err := weightsHash(in.m)
	if err != nil {
		return err
	}
	if r.TorchScript == "" && h != r.WeightsSHA256 {
		return fmt.Errorf("%s: the loaded weights hash to %.12s, the sidecar says %.12s", r.Sidecar, h, r.WeightsSHA256)
	}
	in.loaded = h
	tr := r.Training()
	switch {
	case opt.WeightDecay != nil:
		in.wd = *opt.WeightDecay
	case tr.WeightDecayRecorded:
		in.wd = tr.WeightDecay
	default:
		in.wd = meta.DefaultWeightDecay
		fmt.Fprintf(j.log(), "%s: the checkpoint records no training weight decay; the plotted loss uses wd = %g (no L2 term); set --wd to change it\n",
			r.Label, meta.DefaultWeightDecay)
	}
	split, err := data.ParseSplit(opt.Split)
	if err != nil {
		return &errs.OptionError{Err: err}
	}
	if in.d, in.dataset, err = sets.dataOf(r, opt.Dataset, split); err != nil {
		return err
	}
	c := in.m.Spec().Config
	if in.d.Info.Classes != c.Classes || in.d.Info.Channels != c.InChannels {
		return &errs.IncompatibleError{Checkpoint: r.Sidecar, Reason: fmt.Sprintf("%s has %d classes and %d channels, the model %s %d and %d",
			in.dataset, in.d.Info.Classes, in.d.Info.Channels, in.m.Spec().Name, c.Classes, c.InChannels)}
	}
	if in.indices, err = analysis.LandscapeSubset(in.d, opt.Images, opt.SubsetSeed); err != nil {
		return err
	}
	switch opt.Augment {
	case "recipe":
		if tr.Augment == nil {
			return fmt.Errorf("%s records no training augmentation for --augment; use --augment=paper or none", r.Sidecar)
		}
		in.aug = *tr.Augment
		if in.aug == (data.Augment{}) {
			fmt.Fprintf(j.log(), "%s: the checkpoint's recipe has no augmentation: evaluating on plain images\n", r.Label)
		}
	case "paper":
		in.aug = data.PaperAugment(in.d.Info)
	}
	return nil
}

// evaluator makes the directions, the spec and the evaluator of a loaded
// checkpoint.
func (j *Landscape) evaluator(in *landscapeInput, opt LandscapeOptions) (landscape.Spec, *analysis.LandscapeEvaluator, error) {
	params, err := analysis.LandscapeParams(in.m)
	if err != nil {
		return landscape.Spec{}, nil, err
	}
	rule := analysis.LandscapeZeroRule(in.m, opt.Move1D, opt.MovePos)
	if err := rule.Apply(params); err != nil {
		return landscape.Spec{}, nil, err
	}
	dm := &directionMaker{j: j, m: in.m, opt: opt, params: params}
	if err := dm.make(); err != nil {
		return landscape.Spec{}, nil, err
	}
	dm.spec.Zero = analysis.LandscapeZeroDescription(rule)
	dm.spec.SHA256 = landscape.Fingerprint(dm.dirs...)
	workers := max(j.Workers, 1)
	lopt := &analysis.LandscapeOptions{Batch: opt.Batch, Augment: in.aug, AugmentSeed: opt.SubsetSeed, Workers: workers,
		ClampBuffers: opt.DirFrom != ""}
	inputs, err := analysis.LandscapeInputs(len(in.indices), lopt)
	if err != nil {
		return landscape.Spec{}, nil, err
	}
	inputs["model"] = in.m.Spec().Name
	cfg, _ := json.Marshal(in.m.Spec().Config)
	inputs["model_config"] = string(cfg)
	inputs["weights_sha256"] = in.r.WeightsSHA256
	inputs["phase"] = in.r.Phase // the checkpoint's training phase, for the findings
	inputs["dataset"] = in.dataset
	if src := in.d.Info.Source; src != "" {
		inputs["data_source"] = src
	}
	inputs["split"] = opt.Split
	inputs["subset"] = fmt.Sprintf("stratified n=%d seed=%d", len(in.indices), opt.SubsetSeed)
	inputs["subset_sha256"] = indicesHash(in.indices)
	inputs["device"] = deviceName(j.Device)
	for k, v := range dm.extra {
		inputs[k] = v
	}
	spec := landscape.Spec{Grid: opt.Grid, Directions: dm.spec, WeightDecay: in.wd, Inputs: inputs}
	ev, err := analysis.NewLandscapeEvaluator(in.m, in.d, in.indices, dm.origin, dm.dirs, lopt)
	return spec, ev, err
}

// directionMaker makes the directions the options ask for.
type directionMaker struct {
	j      *Landscape
	m      models.Model
	opt    LandscapeOptions
	params []landscape.Param
	// The results: origin, directions, their description and extra
	// inputs (hashes of direction files).
	origin []landscape.Param
	dirs   []landscape.Direction
	spec   landscape.DirSpec
	extra  map[string]string
}

func (d *directionMaker) n() int {
	if d.opt.Grid.Is2D() {
		return 2
	}
	return 1
}

func (d *directionMaker) norm() landscape.Norm {
	if d.opt.Norm != "" {
		return landscape.Norm(d.opt.Norm)
	}
	return landscape.NormFilter
}

func (d *directionMaker) make() error {
	d.extra = map[string]string{}
	d.origin = d.params
	switch {
	case d.opt.Eigvecs != "":
		return d.vectors()
	case d.opt.DirFrom != "":
		return d.between()
	}
	d.dirs = make([]landscape.Direction, d.n())
	for k := range d.dirs {
		var err error
		if d.dirs[k], err = landscape.Random(d.params, d.opt.Seed, k, d.norm()); err != nil {
			return err
		}
	}
	d.spec = landscape.DirSpec{Kind: "random", Seed: d.opt.Seed, Norm: d.norm()}
	return nil
}

// vectors reads given direction vectors (e.g. Hessian eigenvectors).
func (d *directionMaker) vectors() error {
	path, name := d.opt.Eigvecs, d.m.Spec().Name
	e, err := analysis.LoadLandscapeEigvecs(path)
	if err != nil {
		return err
	}
	if e.Model != "" && e.Model != name {
		return &errs.IncompatibleError{Checkpoint: path, Reason: fmt.Sprintf("--eigvecs %s was computed for %s, the checkpoint is a %s", path, e.Model, name)}
	}
	if len(e.Vectors) < d.n() {
		return fmt.Errorf("--eigvecs %s holds %d vector(s); a 2-D grid needs 2 (or use --1d)", path, len(e.Vectors))
	}
	if d.dirs, err = e.Directions(d.params, d.n()); err != nil {
		return &errs.IncompatibleError{Checkpoint: path, Reason: fmt.Sprintf("--eigvecs %s does not fit %s: %v", path, name, err)}
	}
	d.spec = landscape.DirSpec{Kind: "vector", Norm: landscape.NormNone}
	if d.opt.Norm != "" && d.norm() != landscape.NormNone {
		d.spec.Norm = d.norm()
		for _, dir := range d.dirs {
			if err := landscape.Normalize(dir, d.params, d.norm()); err != nil {
				return err
			}
		}
	}
	h, err := prov.HashFile(path)
	if err != nil {
		return err
	}
	d.extra["eigvecs_sha256"] = h
	return nil
}

// between makes x the line from the --dir-from checkpoint to this one.
func (d *directionMaker) between() error {
	from, fck, err := models.Load(d.opt.DirFrom, d.j.Device)
	if err != nil {
		return fmt.Errorf("--dir-from: %w", err)
	}
	defer from.Close()
	if a, b := from.Spec(), d.m.Spec(); a.Name != b.Name || a.Config != b.Config {
		return &errs.IncompatibleError{Checkpoint: d.opt.DirFrom, Reason: fmt.Sprintf(
			"--dir-from %s is a %s (%+v), the checkpoint a %s (%+v): a line between them needs one architecture",
			d.opt.DirFrom, a.Name, a.Config, b.Name, b.Config)}
	}
	fp, err := analysis.LandscapeParams(from)
	if err != nil {
		return err
	}
	for i := range fp {
		fp[i].Zero = d.params[i].Zero
	}
	d1, err := landscape.Between(fp, d.params)
	if err != nil {
		return fmt.Errorf("--dir-from %s: %w", d.opt.DirFrom, err)
	}
	d.extra["dir_from_weights_sha256"] = fck.WeightsSHA256
	d.origin, d.dirs = fp, []landscape.Direction{d1}
	d.spec = landscape.DirSpec{Kind: "between"}
	if d.n() == 2 {
		// The y direction is scaled to the origin, the --dir-from weights.
		d2, err := landscape.Random(fp, d.opt.Seed, 1, d.norm())
		if err != nil {
			return err
		}
		d.dirs = append(d.dirs, d2)
		d.spec = landscape.DirSpec{Kind: "between+random", Seed: d.opt.Seed, Norm: d.norm()}
	}
	return nil
}

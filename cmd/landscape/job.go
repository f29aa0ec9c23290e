package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/safetensors"
)

// trainInfo is the part of a checkpoint's trainer state this command
// reads: the recipe's weight decay and augmentation.
type trainInfo struct {
	Config struct {
		WeightDecay *float64      `json:"weight_decay"`
		Augment     *data.Augment `json:"augment"`
		Dataset     string        `json:"dataset"`
	} `json:"config"`
}

// outcome is one checkpoint's finished landscape.
type outcome struct {
	label  string
	dir    string
	result *landscape.Result
}

// execute runs the command on parsed options.
func execute(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	_, dev, err := cli.Setup(1, o.device)
	if err != nil {
		return err
	}
	workers := o.threads
	if workers == 0 {
		if workers, err = defaultWorkers(); err != nil {
			return err
		}
	}
	if dev != gotch.CPU {
		workers = 1
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	labels, err := resolveLabels(o.ckpts)
	if err != nil {
		return err
	}
	datasets := map[string]*data.Dataset{}
	var done []outcome
	for k, c := range o.ckpts {
		dir := o.out
		if len(o.ckpts) > 1 {
			dir = filepath.Join(o.out, labels[k])
		}
		res, err := one(ctx, o, c.path, labels[k], dir, workers, dev, datasets, stdout, stderr)
		if err != nil {
			if len(o.ckpts) > 1 && !errors.Is(err, cli.ErrInterrupted) {
				return fmt.Errorf("%s: %w", labels[k], err)
			}
			return err
		}
		if res != nil {
			done = append(done, outcome{label: labels[k], dir: dir, result: res})
		}
	}
	if o.sharded {
		return nil
	}
	if o.sideBySide && len(done) > 1 && o.plots {
		paths, err := sideBySide(o, done)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintf(stdout, "wrote %s\n", p)
		}
	}
	return nil
}

// defaultWorkers is every core, or $VITPROBE_THREADS.
func defaultWorkers() (int, error) {
	if s := os.Getenv("VITPROBE_THREADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, cli.Usagef("VITPROBE_THREADS=%q is not a positive integer", s)
		}
		return n, nil
	}
	return max(1, numCPU()), nil
}

// resolveLabels gives every checkpoint a label: its NAME=, else its
// model's name, else (when two would clash) the model and the sidecar's
// base name.
func resolveLabels(cks []labelled) ([]string, error) {
	out := make([]string, len(cks))
	count := map[string]int{}
	for k, c := range cks {
		if c.named {
			out[k] = c.label
			continue
		}
		ck, err := models.ReadCheckpoint(c.path)
		if err != nil {
			return nil, err
		}
		out[k] = ck.Spec.Name
		count[out[k]]++
	}
	for k, c := range cks {
		if !c.named && count[out[k]] > 1 {
			base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(c.path), ".json"), ".safetensors")
			out[k] += "-" + base
		}
	}
	for i := range out {
		for j := range i {
			if out[i] == out[j] {
				return nil, cli.Usagef("two checkpoints would share the label %q: label them NAME=CHECKPOINT", out[i])
			}
		}
	}
	return out, nil
}

// one computes (or merges) the landscape of one checkpoint and writes its
// outputs. It returns nil without error for a shard of a sharded run.
func one(ctx context.Context, o *options, path, label, dir string, workers int, dev gotch.Device,
	datasets map[string]*data.Dataset, stdout, stderr io.Writer) (*landscape.Result, error) {
	m, ck, err := models.Load(path, dev)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if h, err := weightsHash(m); err != nil {
		return nil, err
	} else if h != ck.WeightsSHA256 {
		return nil, fmt.Errorf("%s: the loaded weights hash to %.12s, the sidecar says %.12s", path, h, ck.WeightsSHA256)
	}
	var ti trainInfo
	if len(ck.Train) > 0 {
		_ = json.Unmarshal(ck.Train, &ti) // a checkpoint without trainer state is fine
	}
	wd := 0.05
	switch {
	case o.wdSet:
		wd = o.wd
	case ti.Config.WeightDecay != nil:
		wd = *ti.Config.WeightDecay
	default:
		fmt.Fprintf(stderr, "%s: the checkpoint records no training weight decay; the plotted loss uses wd = 0.05 (the paper's); set --wd to change it\n", label)
	}

	// The evaluation data.
	dsName := o.dataset
	if dsName == "" {
		dsName = ck.Dataset
	}
	if dsName == "" {
		dsName = ti.Config.Dataset
	}
	if dsName == "" {
		return nil, cli.Usagef("%s records no dataset: give --dataset", path)
	}
	split, err := data.ParseSplit(o.split)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	key := dsName + "\x00" + o.dataDir + "\x00" + o.split
	d := datasets[key]
	if d == nil {
		if d, err = data.Load(dsName, o.dataDir, split); err != nil {
			return nil, err
		}
		datasets[key] = d
	}
	if d.Info.Classes != m.Spec().Config.Classes || d.Info.Channels != m.Spec().Config.InChannels {
		return nil, fmt.Errorf("%s has %d classes and %d channels, the model %s %d and %d", dsName, d.Info.Classes, d.Info.Channels,
			m.Spec().Name, m.Spec().Config.Classes, m.Spec().Config.InChannels)
	}
	indices, err := analysis.LandscapeSubset(d, o.images, o.subsetSeed)
	if err != nil {
		return nil, err
	}
	var aug data.Augment
	switch o.augment {
	case "recipe":
		if ti.Config.Augment == nil {
			return nil, fmt.Errorf("%s records no training augmentation for --augment; use --augment=paper or none", path)
		}
		aug = *ti.Config.Augment
		if aug == (data.Augment{}) {
			fmt.Fprintf(stderr, "%s: the checkpoint's recipe has no augmentation: evaluating on plain images\n", label)
		}
	case "paper":
		aug = data.PaperAugment(d.Info)
	}

	// Parameters, still tensors, directions.
	params, err := analysis.LandscapeParams(m)
	if err != nil {
		return nil, err
	}
	rule := analysis.LandscapeZeroRule(m, o.move1D, o.movePos)
	if err := rule.Apply(params); err != nil {
		return nil, err
	}
	origin, dirs, ds, extra, err := directions(o, m, params, dev)
	if err != nil {
		return nil, err
	}
	ds.Zero = analysis.LandscapeZeroDescription(rule)
	ds.SHA256 = landscape.Fingerprint(dirs...)

	lopt := &analysis.LandscapeOptions{Batch: o.batch, Augment: aug, AugmentSeed: o.subsetSeed, Workers: workers,
		ClampBuffers: o.dirFrom != ""}
	inputs, err := analysis.LandscapeInputs(len(indices), lopt)
	if err != nil {
		return nil, err
	}
	inputs["model"] = m.Spec().Name
	cfg, _ := json.Marshal(m.Spec().Config)
	inputs["model_config"] = string(cfg)
	inputs["weights_sha256"] = ck.WeightsSHA256
	inputs["phase"] = ck.Phase // the checkpoint's training phase, for reports
	inputs["dataset"] = dsName
	inputs["split"] = o.split
	inputs["subset"] = fmt.Sprintf("stratified n=%d seed=%d", len(indices), o.subsetSeed)
	inputs["subset_sha256"] = indicesHash(indices)
	inputs["device"] = deviceName(dev)
	for k, v := range extra {
		inputs[k] = v
	}
	spec := landscape.Spec{Grid: o.grid, Directions: ds, WeightDecay: wd, Inputs: inputs}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}

	var res *landscape.Result
	if o.merge {
		journals, err := shardJournals(dir)
		if err != nil {
			return nil, err
		}
		if res, err = landscape.Merge(spec, journals...); err != nil {
			return nil, explainJournalError(err, spec)
		}
		fmt.Fprintf(stderr, "%s: merged %d shard journals\n", label, len(journals))
	} else {
		journal := filepath.Join(dir, landscape.JournalName(o.shard))
		if err := checkJournal(journal, spec); err != nil {
			return nil, err
		}
		ev, err := analysis.NewLandscapeEvaluator(m, d, indices, origin, dirs, lopt)
		if err != nil {
			return nil, err
		}
		lbl := label
		if o.sharded {
			lbl += " shard " + o.shard.String()
		}
		res, err = landscape.Run(ctx, spec, ev, landscape.Options{Shard: o.shard, Journal: journal, Progress: stderr, Label: lbl})
		cerr := ev.Close()
		if cerr != nil {
			return nil, fmt.Errorf("the weights could not be restored after the grid: %w", cerr)
		}
		// The model must be the checkpoint again, bit for bit.
		h, herr := weightsHash(m)
		if herr != nil {
			return nil, herr
		}
		if h != ck.WeightsSHA256 {
			return nil, fmt.Errorf("BUG: after the grid the weights hash to %.12s, the checkpoint's to %.12s: the restore is broken; outputs not written", h, ck.WeightsSHA256)
		}
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "%s: %v; rerun the same command to resume\n", label, trimmed{err})
				return nil, cli.ErrInterrupted
			}
			return nil, err
		}
		if o.sharded {
			fmt.Fprintf(stdout, "%s: shard %s done (%d points in %s); when every shard is done, rerun the same command with --merge (and no --shard)\n",
				label, o.shard, len(res.Points), journal)
			return nil, nil
		}
	}
	if err := writeOutputs(o, res, label, dir, path, indices, dsName, stdout); err != nil {
		return nil, err
	}
	return res, nil
}

// directions makes the origin and directions the options ask for, a
// description for the spec, and extra inputs (hashes of direction files).
func directions(o *options, m models.Model, params []landscape.Param, dev gotch.Device) ([]landscape.Param, []landscape.Direction, landscape.DirSpec, map[string]string, error) {
	n := 2
	if o.oneD {
		n = 1
	}
	extra := map[string]string{}
	norm := landscape.NormFilter
	if o.norm != "" {
		norm = landscape.Norm(o.norm)
	}
	random := func(k int) (landscape.Direction, error) { return landscape.Random(params, o.seed, k, norm) }
	switch {
	case o.eigvecs != "":
		e, err := analysis.LoadLandscapeEigvecs(o.eigvecs)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, err
		}
		if e.Model != "" && e.Model != m.Spec().Name {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--eigvecs %s was computed for %s, the checkpoint is a %s", o.eigvecs, e.Model, m.Spec().Name)
		}
		if len(e.Vectors) < n {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--eigvecs %s holds %d vector(s); a 2-D grid needs 2 (or use --1d)", o.eigvecs, len(e.Vectors))
		}
		dirs, err := e.Directions(params, n)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--eigvecs %s does not fit %s: %w", o.eigvecs, m.Spec().Name, err)
		}
		ds := landscape.DirSpec{Kind: "vector", Norm: landscape.NormNone}
		if o.norm != "" && norm != landscape.NormNone {
			ds.Norm = norm
			for _, d := range dirs {
				if err := landscape.Normalize(d, params, norm); err != nil {
					return nil, nil, landscape.DirSpec{}, nil, err
				}
			}
		}
		h, err := prov.HashFile(o.eigvecs)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, err
		}
		extra["eigvecs_sha256"] = h
		return params, dirs, ds, extra, nil
	case o.dirFrom != "":
		from, fck, err := models.Load(o.dirFrom, dev)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--dir-from: %w", err)
		}
		defer from.Close()
		if a, b := from.Spec(), m.Spec(); a.Name != b.Name || a.Config != b.Config {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--dir-from %s is a %s (%+v), the checkpoint a %s (%+v): a line between them needs one architecture",
				o.dirFrom, a.Name, a.Config, b.Name, b.Config)
		}
		fp, err := analysis.LandscapeParams(from)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, err
		}
		for i := range fp {
			fp[i].Zero = params[i].Zero
		}
		d1, err := landscape.Between(fp, params)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, fmt.Errorf("--dir-from %s: %w", o.dirFrom, err)
		}
		extra["dir_from_weights_sha256"] = fck.WeightsSHA256
		dirs := []landscape.Direction{d1}
		ds := landscape.DirSpec{Kind: "between"}
		if n == 2 {
			// The y direction is scaled to the origin, the --dir-from weights.
			d2, err := landscape.Random(fp, o.seed, 1, norm)
			if err != nil {
				return nil, nil, landscape.DirSpec{}, nil, err
			}
			dirs = append(dirs, d2)
			ds = landscape.DirSpec{Kind: "between+random", Seed: o.seed, Norm: norm}
		}
		return fp, dirs, ds, extra, nil
	}
	dirs := make([]landscape.Direction, n)
	for k := range n {
		d, err := random(k)
		if err != nil {
			return nil, nil, landscape.DirSpec{}, nil, err
		}
		dirs[k] = d
	}
	return params, dirs, landscape.DirSpec{Kind: "random", Seed: o.seed, Norm: norm}, extra, nil
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

func deviceName(d gotch.Device) string {
	if d == gotch.CPU {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", d.Value)
}

// journalFile is the part of a journal header this command compares.
type journalFile struct {
	Spec json.RawMessage `json:"spec"`
}

// checkJournal refuses, with the setting that differs, a journal written
// under another spec. A missing or empty journal is fine.
func checkJournal(path string, spec landscape.Spec) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	line, _, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil // torn header: the journal starts afresh
	}
	var jf journalFile
	if err := json.Unmarshal(line, &jf); err != nil || len(jf.Spec) == 0 {
		return fmt.Errorf("%s is not a landscape journal; remove it or choose another --out", path)
	}
	now, _ := json.Marshal(spec)
	if diff := specDiff(jf.Spec, now); diff != "" {
		return fmt.Errorf("%s was written with other settings (%s); remove it or choose another --out", path, diff)
	}
	return nil
}

// explainJournalError turns a merge's header mismatch into the setting
// that differs, when it can.
func explainJournalError(err error, spec landscape.Spec) error {
	re := regexp.MustCompile(`journal: (\S+) was written with other settings`)
	if m := re.FindStringSubmatch(err.Error()); m != nil {
		if cerr := checkJournal(m[1], spec); cerr != nil {
			return cerr
		}
	}
	return err
}

// specDiff names the first few settings that differ between two specs
// given as JSON, "" when none does.
func specDiff(was, now []byte) string {
	var a, b map[string]any
	if json.Unmarshal(was, &a) != nil || json.Unmarshal(now, &b) != nil {
		return "unreadable header"
	}
	var diffs []string
	var walk func(prefix string, x, y any)
	walk = func(prefix string, x, y any) {
		mx, okx := x.(map[string]any)
		my, oky := y.(map[string]any)
		if okx && oky {
			keys := map[string]bool{}
			for k := range mx {
				keys[k] = true
			}
			for k := range my {
				keys[k] = true
			}
			var ks []string
			for k := range keys {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			for _, k := range ks {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, mx[k], my[k])
			}
			return
		}
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if !bytes.Equal(jx, jy) {
			diffs = append(diffs, fmt.Sprintf("%s was %s, now %s", prefix, short(jx), short(jy)))
		}
	}
	walk("", a, b)
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more", len(diffs)-3))
	}
	return strings.Join(diffs, "; ")
}

func short(b []byte) string {
	if string(b) == "null" {
		return "unset"
	}
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

// shardJournals finds the shard journals of dir: every
// landscape.shard-I-of-N.jsonl, all with one N.
func shardJournals(dir string) ([]string, error) {
	found, err := filepath.Glob(filepath.Join(dir, "landscape.shard-*-of-*.jsonl"))
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`landscape\.shard-(\d+)-of-(\d+)\.jsonl$`)
	counts := map[int]bool{}
	for _, f := range found {
		if m := re.FindStringSubmatch(f); m != nil {
			n, _ := strconv.Atoi(m[2])
			counts[n] = true
		}
	}
	switch len(counts) {
	case 0:
		return nil, fmt.Errorf("--merge: no shard journals (landscape.shard-I-of-N.jsonl) in %s", dir)
	case 1:
	default:
		var ns []int
		for n := range counts {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		return nil, fmt.Errorf("--merge: %s holds journals of runs split %v ways; keep one set", dir, ns)
	}
	var n int
	for k := range counts {
		n = k
	}
	paths := landscape.ShardJournals(dir, n)
	var missing []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, filepath.Base(p))
		}
	}
	if len(missing) > 0 {
		if len(missing) > 4 {
			missing = append(missing[:4], "...")
		}
		return nil, fmt.Errorf("--merge: %d of %d shard journals are missing in %s (%s): run those shards first",
			len(missing), n, dir, strings.Join(missing, ", "))
	}
	return paths, nil
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
	return atomicfile.WriteFile(path, append(b, '\n'))
}

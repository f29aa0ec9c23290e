package reports

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// Demo is everything the demo's front page shows, read from the folder the
// demo's commands wrote (scripts/demo.sh): training runs, Hessian spectra,
// landscape and Fourier figures, stage times, and the findings decided on
// those numbers.
type Demo struct {
	Out    string
	Stages []Stage
	// FirstStages are the stage times of the first run into this folder
	// (timings-first.tsv), the one that computed everything.
	FirstStages []Stage
	Runs        []TrainRun
	Hessian     *results.Hessian
	Fourier     *results.Fourier
	Lesion      *results.Lesion
	Corruption  *results.Corruption
	// CKA reports that cka/cka.json exists (the page shows its heat maps).
	CKA      bool
	Pictures map[string][]string // section -> PNG paths relative to Out
	Links    map[string]string   // section -> its own report, relative to Out
	// Report is what package findings decided; Study is set for a
	// study's folder (seed-N folders inside), Seeds then lists them.
	Report  *findings.Report
	Study   bool
	Seeds   []string
	Missing []string
}

// Stage is one stage of the demo and its wall time.
type Stage struct {
	Name    string
	Seconds float64
}

// TrainRun is one training run of the demo.
type TrainRun struct {
	Model   string
	Family  meta.Family
	Dir     string
	Params  int64
	Epochs  []results.EpochMetrics
	Curves  string
	Final   bool
	Seconds float64
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// familyOrder is the order of the families on the page.
var familyOrder = map[meta.Family]int{meta.ResNet: 0, meta.ViT: 1, meta.AlterNet: 2}

// CollectDemo reads what the demo's commands (or a study's, in its
// seed-N folders) wrote into out and decides the findings on it. Missing
// parts are listed in Missing, never invented; the findings they would
// decide are inconclusive.
func CollectDemo(out string) (*Demo, error) {
	st, err := os.Stat(out)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("report: %s is not a folder (run the demo first: make demo)", out)
	}
	d := &Demo{Out: out, Pictures: map[string][]string{}, Links: map[string]string{}}
	d.Stages = readTimings(filepath.Join(out, "timings.tsv"))
	d.FirstStages = readTimings(filepath.Join(out, "timings-first.tsv"))
	in, err := FindingsInputs(out)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if d.Report, err = findings.Decide(in); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if IsStudy(out) {
		// A study's page: the findings, their tables and each seed's
		// folder (whose own page `report --out SEED-FOLDER` writes).
		d.Study = true
		for _, sd := range SeedDirs(out) {
			d.Seeds = append(d.Seeds, filepath.Base(sd.Dir))
		}
		return d, nil
	}
	d.Runs = readRuns(filepath.Join(out, "train"))
	if len(d.Runs) == 0 {
		d.Missing = append(d.Missing, "training runs (train/*/metrics.json)")
	}
	var h results.Hessian
	if err := readJSONFile(filepath.Join(out, "hessian", "hessian.json"), &h); err == nil {
		d.Hessian = &h
	} else {
		d.Missing = append(d.Missing, "Hessian spectra (hessian/hessian.json)")
	}
	var f results.Fourier
	if err := readJSONFile(filepath.Join(out, "fourier", "results.json"), &f); err == nil {
		d.Fourier = &f
	} else {
		d.Missing = append(d.Missing, "Fourier analysis (fourier/results.json)")
	}
	if _, err := os.Stat(filepath.Join(out, "cka", "cka.json")); err == nil {
		d.CKA = true
	} else {
		d.Missing = append(d.Missing, "CKA (cka/cka.json)")
	}
	var l results.Lesion
	if err := readJSONFile(filepath.Join(out, "lesion", "lesion.json"), &l); err == nil {
		d.Lesion = &l
	} else {
		d.Missing = append(d.Missing, "lesion study (lesion/lesion.json)")
	}
	var c results.Corruption
	if err := readJSONFile(filepath.Join(out, "corrupt", "corrupt.json"), &c); err == nil {
		d.Corruption = &c
	} else {
		d.Missing = append(d.Missing, "corruption robustness (corrupt/corrupt.json)")
	}
	for _, sec := range []string{"train", "hessian", "landscape", "fourier", "cka", "lesion", "corrupt"} {
		d.Pictures[sec] = pngs(out, sec)
	}
	// Landscapes: the side-by-side figures first, each model's own below
	// (when there are side-by-side figures).
	var top, nested []string
	for _, p := range d.Pictures["landscape"] {
		if strings.Count(filepath.ToSlash(p), "/") > 1 {
			nested = append(nested, p)
		} else {
			top = append(top, p)
		}
	}
	if len(top) > 0 {
		d.Pictures["landscape"], d.Pictures["landscape-models"] = top, nested
	}
	for sec, page := range map[string]string{"hessian": "hessian/summary.html", "fourier": "fourier/report.html"} {
		if _, err := os.Stat(filepath.Join(out, page)); err == nil {
			d.Links[sec] = page
		}
	}
	// The representation claims are decided on the demo's own lesion and
	// corruption results (a study's seed folder has none: left out there).
	if d.Lesion != nil || d.Corruption != nil || SeedDirs(out)[0].Label == "demo" {
		d.Report.AddRun(findings.DecideRepresentation(d.Lesion, d.Corruption, checkpointFamily(out))...)
	}
	return d, nil
}

// checkpointFamily returns the family of a checkpoint of a result
// (lesion.json, corrupt.json) from its sidecar's spec: at the path the
// result records, else (a moved folder) at train/NAME/final.json in out.
func checkpointFamily(out string) func(name, path string) meta.Family {
	return func(name, path string) meta.Family {
		for _, p := range []string{path, filepath.Join(out, "train", name, "final.json")} {
			if ck, err := meta.ReadCheckpoint(p); err == nil {
				return ck.Spec.Family
			}
		}
		return ""
	}
}

func readTimings(path string) []Stage {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	rows, err := r.ReadAll()
	if err != nil {
		return nil
	}
	var out []Stage
	for _, row := range rows {
		if len(row) < 2 {
			continue
		}
		s, err := strconv.ParseFloat(row[1], 64)
		if err != nil {
			continue
		}
		out = append(out, Stage{Name: row[0], Seconds: s})
	}
	return out
}

func readRuns(dir string) []TrainRun {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var runs []TrainRun
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rd := filepath.Join(dir, e.Name())
		var ms []results.EpochMetrics
		if err := readJSONFile(filepath.Join(rd, "metrics.json"), &ms); err != nil || len(ms) == 0 {
			continue
		}
		run := TrainRun{Model: e.Name(), Dir: filepath.Join("train", e.Name()), Epochs: ms}
		if ck, err := meta.ReadCheckpoint(filepath.Join(rd, "final.json")); err == nil {
			run.Params, run.Final, run.Family = ck.Params, ck.Phase == "final", ck.Spec.Family
		}
		for _, m := range ms {
			run.Seconds += m.Seconds
		}
		if _, err := os.Stat(filepath.Join(rd, "curves.png")); err == nil {
			run.Curves = filepath.Join("train", e.Name(), "curves.png")
		}
		runs = append(runs, run)
	}
	sort.SliceStable(runs, func(i, j int) bool { return familyOrder[runs[i].Family] < familyOrder[runs[j].Family] })
	return runs
}

// pngs lists the PNG files under out/sec, relative to out, sorted.
func pngs(out, sec string) []string {
	var list []string
	_ = filepath.WalkDir(filepath.Join(out, sec), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() && strings.EqualFold(filepath.Ext(p), ".png") {
			if rel, err := filepath.Rel(out, p); err == nil {
				list = append(list, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	sort.Strings(list)
	return list
}

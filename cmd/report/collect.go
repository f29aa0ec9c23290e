package main

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
)

// demo is everything the page shows.
type demo struct {
	Out    string
	Stages []stage
	// FirstStages are the stage times of the first run into this folder
	// (timings-first.tsv), the one that computed everything.
	FirstStages []stage
	Runs        []trainRun
	Hessian     *hessianDoc
	Fourier     *fourierDoc
	Pictures    map[string][]string // section -> PNG paths relative to Out
	Links       map[string]string   // section -> its own report, relative to Out
	// Report is what package findings decided; Study is set for a
	// study's folder (seed-N folders inside), Seeds then lists them.
	Report  *findings.Report
	Study   bool
	Seeds   []string
	Missing []string
}

type stage struct {
	Name    string
	Seconds float64
}

type trainRun struct {
	Model   string
	Dir     string
	Params  int64
	Epochs  []map[string]float64
	Curves  string
	Final   bool
	Seconds float64
}

// The parts of the other commands' JSON outputs the page reads.
type hessianDoc struct {
	Models []struct {
		Label   string `json:"label"`
		Model   string `json:"model"`
		Phase   string `json:"phase"`
		Summary struct {
			N   int     `json:"n"`
			Min float64 `json:"min"`
			Max float64 `json:"max"`
		} `json:"summary"`
		WeightDecay float64 `json:"weight_decay"`
		Products    int     `json:"products"`
		Batches     []struct {
			Values []float64 `json:"values"`
		} `json:"batches"`
	} `json:"models"`
}

type fourierDoc struct {
	Images int `json:"images"`
	Models []struct {
		Name  string `json:"name"`
		Model struct {
			Name string `json:"name"`
		} `json:"model"`
		Fourier *struct {
			Layers []struct {
				Name    string    `json:"name"`
				Kind    string    `json:"kind"`
				Depth   float64   `json:"depth"`
				DLogAmp []float64 `json:"dlogamp"`
			} `json:"layers"`
		} `json:"fourier"`
		Variance *struct {
			Layers []struct {
				Name     string  `json:"name"`
				Kind     string  `json:"kind"`
				Depth    float64 `json:"depth"`
				Variance float64 `json:"variance"`
			} `json:"layers"`
		} `json:"variance"`
		Noise *struct {
			Images int     `json:"images"`
			Clean  float64 `json:"clean_accuracy"`
			Bands  []struct {
				Center float64 `json:"center"`
				Delta  float64 `json:"delta"`
				SE     float64 `json:"stderr"`
			} `json:"bands"`
		} `json:"noise"`
	} `json:"models"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// family names the architecture family of a preset.
func family(model string) string {
	switch {
	case strings.HasPrefix(model, "vit"):
		return "vit"
	case strings.HasPrefix(model, "alternet"):
		return "alternet"
	case strings.HasPrefix(model, "resnet"):
		return "resnet"
	}
	return ""
}

func collect(out string) (*demo, error) {
	st, err := os.Stat(out)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("report: %s is not a folder (run the demo first: make demo)", out)
	}
	d := &demo{Out: out, Pictures: map[string][]string{}, Links: map[string]string{}}
	d.Stages = readTimings(filepath.Join(out, "timings.tsv"))
	d.FirstStages = readTimings(filepath.Join(out, "timings-first.tsv"))
	if d.Report, err = decide(out); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if isStudy(out) {
		// A study's page: the findings, their tables and each seed's
		// folder (whose own page `report --out SEED-FOLDER` writes).
		d.Study = true
		for _, sd := range seedDirs(out) {
			d.Seeds = append(d.Seeds, filepath.Base(sd.dir))
		}
		return d, nil
	}
	d.Runs = readRuns(filepath.Join(out, "train"))
	if len(d.Runs) == 0 {
		d.Missing = append(d.Missing, "training runs (train/*/metrics.json)")
	}
	var h hessianDoc
	if err := readJSON(filepath.Join(out, "hessian", "hessian.json"), &h); err == nil {
		d.Hessian = &h
	} else {
		d.Missing = append(d.Missing, "Hessian spectra (hessian/hessian.json)")
	}
	var f fourierDoc
	if err := readJSON(filepath.Join(out, "fourier", "results.json"), &f); err == nil {
		d.Fourier = &f
	} else {
		d.Missing = append(d.Missing, "Fourier analysis (fourier/results.json)")
	}
	for _, sec := range []string{"train", "hessian", "landscape", "fourier"} {
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
	return d, nil
}

func readTimings(path string) []stage {
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
	var out []stage
	for _, row := range rows {
		if len(row) < 2 {
			continue
		}
		s, err := strconv.ParseFloat(row[1], 64)
		if err != nil {
			continue
		}
		out = append(out, stage{Name: row[0], Seconds: s})
	}
	return out
}

func readRuns(dir string) []trainRun {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var runs []trainRun
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		rd := filepath.Join(dir, e.Name())
		var ms []map[string]float64
		if err := readJSON(filepath.Join(rd, "metrics.json"), &ms); err != nil || len(ms) == 0 {
			continue
		}
		run := trainRun{Model: e.Name(), Dir: filepath.Join("train", e.Name()), Epochs: ms}
		var side struct {
			Params int64  `json:"params"`
			Phase  string `json:"phase"`
		}
		if err := readJSON(filepath.Join(rd, "final.json"), &side); err == nil {
			run.Params, run.Final = side.Params, side.Phase == "final"
		}
		for _, m := range ms {
			run.Seconds += m["seconds"]
		}
		if _, err := os.Stat(filepath.Join(rd, "curves.png")); err == nil {
			run.Curves = filepath.Join("train", e.Name(), "curves.png")
		}
		runs = append(runs, run)
	}
	order := map[string]int{"resnet": 0, "vit": 1, "alternet": 2}
	sort.SliceStable(runs, func(i, j int) bool { return order[family(runs[i].Model)] < order[family(runs[j].Model)] })
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

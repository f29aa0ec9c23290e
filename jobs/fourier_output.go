package jobs

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

// entries reads the checkpoints' journals in dir, in the order of labels,
// and checks that they share one data set and image count.
func (j *Fourier) entries(dir string, labels []string) ([]*results.FourierEntry, fourierHeader, error) {
	var first fourierHeader
	out := make([]*results.FourierEntry, len(labels))
	for i, l := range labels {
		path := fourierJournal(dir, l)
		var hdr fourierHeader
		if err := journal.ReadHeader(path, &hdr); err != nil {
			return nil, first, err
		}
		if i == 0 {
			first = hdr
		} else if hdr.Dataset != first.Dataset || hdr.Images != first.Images || hdr.Batch != first.Batch {
			return nil, first, fmt.Errorf("%s measured %d images of %s in batches of %d, %s %d of %s in batches of %d: not one run",
				labels[0], first.Images, first.Dataset, first.Batch, l, hdr.Images, hdr.Dataset, hdr.Batch)
		}
		recs, err := journal.Read[fourierRecord](path, hdr)
		if err != nil {
			return nil, first, err
		}
		var e *results.FourierEntry
		for _, r := range recs {
			switch r.Kind {
			case kindCheckpoint: // the latest description, the results so far
				if e != nil && r.Entry != nil {
					r.Entry.Fourier, r.Entry.Variance, r.Entry.Noise, r.Entry.Seconds = e.Fourier, e.Variance, e.Noise, e.Seconds
				}
				e = r.Entry
			case kindFeatures:
				if e != nil {
					e.Fourier, e.Variance, e.Seconds = r.Fourier, r.Variance, e.Seconds+r.Seconds
				}
			case kindNoise:
				if e != nil {
					e.Noise, e.Seconds = r.Noise, e.Seconds+r.Seconds
				}
			}
		}
		if e == nil || (e.Fourier == nil && e.Variance == nil && e.Noise == nil) {
			return nil, first, fmt.Errorf("%s: %s holds no finished analysis (a shard not finished?)", l, path)
		}
		e.Name, e.Reused = l, !j.computed[l]
		out[i] = e
	}
	return out, first, nil
}

// write writes the report of the checkpoints labelled labels into dir,
// results.json last, and returns its content.
func (j *Fourier) write(dir string, labels []string, took time.Duration) (*results.Fourier, error) {
	es, hdr, err := j.entries(dir, labels)
	if err != nil {
		return nil, err
	}
	var seed uint64
	if hdr.Noise != nil {
		seed = hdr.Noise.Seed
	}
	pv := j.provenance("fourier", seed)
	for _, e := range es {
		pv.Inputs = append(pv.Inputs, prov.Input{Path: e.Checkpoint, SHA256: e.Sidecar})
	}
	res := &results.Fourier{Provenance: pv, Dataset: hdr.Dataset, Images: hdr.Images, Batch: hdr.Batch, Models: es}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if _, err := reports.WriteFourierReport(dir, j.report(res, hdr, took)); err != nil {
		return nil, err
	}
	if _, err := reports.CheckPageImages(filepath.Join(dir, reports.FourierPage)); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n')); err != nil {
		return nil, err
	}
	return res, nil
}

// report turns the results into the report's plain data.
func (j *Fourier) report(res *results.Fourier, hdr fourierHeader, took time.Duration) reports.FourierReport {
	rep := reports.FourierReport{Title: j.Report.Title, Dataset: fmt.Sprintf("%s test split, first %d images", res.Dataset, res.Images),
		Images: res.Images, Command: strings.Join(quoteArgs(res.Provenance.Command), " "), VarianceLog: j.Report.VarianceScale,
		DataLinks: []reports.Link{{Href: "results.json", Text: "results.json"}}}
	if n := hdr.Noise; n != nil {
		rep.NoiseLevel, rep.NoiseWidth, rep.NoiseMetric, rep.EqualEnergy, rep.Seed = n.Level, n.Width, n.Metric, n.EqualEnergy, n.Seed
	}
	if rep.VarianceLog == "auto" {
		rep.VarianceLog = ""
	}
	pv := res.Provenance
	rep.Provenance = [][2]string{
		{"vitprobe version", pv.Version}, {"started (UTC)", pv.Started}, {"this run took", took.Round(time.Second / 10).String()},
		{"host", pv.Host}, {"CPUs / libtorch threads", fmt.Sprintf("%d / %d", pv.CPUs, j.Threads)},
		{"Go", pv.GoVersion + " " + pv.OS}, {"batch size", strconv.Itoa(res.Batch)},
	}
	for _, r := range res.Models {
		rep.Models = append(rep.Models, reports.FourierModelOf(r.Name, r.Fourier, r.Variance, r.Noise))
		rep.Checkpoints = append(rep.Checkpoints, reports.FourierCheckpoint{Name: r.Name, Path: r.Checkpoint, Model: r.Model.Name,
			Phase: r.Phase, Epoch: r.Epoch, WeightsSHA256: r.Weights, SidecarSHA256: r.Sidecar, Seconds: r.Seconds, Reused: r.Reused})
	}
	return rep
}

// quoteArgs quotes the arguments a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

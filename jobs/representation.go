package jobs

import (
	"fmt"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/reports"
)

// The figures' data of the representation probes (CKA, lesions,
// corruptions): analysis computes them, reports draws them, and this file
// is the only place that knows both.

// CKAHeatMaps returns the plain data of one CKA heat map per pair of models
// of r (reports.CKAHeatmap), in the order of r.Pairs.
func CKAHeatMaps(r *analysis.CKAResult) []reports.CKAMap {
	axis := map[string][]reports.CKAAxisLayer{}
	for _, m := range r.Models {
		for _, l := range m.Layers {
			axis[m.Name] = append(axis[m.Name], reports.CKAAxisLayer{Name: l.Name, Kind: l.Kind.String()})
		}
	}
	note := fmt.Sprintf("%d test images in %d minibatches of %d, %v HSIC", r.Images, r.Batches, r.Batch, r.Estimator)
	var out []reports.CKAMap
	for _, p := range r.Pairs {
		out = append(out, reports.CKAMap{A: p.A, B: p.B, Rows: axis[p.A], Cols: axis[p.B], Values: p.CKA, Note: note})
	}
	return out
}

// LesionFigureModel returns the plain data of the lesion figure
// (reports.LesionFigure) for r, named name.
func LesionFigureModel(r *analysis.LesionResult, name string) reports.LesionModel {
	m := reports.LesionModel{Name: name, Intact: r.Intact.Accuracy}
	for _, l := range r.Layers {
		m.Layers = append(m.Layers, reports.FourierLayer{Index: l.Index, Name: l.Name, Kind: l.Kind.String(), Depth: l.Depth})
	}
	for _, b := range r.Blocks {
		m.Points = append(m.Points, reports.LesionPoint{Name: b.Name, Kind: b.Kind.String(), Depth: b.Depth, Identity: b.Identity,
			AccuracyDrop: b.AccuracyDrop, AccuracyDropSE: b.AccuracyDropSE, NLLIncrease: b.NLLIncrease, NLLIncreaseSE: b.NLLIncreaseSE})
	}
	return m
}

// CorruptionCurves returns the plain data of the corruption figure
// (reports.CorruptionFigure) for r, named name, in the order of
// corruptions.
func CorruptionCurves(r *analysis.CorruptionResult, name string, corruptions []string) reports.CorruptionCurves {
	c := reports.CorruptionCurves{Name: name, Clean: r.Clean.Accuracy}
	for _, n := range corruptions {
		var acc []float64
		for _, s := range r.Conditions {
			if s.Name == n {
				acc = append(acc, s.Accuracy)
			}
		}
		c.Accuracy = append(c.Accuracy, acc)
	}
	return c
}

// CorruptionSheet returns the contact sheet of image index of d under
// every corruption (rows) at every severity (columns), with the
// corruptions' parameters at severity 3 as notes: what
// reports.ContactSheet draws.
func CorruptionSheet(d *data.Dataset, index int, seed uint64) (reports.Sheet, error) {
	s := reports.Sheet{Title: fmt.Sprintf("%s test image %d under each corruption (notes: parameters at severity 3)", d.Info.Name, index),
		Columns: []string{"clean", "severity 1", "2", "3", "4", "5"}, Channels: d.Info.Channels, Side: data.Size}
	if index < 0 || index >= d.Len() {
		return s, fmt.Errorf("jobs: image %d is outside the %d images of %s", index, d.Len(), d.Info.Name)
	}
	toFloat := func(px []uint8) []float64 {
		out := make([]float64, len(px))
		for i, v := range px {
			out[i] = float64(v) / 255
		}
		return out
	}
	clean := toFloat(d.Image(index))
	for _, name := range data.CorruptionNames() {
		row := reports.SheetRow{Label: name, Images: [][]float64{clean}}
		for sev := 1; sev <= data.Severities; sev++ {
			c := data.Corruption{Name: name, Severity: sev}
			cd, err := d.Corrupted([]int{index}, c, seed, 1)
			if err != nil {
				return s, err
			}
			row.Images = append(row.Images, toFloat(cd.Image(0)))
		}
		s.Rows = append(s.Rows, row)
		s.Notes = append(s.Notes, data.Corruption{Name: name, Severity: 3}.Params())
	}
	return s, nil
}

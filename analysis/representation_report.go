package analysis

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/reports"
)

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

// HeatMaps returns the plain data of one CKA heat map per pair of models
// (reports.CKAHeatmap), in the order of r.Pairs.
func (r *CKAResult) HeatMaps() []reports.CKAMap {
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

// CSV returns every value of r as a table, one row per pair of layers:
// model_a, index_a, layer_a, kind_a, model_b, index_b, layer_b, kind_b,
// cka, stderr (empty where undefined).
func (r *CKAResult) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"model_a", "index_a", "layer_a", "kind_a", "model_b", "index_b", "layer_b", "kind_b", "cka", "stderr"})
	layers := map[string][]CKALayer{}
	for _, m := range r.Models {
		layers[m.Name] = m.Layers
	}
	cell := func(v float64) string {
		if v != v { // NaN: undefined
			return ""
		}
		return ftoa(v)
	}
	for _, p := range r.Pairs {
		for i, la := range layers[p.A] {
			for j, lb := range layers[p.B] {
				_ = w.Write([]string{p.A, strconv.Itoa(la.Index), la.Name, la.Kind.String(), p.B, strconv.Itoa(lb.Index), lb.Name, lb.Kind.String(),
					cell(p.CKA[i][j]), cell(p.StdErr[i][j])})
			}
		}
	}
	w.Flush()
	return b.Bytes()
}

// Figure returns the plain data of the lesion figure (reports.LesionFigure)
// for r, named name.
func (r *LesionResult) Figure(name string) reports.LesionModel {
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

// LesionCSV returns the lesion studies as a table, one row per lesioned
// block (and one "intact" row per model): model, index, layer, kind,
// depth, identity, stage_end, accuracy, nll, accuracy_drop,
// accuracy_drop_stderr, nll_increase, nll_increase_stderr.
func LesionCSV(names []string, rs []*LesionResult) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"model", "index", "layer", "kind", "depth", "identity", "stage_end", "accuracy", "nll",
		"accuracy_drop", "accuracy_drop_stderr", "nll_increase", "nll_increase_stderr"})
	for i, r := range rs {
		_ = w.Write([]string{names[i], "", "intact", "", "", "", "", ftoa(r.Intact.Accuracy), ftoa(r.Intact.NLL), "0", "0", "0", "0"})
		for _, x := range r.Blocks {
			_ = w.Write([]string{names[i], strconv.Itoa(x.Index), x.Name, x.Kind.String(), ftoa(x.Depth), strconv.FormatBool(x.Identity),
				strconv.FormatBool(x.StageEnd), ftoa(x.Accuracy), ftoa(x.NLL), ftoa(x.AccuracyDrop), ftoa(x.AccuracyDropSE),
				ftoa(x.NLLIncrease), ftoa(x.NLLIncreaseSE)})
		}
	}
	w.Flush()
	return b.Bytes()
}

// Curves returns the plain data of the corruption figure
// (reports.CorruptionFigure) for r, named name, in the order of
// corruptions.
func (r *CorruptionResult) Curves(name string, corruptions []string) reports.CorruptionCurves {
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

// CorruptionNamesOf returns the corruptions of r in their order.
func (r *CorruptionResult) CorruptionNamesOf() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Conditions {
		if !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c.Name)
		}
	}
	return out
}

// CorruptionCSV returns the accuracies as a table, one row per model,
// corruption and severity (severity 0: clean): model, corruption,
// severity, accuracy, error, nll.
func CorruptionCSV(names []string, rs []*CorruptionResult) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"model", "corruption", "severity", "accuracy", "error", "nll"})
	for i, r := range rs {
		for _, s := range append([]CorruptionScore{r.Clean}, r.Conditions...) {
			_ = w.Write([]string{names[i], s.Name, strconv.Itoa(s.Severity), ftoa(s.Accuracy), ftoa(s.Error()), ftoa(s.NLL)})
		}
	}
	w.Flush()
	return b.Bytes()
}

// CorruptionSheet returns the contact sheet of image index of d under
// every corruption (rows) at every severity (columns), with the
// corruptions' parameters at severity 3 as notes: what
// reports.ContactSheet draws.
func CorruptionSheet(d *data.Dataset, index int, seed uint64) (reports.Sheet, error) {
	s := reports.Sheet{Title: fmt.Sprintf("%s test image %d under each corruption (notes: parameters at severity 3)", d.Info.Name, index),
		Columns: []string{"clean", "severity 1", "2", "3", "4", "5"}, Channels: d.Info.Channels, Side: data.Size}
	if index < 0 || index >= d.Len() {
		return s, fmt.Errorf("analysis: image %d is outside the %d images of %s", index, d.Len(), d.Info.Name)
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

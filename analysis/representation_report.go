package analysis

import (
	"bytes"
	"encoding/csv"
	"strconv"
)

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

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

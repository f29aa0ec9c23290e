package main

import (
	"fmt"
	"io"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/findings"
)

// finding decides the lesion claim for a model whose MSA blocks end stages
// (AlterNet); ok is false for the others.
func finding(r *analysis.LesionResult) (findings.Finding, bool) {
	if !findings.HasMSAStageEnd(r) {
		return findings.Finding{}, false
	}
	return findings.LesionMSAvsConv(findings.LesionStudyOf(r)), true
}

// printModel prints a model's line, with its finding's verdict when it has
// one, and a line per lesioned block.
func printModel(w io.Writer, name string, r *analysis.LesionResult, f *findings.Finding) {
	verdict := ""
	if f != nil {
		verdict = fmt.Sprintf("; MSA vs Conv: %s (%s)", f.Verdict, f.Why)
	}
	fmt.Fprintf(w, "%s: intact %.2f%%, %d blocks lesioned, %d layers skipped%s\n", name, 100*r.Intact.Accuracy, len(r.Blocks), len(r.Skipped), verdict)
	for _, b := range r.Blocks {
		fmt.Fprintf(w, "  %-16s %-4v drop %+6.2f ± %.2f pp, NLL %+.3f ± %.3f\n", b.Name, b.Kind, 100*b.AccuracyDrop,
			100*b.AccuracyDropSE, b.NLLIncrease, b.NLLIncreaseSE)
	}
}

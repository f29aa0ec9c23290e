package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/ckptarg"
	"github.com/vitprobe/vitprobe/jobs"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

// pick returns the name of the CE's baseline (flag, else the first ResNet,
// else the first checkpoint; "" when flag names none) and of the first
// AlterNet ("" without one).
func pick(cks []*ckptarg.Checkpoint, flag string) (base, alter string) {
	for _, c := range cks {
		preset := c.Checkpoint.Spec.Name
		switch {
		case flag != "" && c.Name == flag, flag == "" && base == "" && strings.HasPrefix(preset, "resnet"):
			base = c.Name
		}
		if alter == "" && strings.HasPrefix(preset, "alternet") {
			alter = c.Name
		}
	}
	if flag == "" && base == "" {
		base = cks[0].Name
	}
	return base, alter
}

func index(names []string, n string) int {
	for i, m := range names {
		if m == n {
			return i
		}
	}
	return -1
}

func pctOrNA(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100**v)
}

// write writes every output file.
func write(c *config, out results.Corruption, found []findings.Finding, names []string, rs []*analysis.CorruptionResult, ds *data.Dataset) error {
	files := map[string][]byte{"corrupt.csv": analysis.CorruptionCSV(names, rs), "mce.csv": mceCSV(out.Summary)}
	for name, v := range map[string]any{"corrupt.json": out, "findings.json": found} {
		js, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files[name] = append(js, '\n')
	}
	for name, b := range files {
		if err := atomicfile.WriteFile(filepath.Join(c.Out, name), b); err != nil {
			return err
		}
	}
	corr := rs[0].CorruptionNamesOf()
	var curves []reports.CorruptionCurves
	for i, r := range rs {
		curves = append(curves, jobs.CorruptionCurves(r, names[i], corr))
	}
	fig, err := reports.CorruptionFigure(corr, curves)
	if err == nil {
		err = fig.Save(filepath.Join(c.Out, "corrupt.png"))
	}
	if err != nil {
		return err
	}
	if c.sheet < 0 {
		return nil
	}
	sheet, err := jobs.CorruptionSheet(ds, c.sheet, c.seed)
	if err != nil {
		return err
	}
	if fig, err = reports.ContactSheet(sheet); err != nil {
		return err
	}
	return fig.Save(filepath.Join(c.Out, "sheet.png"))
}

// mceCSV returns the CE table: model, corruption, ce, relative_ce (empty
// where undefined), with a "mean" row per model holding mCE and relative
// mCE.
func mceCSV(s *analysis.CorruptionSummary) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"model", "corruption", "ce", "relative_ce", "baseline"})
	f := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', 8, 64)
	}
	for _, m := range s.Models {
		for _, c := range m.Corruptions {
			_ = w.Write([]string{m.Name, c.Name, f(c.CE), f(c.RelativeCE), s.Baseline})
		}
		_ = w.Write([]string{m.Name, "mean", f(m.MCE), f(m.RelativeMCE), s.Baseline})
	}
	w.Flush()
	return b.Bytes()
}

// printSummary prints each model's clean and mean accuracy, mCE and
// relative mCE, and the findings.
func printSummary(w io.Writer, s *analysis.CorruptionSummary, found []findings.Finding) {
	fmt.Fprintf(w, "%-16s %8s %8s %8s %8s  (CE against %s)\n", "model", "clean", "mean", "mCE", "rel. mCE", s.Baseline)
	for _, m := range s.Models {
		fmt.Fprintf(w, "%-16s %7.2f%% %7.2f%% %8s %8s\n", m.Name, 100*(1-m.CleanError), 100*m.MeanAccuracy, pctOrNA(m.MCE), pctOrNA(m.RelativeMCE))
	}
	for _, f := range found {
		fmt.Fprintf(w, "%s: %s (%s)\n", f.Claim, f.Verdict, f.Why)
	}
}

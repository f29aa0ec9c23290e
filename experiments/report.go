package experiments

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
)

// WriteReport writes the lab's report: index.html (the findings of every
// part first, then a section per part with its figures and tables, then
// the budget and the time spent) and findings.json.
func WriteReport(l *Lab, parts []Part) (string, error) {
	var all []findings.Finding
	page := reports.Page{Title: "vitprobe: the paper's further experiments",
		Subtitle: fmt.Sprintf("budget %d steps of %d per run (lr %g, warm-up %g of the steps); Hessian at the %s checkpoint: %d minibatches of %d, top %d; landscape at the %s checkpoint: %d directions × %d points on ±%g, %d images",
			l.Budget.Steps, l.Budget.Batch, l.Budget.LR, l.Budget.WarmupShare, l.MeasureSpec.HessianPhase, l.MeasureSpec.Batches,
			l.MeasureSpec.BatchSize, l.MeasureSpec.K, l.MeasureSpec.LandscapePhase, l.MeasureSpec.Directions, l.MeasureSpec.Points,
			l.MeasureSpec.Radius, l.MeasureSpec.LandscapeImages),
		Footer: "vitprobe " + prov.Version}
	var sections []reports.Section
	for _, p := range parts {
		all = append(all, p.Findings()...)
		s, err := p.Section(l.Dir)
		if err != nil {
			return "", err
		}
		sections = append(sections, s)
	}
	summary := reports.Section{ID: "findings", Heading: "Findings", Blocks: []reports.Block{
		{Text: "Each claim is decided by code (package findings) from this run's numbers, under the criterion beside it."},
		{Table: findingsTable(all)}}}
	page.Sections = append([]reports.Section{summary}, sections...)
	if t := timingsTable(l.Dir); t != nil {
		page.Sections = append(page.Sections, reports.Section{ID: "time", Heading: "Time", Blocks: []reports.Block{
			{Text: "Wall time of what this folder's processes computed (timings.tsv; work reused from an earlier run costs nothing)."},
			{Table: t}}})
	}
	path := filepath.Join(l.Dir, "index.html")
	if err := reports.WritePage(path, page); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return "", err
	}
	return path, atomicfile.WriteFile(filepath.Join(l.Dir, "findings.json"), append(js, '\n'))
}

// timingsTable sums timings.tsv by kind of work.
func timingsTable(dir string) *reports.Table {
	f, err := os.Open(filepath.Join(dir, "timings.tsv"))
	if err != nil {
		return nil
	}
	defer f.Close()
	sums, counts := map[string]float64{}, map[string]int{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 4 {
			continue
		}
		s, err := strconv.ParseFloat(fs[3], 64)
		if err != nil {
			continue
		}
		if _, ok := sums[fs[1]]; !ok {
			order = append(order, fs[1])
		}
		sums[fs[1]] += s
		counts[fs[1]]++
	}
	t := &reports.Table{Header: []string{"work", "jobs", "wall time (min)"}}
	total := 0.0
	for _, k := range order {
		t.Rows = append(t.Rows, []string{k, fmt.Sprint(counts[k]), fmt.Sprintf("%.1f", sums[k]/60)})
		total += sums[k]
	}
	t.Rows = append(t.Rows, []string{"total", "", fmt.Sprintf("%.1f", total/60)})
	return t
}

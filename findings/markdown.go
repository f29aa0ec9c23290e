package findings

import (
	"fmt"
	"strings"
)

// Markdown renders the report as Markdown: the criteria's version and
// SHA-256, the pooled findings (primary, then secondary), the per-seed
// table, the tables of intervals and the inputs.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Criteria: `findings/criteria.json` version %d, SHA-256 `%s`. Seeds: %s.\n\n", r.CriteriaVersion, r.CriteriaSHA256, strings.Join(r.Seeds, ", "))
	if len(r.Seeds) < r.MinSeeds {
		fmt.Fprintf(&b, "With %d seed(s) the pooled verdicts are inconclusive by rule (a pooled verdict needs %d); the per-seed table below decides within the run, "+
			"and its intervals cover minibatch and image noise only, not the variation between training runs.\n\n", len(r.Seeds), r.MinSeeds)
	}
	writeFindings(&b, "Pooled over seeds: primary claims", r.Findings, true)
	writeFindings(&b, "Pooled over seeds: secondary analyses", r.Findings, false)
	if len(r.PerSeed) > 0 {
		b.WriteString("### Per seed (primary claims)\n\n| claim |")
		for _, s := range r.PerSeed {
			fmt.Fprintf(&b, " seed %s |", s.Seed)
		}
		b.WriteString("\n|---|")
		for range r.PerSeed {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for i, f := range r.PerSeed[0].Findings {
			if !f.Primary() {
				continue
			}
			fmt.Fprintf(&b, "| %s |", cell(f.ID))
			for _, s := range r.PerSeed {
				if i < len(s.Findings) {
					sf := s.Findings[i]
					fmt.Fprintf(&b, " **%s**<br>%s |", sf.Verdict, cell(estText(sf)))
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	for _, t := range append(r.Tables, r.Inputs) {
		writeTable(&b, t)
	}
	return b.String()
}

// estText is a finding's estimate and interval, or its reason.
func estText(f Finding) string {
	if f.Estimate == nil {
		return f.Why
	}
	s := g(*f.Estimate)
	if f.Lo != nil && f.Hi != nil {
		s += " " + ciText(*f.Lo, *f.Hi)
	}
	return s
}

func writeFindings(b *strings.Builder, title string, fs []Finding, primary bool) {
	var sel []Finding
	for _, f := range fs {
		if f.Primary() == primary {
			sel = append(sel, f)
		}
	}
	if len(sel) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s\n\n| claim | protocol | statistic: estimate [interval] | seeds | verdict |\n|---|---|---|---|---|\n", title)
	for _, f := range sel {
		claim := fmt.Sprintf("%s (%s)", f.Claim, f.Source)
		if !primary {
			claim += "<br>*" + strings.TrimPrefix(f.Analysis, "secondary: ") + "*"
		}
		var seeds []string
		for _, s := range f.Seeds {
			v := "n/a"
			if s.Estimate != nil {
				v = g(*s.Estimate)
			}
			seeds = append(seeds, fmt.Sprintf("%s: %s", s.Seed, v))
		}
		fmt.Fprintf(b, "| %s | %s | %s: %s | %s | **%s** — %s |\n", cell(claim), cell(f.Protocol), cell(f.Statistic), cell(estText(f)),
			cell(strings.Join(seeds, ", ")), f.Verdict, cell(f.Why))
	}
	b.WriteString("\n")
}

func writeTable(b *strings.Builder, t Table) {
	if len(t.Rows) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s\n\n", t.Title)
	if t.Note != "" {
		fmt.Fprintf(b, "%s\n\n", t.Note)
	}
	b.WriteString("|")
	for _, c := range t.Columns {
		fmt.Fprintf(b, " %s |", cell(c))
	}
	b.WriteString("\n|")
	for range t.Columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		b.WriteString("|")
		for _, c := range row {
			fmt.Fprintf(b, " %s |", cell(c))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// cell escapes a table cell's pipes and line breaks.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", "<br>").Replace(s)
}

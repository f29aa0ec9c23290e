package reports

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
)

// HessianPage is the HTML summary of a Hessian run: tables of the numbers
// (spectrum summaries, trace, top-k), the figures beside it, and the
// provenance.
type HessianPage struct {
	Title string
	// Intro is a paragraph under the title (the protocol).
	Intro string
	// Tables are drawn in order.
	Tables []HessianTable
	// Figures are image files relative to the page, with captions.
	Figures []HessianFigure
	// Links are files beside the page (the JSON, the CSV), by name.
	Links []string
	// Provenance is shown verbatim in a pre block (JSON, say).
	Provenance string
}

// HessianTable is a table of pre-formatted cells.
type HessianTable struct {
	Caption string
	Header  []string
	Rows    [][]string
	// Notes are footnotes under the table.
	Notes []string
}

// HessianFigure is an image of the page.
type HessianFigure struct {
	Src, Caption string
}

var hessianPageTmpl = template.Must(template.New("hessian").Funcs(template.FuncMap{"num": hsNumeric}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.5em 0 0.3em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em}
th{background:#f3f3f3} td{text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:0.3em 0}
.note{font-size:0.9em;color:#555;margin:0.1em 0}
figure{margin:1.5em 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.92em;color:#444}
pre{background:#f7f7f7;padding:0.8em;overflow-x:auto;font-size:0.85em}
</style></head><body>
<h1>{{.Title}}</h1>
{{if .Intro}}<p>{{.Intro}}</p>{{end}}
{{range .Tables}}<table>{{if .Caption}}<caption>{{.Caption}}</caption>{{end}}
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td{{if num .}} class="n"{{end}}>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
{{end}}
{{range .Figures}}<figure><img src="{{.Src}}" alt="{{.Caption}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}
{{if .Links}}<p>Data: {{range $i, $l := .Links}}{{if $i}}, {{end}}<a href="{{$l}}">{{$l}}</a>{{end}}</p>{{end}}
{{if .Provenance}}<h2>Provenance</h2><pre>{{.Provenance}}</pre>{{end}}
</body></html>
`))

// HessianSummaryHTML writes the page to path atomically. Every row of a
// table must have as many cells as its header.
func HessianSummaryHTML(path string, p HessianPage) error {
	if p.Title == "" {
		return errors.New("reports: Hessian page without a title")
	}
	for _, t := range p.Tables {
		for i, r := range t.Rows {
			if len(r) != len(t.Header) {
				return fmt.Errorf("reports: table %q row %d has %d cells for %d columns", t.Caption, i, len(r), len(t.Header))
			}
		}
	}
	var buf bytes.Buffer
	if err := hessianPageTmpl.Execute(&buf, p); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// hsNumeric reports whether a table cell reads as a number (or a list of
// numbers, a percentage, a number with a parenthesised note), to align it
// right.
func hsNumeric(cell string) bool {
	f := strings.FieldsFunc(cell, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) == 0 {
		return false
	}
	_, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
	return err == nil
}

package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"html/template"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
)

// Page is a self-contained HTML report: inline style, no script, no
// external resource; images are files referenced by relative paths (PNGs
// beside the page). WritePage renders it.
type Page struct {
	// Title is the page's title and top heading.
	Title string
	// Subtitle is a line under the title (e.g. what was analysed).
	Subtitle string
	// Sections follow one another; a table of contents links them.
	Sections []Section
	// Footer is a last line of small print (e.g. the tool and version).
	Footer string
}

// Section is a headed part of a page, made of blocks in order.
type Section struct {
	// ID is the section's anchor; empty derives one from Heading.
	ID      string
	Heading string
	Blocks  []Block
}

// Block is one element of a section; exactly one of its fields is used,
// the first non-empty in the order below.
type Block struct {
	// Text is a paragraph of plain text (escaped).
	Text string
	// List is a bulleted list of plain-text items.
	List []string
	// Image is an image with its caption.
	Image *Image
	// Table is a table of strings.
	Table *Table
	// Pre is preformatted text, e.g. a command line.
	Pre string
	// Links is a line of links, e.g. to the data files.
	Links []Link
}

// Image is an image of a page, a figure's PNG say. Src is relative to the
// page.
type Image struct {
	Src, Alt, Caption string
}

// Table is a table of a page. Cells that read as numbers are right-aligned.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
	// Collapsed folds the table under its caption (a <details> element)
	// until the reader opens it.
	Collapsed bool
}

// Link is a hyperlink; Href is relative to the page or absolute.
type Link struct {
	Href, Text string
}

var htmlPageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"num":  htmlIsNumber,
	"long": func(s string) bool { return len(s) > 32 && !strings.Contains(s, " ") },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: "DejaVu Sans", "Liberation Sans", Helvetica, Arial, sans-serif; color: #1d1d1f; background: #fff;
  max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
p.subtitle { color: #555; margin-top: 0; }
nav { background: #f6f6f8; border: 1px solid #e4e4e8; border-radius: 6px; padding: 8px 14px; margin: 14px 0 8px; font-size: 14px; }
nav a { margin-right: 14px; white-space: nowrap; }
a { color: #0b62a4; }
figure { margin: 16px 0 22px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13.5px; color: #444; margin-top: 6px; max-width: 980px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 18px; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; vertical-align: top; }
th { background: #f0f0f3; text-align: left; }
td.long { overflow-wrap: anywhere; min-width: 14em; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
td:first-child { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; }
tr:nth-child(even) td { background: #fafafb; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; font-weight: 600; font-size: 14px; }
pre { background: #f6f6f8; border: 1px solid #e4e4e8; padding: 8px 12px; overflow-x: auto; font-size: 13px; white-space: pre-wrap; word-break: break-all; }
footer { margin-top: 40px; color: #777; font-size: 12.5px; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Subtitle}}<p class="subtitle">{{.Subtitle}}</p>{{end}}
{{if gt (len .Sections) 1}}<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Heading}}</a> {{end}}</nav>{{end}}
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Heading}}</h2>
{{range .Blocks}}{{if .Text}}<p>{{.Text}}</p>
{{else if .List}}<ul>{{range .List}}<li>{{.}}</li>{{end}}</ul>
{{else if .Image}}<figure><img src="{{.Image.Src}}" alt="{{.Image.Alt}}">{{if .Image.Caption}}<figcaption>{{.Image.Caption}}</figcaption>{{end}}</figure>
{{else if .Table}}{{if .Table.Collapsed}}<details><summary>{{.Table.Caption}}</summary>{{end}}<table>{{if and .Table.Caption (not .Table.Collapsed)}}<caption>{{.Table.Caption}}</caption>{{end}}
<thead><tr>{{range .Table.Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Table.Rows}}<tr>{{range .}}<td{{if num .}} class="num"{{else if long .}} class="long"{{end}}>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table>{{if .Table.Collapsed}}</details>{{end}}
{{else if .Pre}}<pre>{{.Pre}}</pre>
{{else if .Links}}<p>{{range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.Href}}">{{$l.Text}}</a>{{end}}</p>
{{end}}{{end}}</section>
{{end}}{{if .Footer}}<footer>{{.Footer}}</footer>{{end}}
</body>
</html>
`))

// htmlIsNumber reports whether a table cell reads as a number (possibly
// with a unit sign, % or π), to right-align it.
func htmlIsNumber(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "%"), "π")
	s = strings.ReplaceAll(s, "−", "-")
	if s == "" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil || s == "NaN" || s == "—"
}

var htmlIDClean = regexp.MustCompile(`[^a-z0-9]+`)

// WritePage renders p as HTML at path, atomically. Every figure's Src
// must be a relative path to an existing file (checked before writing),
// so the page and its images move together.
func WritePage(path string, p Page) error {
	seen := map[string]bool{}
	for i := range p.Sections {
		s := &p.Sections[i]
		if s.ID == "" {
			s.ID = strings.Trim(htmlIDClean.ReplaceAllString(strings.ToLower(s.Heading), "-"), "-")
		}
		if s.ID == "" || seen[s.ID] {
			s.ID = fmt.Sprintf("section-%d", i+1)
		}
		seen[s.ID] = true
		for _, b := range s.Blocks {
			if b.Image == nil {
				continue
			}
			if err := htmlCheckRelative(filepath.Dir(path), b.Image.Src); err != nil {
				return fmt.Errorf("reports: page %s: %w", path, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := htmlPageTmpl.Execute(&buf, p); err != nil {
		return fmt.Errorf("reports: page %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// htmlCheckRelative checks that src is a relative reference to an existing
// file under dir.
func htmlCheckRelative(dir, src string) error {
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(src, "/") {
		return fmt.Errorf("image %q is not a relative path", src)
	}
	p, err := url.PathUnescape(u.Path)
	if err != nil {
		return fmt.Errorf("image %q: %w", src, err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
		return fmt.Errorf("image %q: %w", src, err)
	}
	return nil
}

var htmlImgSrc = regexp.MustCompile(`(?is)<img\b[^>]*?\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)

// PageImages returns the src of every <img> of an HTML document, in
// order, with HTML character references decoded.
func PageImages(doc []byte) []string {
	var out []string
	for _, m := range htmlImgSrc.FindAllSubmatch(doc, -1) {
		s := string(m[1]) + string(m[2]) + string(m[3])
		out = append(out, html.UnescapeString(s))
	}
	return out
}

// CheckPageImages checks every <img> of the HTML file at path: its src is
// a relative path (or a data: URL), the file exists beside the page, and
// it decodes as a PNG with a non-empty image (other formats: exists and
// non-empty). It returns the number of images checked and one error
// listing every broken one.
func CheckPageImages(path string) (int, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reports: %w", err)
	}
	srcs := PageImages(doc)
	var bad []string
	for _, src := range srcs {
		if strings.HasPrefix(src, "data:") {
			continue
		}
		if err := htmlCheckImageFile(filepath.Dir(path), src); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 0 {
		return len(srcs), fmt.Errorf("reports: %s: %d of %d images broken: %s", path, len(bad), len(srcs), strings.Join(bad, "; "))
	}
	return len(srcs), nil
}

func htmlCheckImageFile(dir, src string) error {
	if err := htmlCheckRelative(dir, src); err != nil {
		return err
	}
	u, _ := url.Parse(src)
	p, _ := url.PathUnescape(u.Path)
	f := filepath.Join(dir, filepath.FromSlash(p))
	b, err := os.ReadFile(f)
	if err != nil {
		return fmt.Errorf("image %q: %w", src, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("image %q is empty", src)
	}
	if !strings.EqualFold(filepath.Ext(f), ".png") {
		return nil
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("image %q: %w", src, err)
	}
	if r := img.Bounds(); r.Dx() == 0 || r.Dy() == 0 {
		return fmt.Errorf("image %q has no pixels", src)
	}
	return nil
}

// errHTMLEmptyTable reports a table without columns.
var errHTMLEmptyTable = errors.New("reports: table without columns")

// WriteCSV writes a table as CSV (header then rows) at path, atomically.
func WriteCSV(path string, t Table) error {
	if len(t.Header) == 0 {
		return errHTMLEmptyTable
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(t.Header); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	if err := w.WriteAll(t.Rows); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

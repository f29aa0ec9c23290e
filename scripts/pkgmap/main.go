// Command pkgmap draws vitprobe's packages and their imports as a PNG:
// one row per layer (a package sits one row above the highest package it
// imports), packages that need libtorch (cgo) in orange, the pure ones in
// blue, an arrow from each package to each project package it imports.
// docs/architecture.md shows its picture.
//
//	go run ./scripts/pkgmap -out docs/img/packages.png
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

const module = "github.com/vitprobe/vitprobe"

// pkg is one package of the module.
type pkg struct {
	name    string   // path inside the module
	imports []string // project packages it imports (not in tests)
	cgo     bool     // needs libtorch, itself or through an import
	layer   int
}

func main() {
	out := flag.String("out", "docs/img/packages.png", "the PNG to write")
	flag.Parse()
	pkgs, err := load()
	if err == nil {
		err = draw1(pkgs, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkgmap:", err)
		os.Exit(1)
	}
}

// load lists the module's packages (commands and libraries, not scripts or
// third_party) with their imports, layers and cgo.
func load() (map[string]*pkg, error) {
	b, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if name == "" || strings.HasPrefix(name, "scripts") || strings.HasPrefix(name, "third_party") || name == "notebooks" ||
			strings.HasPrefix(name, "internal/clustertest") {
			continue
		}
		q := &pkg{name: name}
		for _, d := range p.Deps {
			q.cgo = q.cgo || d == "github.com/sugarme/gotch"
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				q.imports = append(q.imports, strings.TrimPrefix(imp, module+"/"))
			}
		}
		pkgs[name] = q
	}
	for _, p := range pkgs {
		layerOf(pkgs, p)
	}
	return pkgs, nil
}

// layerOf is 0 for a package that imports no project package, else one
// more than its highest import's.
func layerOf(pkgs map[string]*pkg, p *pkg) int {
	if p.layer > 0 || len(p.imports) == 0 {
		return p.layer
	}
	for _, imp := range p.imports {
		if q, ok := pkgs[imp]; ok {
			p.layer = max(p.layer, layerOf(pkgs, q)+1)
		}
	}
	return p.layer
}

var (
	pureFill = color.NRGBA{R: 214, G: 232, B: 250, A: 255}
	cgoFill  = color.NRGBA{R: 253, G: 222, B: 190, A: 255}
	ink      = color.NRGBA{R: 40, G: 40, B: 48, A: 255}
	arrow    = color.NRGBA{R: 110, G: 110, B: 125, A: 110}
)

// draw1 lays the packages out by layer and draws boxes and arrows.
func draw1(pkgs map[string]*pkg, out string) error {
	rows := map[int][]*pkg{}
	top := 0
	for _, p := range pkgs {
		rows[p.layer] = append(rows[p.layer], p)
		top = max(top, p.layer)
	}
	const w, rowH, boxH = 13 * vg.Inch, 0.78 * vg.Inch, 0.34 * vg.Inch
	h := rowH*vg.Length(top+1) + 0.9*vg.Inch
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Path())
	sty := text.Style{Color: ink, Font: font.From(plot.DefaultFont, vg.Points(10)), XAlign: draw.XCenter, YAlign: draw.YCenter,
		Handler: &text.Plain{Fonts: font.DefaultCache}}
	centre := map[string]vg.Point{}
	width := map[string]vg.Length{}
	order(pkgs, rows, top)
	for l := 0; l <= top; l++ {
		row := rows[l]
		y := 0.35*vg.Inch + rowH*vg.Length(l) + boxH/2
		step := (w - 0.4*vg.Inch) / vg.Length(len(row))
		for i, p := range row {
			centre[p.name] = vg.Point{X: 0.2*vg.Inch + step*(vg.Length(i)+0.5), Y: y}
			width[p.name] = sty.Width(p.name) + vg.Points(10)
		}
	}
	for _, p := range pkgs {
		for _, imp := range p.imports {
			if _, ok := centre[imp]; ok {
				drawArrow(dc, centre[p.name], centre[imp], boxH/2)
			}
		}
	}
	for _, p := range pkgs {
		box(dc, centre[p.name], width[p.name], boxH, p)
		dc.FillText(sty, centre[p.name], p.name)
	}
	legend(dc, h)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// order sorts each row to shorten the arrows: by name first, then a few
// sweeps placing each package at the mean position of its neighbours in
// the rows below (going up) and above (going down).
func order(pkgs map[string]*pkg, rows map[int][]*pkg, top int) {
	pos := map[string]float64{}
	place := func(row []*pkg) {
		for i, p := range row {
			pos[p.name] = (float64(i) + 0.5) / float64(len(row))
		}
	}
	for l := 0; l <= top; l++ {
		slices.SortFunc(rows[l], func(a, b *pkg) int { return strings.Compare(a.name, b.name) })
		place(rows[l])
	}
	importers := map[string][]string{}
	for _, p := range pkgs {
		for _, imp := range p.imports {
			importers[imp] = append(importers[imp], p.name)
		}
	}
	mean := func(p *pkg, names []string) float64 {
		s, n := 0.0, 0
		for _, q := range names {
			if v, ok := pos[q]; ok {
				s, n = s+v, n+1
			}
		}
		if n == 0 {
			return pos[p.name]
		}
		return s / float64(n)
	}
	sortBy := func(l int, key func(*pkg) float64) {
		k := map[string]float64{}
		for _, p := range rows[l] {
			k[p.name] = key(p)
		}
		slices.SortStableFunc(rows[l], func(a, b *pkg) int { return cmpFloat(k[a.name], k[b.name]) })
		place(rows[l])
	}
	for range 4 {
		for l := 1; l <= top; l++ {
			sortBy(l, func(p *pkg) float64 { return mean(p, p.imports) })
		}
		for l := top - 1; l >= 0; l-- {
			sortBy(l, func(p *pkg) float64 { return mean(p, importers[p.name]) })
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// box draws a package's box, filled by whether it needs libtorch.
func box(dc draw.Canvas, c vg.Point, w, h vg.Length, p *pkg) {
	fill := pureFill
	if p.cgo {
		fill = cgoFill
	}
	pts := []vg.Point{{X: c.X - w/2, Y: c.Y - h/2}, {X: c.X + w/2, Y: c.Y - h/2}, {X: c.X + w/2, Y: c.Y + h/2}, {X: c.X - w/2, Y: c.Y + h/2}}
	dc.FillPolygon(fill, pts)
	dc.StrokeLines(draw.LineStyle{Color: ink, Width: vg.Points(0.6)}, append(pts, pts[0]))
}

// drawArrow draws an arrow from the box at a down to the box at b.
func drawArrow(dc draw.Canvas, a, b vg.Point, half vg.Length) {
	from := vg.Point{X: a.X, Y: a.Y - half}
	to := vg.Point{X: b.X, Y: b.Y + half}
	ls := draw.LineStyle{Color: arrow, Width: vg.Points(0.7)}
	dc.StrokeLine2(ls, from.X, from.Y, to.X, to.Y)
	dx, dy := float64(to.X-from.X), float64(to.Y-from.Y)
	n := math.Hypot(dx, dy)
	if n == 0 {
		return
	}
	ux, uy := dx/n, dy/n
	const head = 6
	for _, s := range []float64{-1, 1} {
		px := float64(to.X) - head*ux + s*head*0.45*uy
		py := float64(to.Y) - head*uy - s*head*0.45*ux
		dc.StrokeLine2(ls, to.X, to.Y, vg.Length(px), vg.Length(py))
	}
}

// legend explains the colours and the arrows at the top.
func legend(dc draw.Canvas, h vg.Length) {
	sty := text.Style{Color: ink, Font: font.From(plot.DefaultFont, vg.Points(11)), XAlign: draw.XLeft, YAlign: draw.YCenter,
		Handler: &text.Plain{Fonts: font.DefaultCache}}
	y := h - 0.3*vg.Inch
	x := 0.3 * vg.Inch
	for _, e := range []struct {
		fill  color.Color
		label string
	}{{pureFill, "pure Go (builds with CGO_ENABLED=0)"}, {cgoFill, "needs libtorch (cgo)"}} {
		pts := []vg.Point{{X: x, Y: y - 5}, {X: x + 18, Y: y - 5}, {X: x + 18, Y: y + 5}, {X: x, Y: y + 5}}
		dc.FillPolygon(e.fill, pts)
		dc.StrokeLines(draw.LineStyle{Color: ink, Width: vg.Points(0.6)}, append(pts, pts[0]))
		dc.FillText(sty, vg.Point{X: x + 24, Y: y}, e.label)
		x += sty.Width(e.label) + 50
	}
	dc.FillText(sty, vg.Point{X: x, Y: y}, "arrow: imports (a package sits one row above the highest package it imports)")
}

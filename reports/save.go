package reports

import (
	"fmt"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
)

// DPI is the resolution of saved PNGs.
const DPI = 144

// SavePNG draws p into a w×h PNG at path, written atomically.
func SavePNG(p *plot.Plot, w, h vg.Length, path string) error {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
	p.Draw(draw.New(c))
	return saveCanvas(c, path)
}

// SaveCanvas writes a canvas that the caller drew (several plots, a 3-D
// view) as a PNG at path, atomically.
func SaveCanvas(c *vgimg.Canvas, path string) error { return saveCanvas(c, path) }

func saveCanvas(c *vgimg.Canvas, path string) error {
	if !strings.EqualFold(filepath.Ext(path), ".png") {
		return fmt.Errorf("reports: %s: only .png output is supported", path)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	defer f.Abort()
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	return f.Commit()
}

// NewCanvas returns a w×h canvas at the package's DPI, for figures made of
// several plots (draw.Tiles) or drawn by hand.
func NewCanvas(w, h vg.Length) *vgimg.Canvas {
	return vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI))
}

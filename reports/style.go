package reports

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette is a colour-blind-safe qualitative palette (Okabe & Ito, 2008).
var okabeIto = []color.NRGBA{
	{0, 114, 178, 255},   // blue
	{213, 94, 0, 255},    // vermillion
	{0, 158, 115, 255},   // bluish green
	{204, 121, 167, 255}, // reddish purple
	{230, 159, 0, 255},   // orange
	{86, 180, 233, 255},  // sky blue
	{240, 228, 66, 255},  // yellow
	{0, 0, 0, 255},       // black
}

// Palette returns the i-th colour of the qualitative palette used for
// series (models, checkpoints), cycling.
func Palette(i int) color.Color { return okabeIto[i%len(okabeIto)] }

// drawTitle writes a figure title at the top of c and returns the canvas
// below it.
func drawTitle(c draw.Canvas, title string) draw.Canvas {
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(13)), XAlign: draw.XCenter, YAlign: draw.YTop,
		Handler: &text.Plain{Fonts: font.DefaultCache}}
	pt := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Millimeter*2}
	c.FillText(sty, pt, title)
	c.Max.Y -= sty.Height(title) + vg.Millimeter*4
	return c
}

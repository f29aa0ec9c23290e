package reports

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestContactSheet(t *testing.T) {
	const side = 32
	ramp := func(channels int, k float64) []float64 {
		v := make([]float64, channels*side*side)
		for i := range v {
			v[i] = k * float64(i%side) / side
		}
		return v
	}
	for _, ch := range []int{1, 3} {
		s := Sheet{Title: "ramps", Columns: []string{"clean", "severity 1", "2"}, Channels: ch, Side: side,
			Notes: []string{"a note", ""}}
		for r := range 4 {
			row := SheetRow{Label: "row", Images: [][]float64{ramp(ch, 1), ramp(ch, 0.5), ramp(ch, 1.5)}}
			if r == 3 {
				row.Label = "a much longer row label"
			}
			s.Rows = append(s.Rows, row)
		}
		path := filepath.Join(t.TempDir(), "sheet.png")
		if err := saved(path)(ContactSheet(s)); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The images are drawn with square pixels: the ramp's first row
		// inside an image goes from black up in steps.
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 300 {
			t.Errorf("%d channels: sheet of %dx%d pixels", ch, b.Dx(), b.Dy())
		}
	}
	bad := Sheet{Title: "x", Columns: []string{"a"}, Channels: 1, Side: side, Rows: []SheetRow{{Label: "r", Images: [][]float64{make([]float64, 5)}}}}
	if _, err := ContactSheet(bad); err == nil {
		t.Error("an image of the wrong size: want an error")
	}
	if _, err := ContactSheet(Sheet{}); err == nil {
		t.Error("no rows: want an error")
	}
}

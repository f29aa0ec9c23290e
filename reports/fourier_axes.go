package reports

import (
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// frTicks labels about Target round values (steps of 1, 2, 2.5 or 5 times a
// power of ten) with one unlabelled tick between labels, and writes
// negative labels with a true minus sign.
type frTicks struct{ Target int }

// Ticks implements plot.Ticker.
func (t frTicks) Ticks(lo, hi float64) []plot.Tick {
	if !finite(lo) || !finite(hi) {
		return nil
	}
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: frMinus(strconv.FormatFloat(lo, 'g', 4, 64))}}
	}
	n := t.Target
	if n <= 0 {
		n = 6
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*0.999 {
			step = m * mag
			break
		}
	}
	dec := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if s := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); math.Abs(s-2.5) < 1e-9 {
		dec++ // 0.25, 2.5
	}
	half := step / 2
	var ticks []plot.Tick
	for k := math.Ceil(lo/half - 1e-9); k*half <= hi+1e-9*half; k++ {
		v := k * half
		if math.Abs(v) < 1e-12*step {
			v = 0
		}
		tk := plot.Tick{Value: v}
		if math.Mod(math.Abs(k), 2) == 0 {
			tk.Label = frMinus(strconv.FormatFloat(v, 'f', dec, 64))
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

// frLogTicks labels a logarithmic axis at 1, 2 and 5 times powers of ten
// when the range spans at most three decades, at powers of ten otherwise,
// with unlabelled ticks at the other integer multiples.
type frLogTicks struct{}

// Ticks implements plot.Ticker.
func (frLogTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || !finite(hi) {
		if lo > 0 && finite(lo) {
			return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
		}
		return nil
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	dense := d1-d0 <= 3
	var ticks []plot.Tick
	for d := d0; d <= d1; d++ {
		p := math.Pow(10, d)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			tk := plot.Tick{Value: v}
			if m == 1 || dense && (m == 2 || m == 5) {
				tk.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ticks = append(ticks, tk)
		}
	}
	if labelled := frCountLabels(ticks); labelled < 2 {
		return plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	}
	return ticks
}

func frCountLabels(ts []plot.Tick) int {
	n := 0
	for _, t := range ts {
		if t.Label != "" {
			n++
		}
	}
	return n
}

func frMinus(s string) string {
	if strings.HasPrefix(s, "-") {
		if strings.Trim(s, "-0.") == "" {
			return s[1:]
		}
		return "−" + s[1:]
	}
	return s
}

// frSideLegend is a legend drawn in its own column right of a plot, sized to
// its entries.
type frSideLegend struct {
	leg   plot.Legend
	names []string
}

func frNewSideLegend() *frSideLegend {
	leg := frNewLegend()
	leg.Padding = vg.Points(4)
	return &frSideLegend{leg: leg}
}

func (s *frSideLegend) add(name string, thumbs ...plot.Thumbnailer) {
	s.leg.Add(name, thumbs...)
	s.names = append(s.names, name)
}

// width returns the column's width: thumbnail, text and margins.
func (s *frSideLegend) width() vg.Length {
	w := vg.Length(0)
	for _, n := range s.names {
		w = max(w, s.leg.TextStyle.Width(" "+n))
	}
	return s.leg.ThumbnailWidth + w + vg.Points(14)
}

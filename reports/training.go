package reports

import (
	"errors"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// EpochPoint is one epoch of a training curve.
type EpochPoint struct {
	Epoch               int
	TrainLoss, TestLoss float64
	TrainAcc, TestAcc   float64 // fractions in [0, 1]
}

// TrainingCurves draws loss and accuracy against the epoch, train and test,
// side by side, into a PNG at path.
func TrainingCurves(title string, pts []EpochPoint, path string) error {
	if len(pts) == 0 {
		return errors.New("reports: training curves of no epochs")
	}
	series := func(f func(EpochPoint) float64) plotter.XYs {
		xy := make(plotter.XYs, 0, len(pts))
		for _, p := range pts {
			xy = append(xy, plotter.XY{X: float64(p.Epoch), Y: f(p)})
		}
		return xy
	}
	loss := plot.New()
	loss.Title.Text = "loss"
	loss.X.Label.Text = "epoch"
	loss.Y.Label.Text = "cross-entropy"
	acc := plot.New()
	acc.Title.Text = "accuracy"
	acc.X.Label.Text = "epoch"
	acc.Y.Label.Text = "accuracy (%)"
	for _, p := range []*plot.Plot{loss, acc} {
		p.Add(plotter.NewGrid())
		p.X.Tick.Marker = integerTicks{}
	}
	loss.Legend.Top = true
	for _, s := range []struct {
		p     *plot.Plot
		name  string
		xy    plotter.XYs
		color int
	}{
		{loss, "train", series(func(e EpochPoint) float64 { return e.TrainLoss }), 0},
		{loss, "test", series(func(e EpochPoint) float64 { return e.TestLoss }), 1},
		{acc, "train", series(func(e EpochPoint) float64 { return 100 * e.TrainAcc }), 0},
		{acc, "test", series(func(e EpochPoint) float64 { return 100 * e.TestAcc }), 1},
	} {
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return fmt.Errorf("reports: training curves: %w", err)
		}
		l.Color = Palette(s.color)
		pts.Color = Palette(s.color)
		l.Width = vg.Points(1.5)
		s.p.Add(l, pts)
		s.p.Legend.Add(s.name, l, pts)
	}
	c := NewCanvas(9*vg.Inch, 3.5*vg.Inch)
	dc := draw.New(c)
	top := dc
	if title != "" {
		top = drawTitle(dc, title)
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	loss.Draw(tiles.At(top, 0, 0))
	acc.Draw(tiles.At(top, 1, 0))
	return SaveCanvas(c, path)
}

// integerTicks labels whole numbers only (epochs).
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	step := 1.0
	for (max-min)/step > 10 {
		step *= 2
	}
	for v := float64(int(min)); v <= max; v += step {
		if v >= min {
			out = append(out, plot.Tick{Value: v, Label: fmt.Sprint(int(v))})
		}
	}
	return out
}

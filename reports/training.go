package reports

import (
	"errors"
	"fmt"
	"math"
	"strconv"

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
	// Steps, if any, are the training loss and accuracy within the epoch;
	// the train curves then follow them instead of the epoch means.
	Steps []StepPoint
}

// StepPoint is the training loss and accuracy over a few steps ending at
// a fractional epoch.
type StepPoint struct {
	Epoch     float64
	Loss, Acc float64 // Acc a fraction in [0, 1]
}

// TrainingCurves draws loss and accuracy against the epoch, train and test,
// side by side, into a PNG at path. The train curves follow the points'
// Steps when they have some (one point per few steps: a run of one epoch
// still shows its curve), else the epoch means.
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
	var steps []StepPoint
	for _, p := range pts {
		steps = append(steps, p.Steps...)
	}
	trainSeries := func(epoch func(EpochPoint) float64, step func(StepPoint) float64) plotter.XYs {
		if len(steps) == 0 {
			return series(epoch)
		}
		xy := make(plotter.XYs, len(steps))
		for i, s := range steps {
			xy[i] = plotter.XY{X: s.Epoch, Y: step(s)}
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
	trainName := "train"
	if len(steps) > 0 {
		trainName = fmt.Sprintf("train (%d points per epoch)", len(steps)/len(pts))
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.Add(plotter.NewGrid())
		p.X.Tick.Marker = epochTicks{}
		p.X.Min = 0
	}
	loss.Legend.Top = true
	acc.Legend.Top, acc.Legend.Left = false, false
	dense := len(steps) > 0 // the train curves have many points: lines alone
	for _, s := range []struct {
		p        *plot.Plot
		name     string
		xy       plotter.XYs
		color    int
		lineOnly bool
	}{
		{loss, trainName, trainSeries(func(e EpochPoint) float64 { return e.TrainLoss }, func(s StepPoint) float64 { return s.Loss }), 0, dense},
		{loss, "test", series(func(e EpochPoint) float64 { return e.TestLoss }), 1, false},
		{acc, trainName, trainSeries(func(e EpochPoint) float64 { return 100 * e.TrainAcc }, func(s StepPoint) float64 { return 100 * s.Acc }), 0, dense},
		{acc, "test", series(func(e EpochPoint) float64 { return 100 * e.TestAcc }), 1, false},
	} {
		l, pts, err := plotter.NewLinePoints(s.xy)
		if err != nil {
			return fmt.Errorf("reports: training curves: %w", err)
		}
		l.Color = Palette(s.color)
		pts.Color = Palette(s.color)
		l.Width = vg.Points(1.5)
		if s.lineOnly {
			s.p.Add(l)
			s.p.Legend.Add(s.name, l)
			continue
		}
		pts.Radius = vg.Points(3)
		s.p.Add(l, pts)
		s.p.Legend.Add(s.name, l, pts)
	}
	// A little room above and below the data, so that the first loss and
	// the last accuracy do not run along the frame.
	for _, p := range []*plot.Plot{loss, acc} {
		p.Y.Min, p.Y.Max = padRange(p.Y.Min, p.Y.Max)
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

// padRange widens [lo, hi] by 4% of its width on each side, without
// crossing 0 when lo is not negative.
func padRange(lo, hi float64) (float64, float64) {
	pad := 0.04 * (hi - lo)
	if lo >= 0 && lo-pad < 0 {
		return 0, hi + pad
	}
	return lo - pad, hi + pad
}

// epochTicks labels epochs: whole numbers, and quarters when the axis
// spans at most two epochs.
type epochTicks struct{}

// Ticks implements plot.Ticker.
func (epochTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	step := 1.0
	if max-min <= 2 {
		step = 0.25
	}
	for (max-min)/step > 10 {
		step *= 2
	}
	for i := math.Ceil(min / step); i*step <= max+1e-9; i++ {
		v := i * step
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
	}
	return out
}

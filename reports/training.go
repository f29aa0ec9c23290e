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
// side by side. The train curves follow the points' Steps when they have
// some (one point per few steps: a run of one epoch still shows its
// curve), else the epoch means.
func TrainingCurves(title string, pts []EpochPoint) (*Figure, error) {
	if len(pts) == 0 {
		return nil, errors.New("reports: training curves of no epochs")
	}
	var steps []StepPoint
	for _, p := range pts {
		steps = append(steps, p.Steps...)
	}
	loss, acc := trainingPlot("loss", "cross-entropy"), trainingPlot("accuracy", "accuracy (%)")
	loss.Legend.Top = true
	acc.Legend.Top, acc.Legend.Left = false, false
	trainName := "train"
	if len(steps) > 0 {
		trainName = fmt.Sprintf("train (%d points per epoch)", len(steps)/len(pts))
	}
	dense := len(steps) > 0 // the train curves have many points: lines alone
	for _, s := range []struct {
		p        *plot.Plot
		name     string
		xy       plotter.XYs
		color    int
		lineOnly bool
	}{
		{loss, trainName, trainSeries(pts, steps, func(e EpochPoint) float64 { return e.TrainLoss }, func(s StepPoint) float64 { return s.Loss }), 0, dense},
		{loss, "test", epochSeries(pts, func(e EpochPoint) float64 { return e.TestLoss }), 1, false},
		{acc, trainName, trainSeries(pts, steps, func(e EpochPoint) float64 { return 100 * e.TrainAcc }, func(s StepPoint) float64 { return 100 * s.Acc }), 0, dense},
		{acc, "test", epochSeries(pts, func(e EpochPoint) float64 { return 100 * e.TestAcc }), 1, false},
	} {
		if err := addTrainingSeries(s.p, s.name, s.xy, s.color, s.lineOnly); err != nil {
			return nil, err
		}
	}
	// A little room above and below the data, so that the first loss and
	// the last accuracy do not run along the frame.
	for _, p := range []*plot.Plot{loss, acc} {
		p.Y.Min, p.Y.Max = padRange(p.Y.Min, p.Y.Max)
	}
	return &Figure{Width: 9 * vg.Inch, Height: 3.5 * vg.Inch, body: func(dc draw.Canvas) {
		top := dc
		if title != "" {
			top = drawTitle(dc, title)
		}
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
			PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
		loss.Draw(tiles.At(top, 0, 0))
		acc.Draw(tiles.At(top, 1, 0))
	}}, nil
}

// trainingPlot is one panel of the training curves, against the epoch.
func trainingPlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.X.Tick.Marker = epochTicks{}
	p.X.Min = 0
	return p
}

// epochSeries is one value per epoch, at the epoch's end.
func epochSeries(pts []EpochPoint, f func(EpochPoint) float64) plotter.XYs {
	xy := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		xy = append(xy, plotter.XY{X: float64(p.Epoch), Y: f(p)})
	}
	return xy
}

// trainSeries is the training curve: the steps' points when there are
// some, else the epoch means.
func trainSeries(pts []EpochPoint, steps []StepPoint, epoch func(EpochPoint) float64, step func(StepPoint) float64) plotter.XYs {
	if len(steps) == 0 {
		return epochSeries(pts, epoch)
	}
	xy := make(plotter.XYs, len(steps))
	for i, s := range steps {
		xy[i] = plotter.XY{X: s.Epoch, Y: step(s)}
	}
	return xy
}

// addTrainingSeries adds a curve in palette colour color, with markers
// unless lineOnly, and its legend entry.
func addTrainingSeries(p *plot.Plot, name string, xy plotter.XYs, color int, lineOnly bool) error {
	l, pts, err := plotter.NewLinePoints(xy)
	if err != nil {
		return fmt.Errorf("reports: training curves: %w", err)
	}
	l.Color = Palette(color)
	pts.Color = Palette(color)
	l.Width = vg.Points(1.5)
	if lineOnly {
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	pts.Radius = vg.Points(3)
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
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

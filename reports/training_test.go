package reports

import (
	"path/filepath"
	"testing"
)

func TestPadRange(t *testing.T) {
	for _, c := range []struct{ lo, hi, wantLo, wantHi float64 }{
		{16, 96, 12.8, 99.2}, // accuracy in %: room both sides
		{0.05, 2.3, 0, 2.39}, // a loss: never below 0
		{-2, 2, -2.16, 2.16}, // a signed range keeps its sign
		{0.5, 0.5, 0.5, 0.5}, // one value: nothing to pad
	} {
		lo, hi := padRange(c.lo, c.hi)
		if !near(lo, c.wantLo) || !near(hi, c.wantHi) {
			t.Errorf("padRange(%v, %v) = %v, %v; want %v, %v", c.lo, c.hi, lo, hi, c.wantLo, c.wantHi)
		}
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

// TestTrainingCurves draws a two-epoch run with dense training points and
// checks the figure is a PNG of a sensible size with ink on it; an empty
// run is an error.
func TestTrainingCurves(t *testing.T) {
	var pts []EpochPoint
	for e := 1; e <= 2; e++ {
		p := EpochPoint{Epoch: e, TrainLoss: 1 / float64(e), TestLoss: 0.8 / float64(e), TrainAcc: 0.5 + 0.2*float64(e), TestAcc: 0.6 + 0.15*float64(e)}
		for i := 1; i <= 5; i++ {
			x := float64(e-1) + float64(i)/5
			p.Steps = append(p.Steps, StepPoint{Epoch: x, Loss: 2.3 / (1 + 3*x), Acc: 1 - 0.9/(1+3*x)})
		}
		pts = append(pts, p)
	}
	path := filepath.Join(t.TempDir(), "curves.png")
	if err := saved(path)(TrainingCurves("test run", pts)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	if err := saved(path)(TrainingCurves("empty", nil)); err == nil {
		t.Error("no epochs: want an error")
	}
}

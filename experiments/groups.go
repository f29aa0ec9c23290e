package experiments

import (
	"fmt"
	"math"
	"slices"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/reports"
)

// Group is the measurements of one setting over its seeds.
type Group struct {
	Label string         `json:"label"`
	Runs  []*Measurement `json:"runs"`
}

// Spectrum pools the minibatch eigenvalues of every seed.
func (g Group) Spectrum() findings.BatchSpectrum {
	s := findings.BatchSpectrum{Model: g.Label}
	for _, m := range g.Runs {
		s.Batches = append(s.Batches, m.Eigen...)
	}
	return s
}

// each returns f of every run.
func (g Group) each(f func(*Measurement) float64) []float64 {
	out := make([]float64, len(g.Runs))
	for i, m := range g.Runs {
		out[i] = f(m)
	}
	return out
}

// TestAcc returns the test accuracy of each seed.
func (g Group) TestAcc() []float64 { return g.each(func(m *Measurement) float64 { return m.TestAcc }) }

// TrainNLL returns the NLL on the training examples of each seed.
func (g Group) TrainNLL() []float64 {
	return g.each(func(m *Measurement) float64 { return m.TrainNLL })
}

// SeedRuns is the group as findings reads it.
func (g Group) SeedRuns(model string, fraction float64) findings.SeedRuns {
	return findings.SeedRuns{Model: model, Fraction: fraction, TestAcc: g.TestAcc(), TrainNLL: g.TrainNLL()}
}

// NEP returns the share of negative eigenvalues with its 90% bootstrap
// interval over the pooled minibatches.
func (g Group) NEP() Interval { return g.stat(findings.NEP, 21) }

// APE returns the mean positive eigenvalue with its 90% bootstrap
// interval over the pooled minibatches.
func (g Group) APE() Interval { return g.stat(findings.APE, 22) }

func (g Group) stat(f func([]float64) float64, seed uint64) Interval {
	v, lo, hi := findings.StatInterval(g.Spectrum().Batches, f, seed)
	return Interval{Value: v, Lo: lo, Hi: hi}
}

// Rise is the mean landscape rise over every direction of every seed,
// with its 90% bootstrap interval over directions; NaN without slices.
// Diverged slices (a non-finite NLL) are left out.
func (g Group) Rise() Interval {
	var r []float64
	for _, m := range g.Runs {
		if m.Slices != nil {
			r = append(r, m.Slices.Rise...)
		}
	}
	return bootstrapMean(finiteOnly(r), 23)
}

// meanSE returns the mean over seeds and its standard error (NaN with one
// seed).
func meanSE(v []float64) (float64, float64) {
	m, sd := findings.MeanSD(v)
	return m, sd / math.Sqrt(float64(len(v)))
}

func fmtMeanSE(v []float64, scale float64, digits int) string {
	m, se := meanSE(v)
	if math.IsNaN(se) {
		return fmt.Sprintf("%.*f", digits, scale*m)
	}
	return fmt.Sprintf("%.*f ± %.*f", digits, scale*m, digits, scale*se)
}

func fmtInterval(iv Interval, digits int) string {
	if math.IsNaN(iv.Value) {
		return "–"
	}
	if math.IsNaN(iv.Lo) {
		return fmt.Sprintf("%.*f", digits, iv.Value)
	}
	return fmt.Sprintf("%.*f [%.*f, %.*f]", digits, iv.Value, digits, iv.Lo, digits, iv.Hi)
}

// groupTable tabulates groups: accuracy and training NLL over seeds (mean
// ± standard error), NEP, APE and the landscape rise with 90% intervals,
// and the time spent.
func groupTable(caption string, groups []Group) *reports.Table {
	t := &reports.Table{Caption: caption, Header: []string{"setting", "seeds", "test accuracy (%)", "training NLL", "NEP", "APE",
		"landscape rise (nats)", "training (s)", "measuring (s)"}}
	for _, g := range groups {
		var trainS, measS float64
		for _, m := range g.Runs {
			trainS += m.TrainSeconds
			for _, s := range m.Seconds {
				measS += s
			}
		}
		t.Rows = append(t.Rows, []string{g.Label, fmt.Sprint(len(g.Runs)), fmtMeanSE(g.TestAcc(), 100, 2), fmtMeanSE(g.TrainNLL(), 1, 4),
			fmtInterval(g.NEP(), 3), fmtInterval(g.APE(), 1), fmtInterval(g.Rise(), 3), fmt.Sprintf("%.0f", trainS), fmt.Sprintf("%.0f", measS)})
	}
	return t
}

// spectraFigure draws the pooled spectra of groups, one colour each.
func spectraFigure(groups []Group, title, note, path string) error {
	var series []reports.HessianSpectrumSeries
	for _, g := range groups {
		v := slices.Concat(g.Spectrum().Batches...)
		if len(v) == 0 {
			continue
		}
		series = append(series, reports.HessianSpectrumSeries{Label: g.Label, Values: v})
	}
	return saveFigure(path)(reports.HessianSpectrum(series, &reports.HessianSpectrumOptions{Title: title, Note: note}))
}

// slicesFigure draws, per group, the mean over directions and seeds of
// NLL(x) − NLL(0) along the 1-D slices, with the 90% bootstrap interval
// over directions at every x.
func slicesFigure(groups []Group, title, note, path string) error {
	var series []reports.IntervalSeries
	for _, g := range groups {
		var rows [][]float64
		var xs []float64
		for _, m := range g.Runs {
			if m.Slices == nil {
				continue
			}
			xs = m.Slices.X
			mid := len(m.Slices.X) / 2
			for _, r := range m.Slices.NLL {
				rel := make([]float64, len(r))
				for i := range r {
					rel[i] = r[i] - r[mid]
				}
				rows = append(rows, rel)
			}
		}
		if len(rows) == 0 {
			continue
		}
		s := reports.IntervalSeries{Label: fmt.Sprintf("%s (%d slices)", g.Label, len(rows)), X: xs}
		for i := range xs {
			col := make([]float64, len(rows))
			for k := range rows {
				col[k] = rows[k][i]
			}
			iv := bootstrapMean(finiteOnly(col), uint64(31+i))
			s.Y, s.Lo, s.Hi = append(s.Y, iv.Value), append(s.Lo, iv.Lo), append(s.Hi, iv.Hi)
		}
		series = append(series, s)
	}
	if len(series) == 0 {
		return errNoRuns
	}
	return saveFigure(path)(reports.IntervalPlot(series, &reports.IntervalPlotOptions{Title: title, Note: note,
		XLabel: "position along a filter-normalised random direction", YLabel: "NLL(x) − NLL(0) (nats)"}))
}

// finiteOnly returns the finite values of v.
func finiteOnly(v []float64) []float64 {
	var out []float64
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

package analysis

import (
	"math"

	"github.com/vitprobe/vitprobe/reports"
)

// FourierModel gathers one model's Fourier, variance and noise results
// (any of them may be nil) into the plain data the reports package draws:
// reports.DLogAmpFigure, HighFreqFigure, VarianceFigure, NoiseFigure and
// WriteFourierReport take a slice of these.
func FourierModel(name string, fr *FourierResult, vr *VarianceResult, nr *NoiseResult) reports.FourierModel {
	m := reports.FourierModel{Name: name, Clean: math.NaN()}
	byIndex := map[int]int{}
	add := func(info LayerInfo) int {
		if j, ok := byIndex[info.Index]; ok {
			return j
		}
		byIndex[info.Index] = len(m.Layers)
		m.Layers = append(m.Layers, reports.FourierLayer{Index: info.Index, Name: info.Name, Kind: info.Kind.String(),
			Depth: info.Depth, Channels: info.Channels, Size: info.Height, Variance: math.NaN()})
		return len(m.Layers) - 1
	}
	if fr != nil {
		m.Nyquist = fr.Nyquist
		for _, l := range fr.Layers {
			j := add(l.LayerInfo)
			m.Layers[j].PlotFreq, m.Layers[j].Freq, m.Layers[j].DLogAmp = l.PlotFreq, l.Freq, l.DLogAmp
		}
	}
	if vr != nil {
		for _, l := range vr.Layers {
			m.Layers[add(l.LayerInfo)].Variance = l.Variance
		}
	}
	if nr != nil {
		m.Clean = nr.Clean
		for _, b := range nr.Bands {
			m.Noise = append(m.Noise, reports.NoisePoint{Center: b.Center, Accuracy: b.Accuracy, Delta: b.Delta, StdErr: b.StdErr, RMS: b.RMS})
		}
	}
	return m
}

package main

import (
	"github.com/vitprobe/vitprobe/findings"
)

// decide maps the measured numbers onto the findings' inputs, one model
// per family (the first of each), and checks every claim.
func decide(d *demo) []findings.Finding {
	spectra := map[string]findings.Spectrum{}
	if d.Hessian != nil {
		for _, m := range d.Hessian.Models {
			fam := family(m.Model)
			if _, seen := spectra[fam]; seen || fam == "" {
				continue
			}
			s := findings.Spectrum{Model: m.Label}
			for _, b := range m.Batches {
				s.Batches = append(s.Batches, b.Values)
			}
			spectra[fam] = s
		}
	}
	profiles := map[string]findings.Profile{}
	noise := map[string]findings.NoiseCurve{}
	if d.Fourier != nil {
		for _, m := range d.Fourier.Models {
			fam := family(m.Model.Name)
			if _, seen := profiles[fam]; seen || fam == "" {
				continue
			}
			p := findings.Profile{Model: m.Name}
			variance := map[string]float64{}
			if m.Variance != nil {
				for _, l := range m.Variance.Layers {
					variance[l.Name] = l.Variance
				}
			}
			if m.Fourier != nil {
				for _, l := range m.Fourier.Layers {
					if len(l.DLogAmp) == 0 {
						continue
					}
					v, ok := variance[l.Name]
					if !ok {
						v = nan()
					}
					p.Layers = append(p.Layers, findings.Layer{Kind: l.Kind, Depth: l.Depth, HighFreq: l.DLogAmp[len(l.DLogAmp)-1], Variance: v})
				}
			}
			profiles[fam] = p
			if m.Noise != nil {
				c := findings.NoiseCurve{Model: m.Name, Clean: m.Noise.Clean, N: m.Noise.Images}
				for _, b := range m.Noise.Bands {
					// delta is noisy minus clean accuracy; a drop is its negative.
					c.Bands = append(c.Bands, findings.Band{Freq: b.Center, Drop: -b.Delta, SE: b.SE})
				}
				noise[fam] = c
			}
		}
	}
	var out []findings.Finding
	out = append(out, findings.ViTvsResNetSpectra(spectra["vit"], spectra["resnet"]))
	out = append(out, findings.FrequencyProfiles(profiles["vit"], profiles["resnet"]))
	var ps []findings.Profile
	for _, fam := range []string{"resnet", "vit", "alternet"} {
		if p, ok := profiles[fam]; ok {
			ps = append(ps, p)
		}
	}
	out = append(out, findings.VarianceChanges(ps...))
	out = append(out, findings.NoiseRobustness(noise["vit"], noise["resnet"]))
	out = append(out, findings.AlterNetVsViTSpectra(spectra["alternet"], spectra["vit"]))
	return out
}

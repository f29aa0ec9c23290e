package findings

import (
	"math"

	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// Decide checks every claim on a run's results: the Hessian spectra h and
// the Fourier results f (either may be nil: the claims that need it are
// inconclusive). Each claim compares families; the first model of each
// family is taken, its family read from its spec (fam maps the weights
// hash of each Hessian checkpoint to its family; Fourier results record
// their models' specs).
func Decide(h *results.Hessian, f *results.Fourier, fam map[string]meta.Family) []Finding {
	spectra := map[meta.Family]Spectrum{}
	if h != nil {
		for _, m := range h.Models {
			fm := fam[m.WeightsSHA256]
			if _, seen := spectra[fm]; seen || fm == "" {
				continue
			}
			s := Spectrum{Model: m.Label}
			for _, b := range m.Batches {
				s.Batches = append(s.Batches, b.Values)
			}
			spectra[fm] = s
		}
	}
	profiles := map[meta.Family]Profile{}
	noise := map[meta.Family]NoiseCurve{}
	if f != nil {
		for _, m := range f.Models {
			fm := m.Model.Family
			if _, seen := profiles[fm]; seen || fm == "" {
				continue
			}
			p := Profile{Model: m.Name}
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
						v = math.NaN()
					}
					p.Layers = append(p.Layers, Layer{Kind: l.Kind.String(), Depth: l.Depth, HighFreq: l.HighFreq(), Variance: v})
				}
			}
			profiles[fm] = p
			if m.Noise != nil {
				c := NoiseCurve{Model: m.Name, Clean: m.Noise.Clean, N: m.Noise.Images}
				for _, b := range m.Noise.Bands {
					// delta is noisy minus clean accuracy; a drop is its negative.
					c.Bands = append(c.Bands, Band{Freq: b.Center, Drop: -b.Delta, SE: b.StdErr})
				}
				noise[fm] = c
			}
		}
	}
	var out []Finding
	out = append(out, ViTvsResNetSpectra(spectra[meta.ViT], spectra[meta.ResNet]))
	out = append(out, FrequencyProfiles(profiles[meta.ViT], profiles[meta.ResNet]))
	var ps []Profile
	for _, fm := range []meta.Family{meta.ResNet, meta.ViT, meta.AlterNet} {
		if p, ok := profiles[fm]; ok {
			ps = append(ps, p)
		}
	}
	out = append(out, VarianceChanges(ps...))
	out = append(out, NoiseRobustness(noise[meta.ViT], noise[meta.ResNet]))
	out = append(out, AlterNetVsViTSpectra(spectra[meta.AlterNet], spectra[meta.ViT]))
	return out
}

// DecideRepresentation checks the claims of the representation probes on
// a run's lesion study l and corruption results c (either may be nil: the
// claim that needs it is inconclusive). family returns the family of a
// result's model from its name and checkpoint path; the first model of
// each family is taken. The lesion claim is decided on the AlterNet, the
// corruption claim compares the AlterNet with the ResNet (the Conv
// baseline).
func DecideRepresentation(l *results.Lesion, c *results.Corruption, family func(name, checkpoint string) meta.Family) []Finding {
	var lesion, corrupt Finding
	var study *results.LesionResult
	if l != nil {
		for _, m := range l.Models {
			if m.LesionResult != nil && family(m.Name, m.Checkpoint) == meta.AlterNet {
				study = m.LesionResult
				break
			}
		}
	}
	if study != nil {
		lesion = LesionMSAvsConv(LesionStudyOf(study))
	} else {
		lesion = LesionMSAvsConv(LesionStudy{})
		lesion.Measured = nil
		lesion.Why = firstFailure(l == nil, "no lesion study (lesion/lesion.json)", true, "the lesion study has no AlterNet")
	}
	byFamily := map[meta.Family]*results.CorruptionResult{}
	if c != nil {
		for _, m := range c.Models {
			if f := family(m.Name, m.Checkpoint); m.CorruptionResult != nil && byFamily[f] == nil {
				byFamily[f] = m.CorruptionResult
			}
		}
	}
	alter, base := byFamily[meta.AlterNet], byFamily[meta.ResNet]
	if alter != nil && base != nil {
		corrupt = AlterNetCorruptionRobustness(CorruptionOutcomesOf(alter), CorruptionOutcomesOf(base))
	} else {
		corrupt = AlterNetCorruptionRobustness(CorruptionOutcomes{}, CorruptionOutcomes{})
		corrupt.Why = firstFailure(c == nil, "no corruption results (corrupt/corrupt.json)", alter == nil, "the corruption results have no AlterNet",
			true, "the corruption results have no ResNet (the Conv baseline)")
	}
	return []Finding{lesion, corrupt}
}

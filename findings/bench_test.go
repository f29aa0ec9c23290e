package findings

import "testing"

// BenchmarkDecideStudySize decides every claim and table on inputs of the
// full study's size: three seeds, 1,000 images per Fourier, variance and
// noise record, 20 and 8 minibatches of 5 eigenvalues per spectrum.
func BenchmarkDecideStudySize(b *testing.B) {
	c, err := LoadCriteria()
	if err != nil {
		b.Fatal(err)
	}
	var in Inputs
	for _, cl := range c.Claims {
		s := synthFor(cl, 1, testSeeds)
		for i := range s.Profiles {
			// Grow the synthetic profiles from 300 to 1,000 images.
			for l := range s.Profiles[i].Layers {
				ly := &s.Profiles[i].Layers[l]
				for len(ly.HighFreq) > 0 && len(ly.HighFreq) < 1000 {
					ly.HighFreq = append(ly.HighFreq, ly.HighFreq[:min(len(ly.HighFreq), 1000-len(ly.HighFreq))]...)
					ly.Variance = append(ly.Variance, ly.Variance[:min(len(ly.Variance), 1000-len(ly.Variance))]...)
				}
			}
		}
		in = merge(in, s)
	}
	b.ResetTimer()
	for range b.N {
		c.Decide(in)
	}
}

package findings

import (
	"fmt"
	"math"
)

// Band is the accuracy drop under noise in one frequency band.
type Band struct {
	// Freq is the band's centre in units of π.
	Freq float64
	// Drop is clean accuracy minus noisy accuracy, as a fraction.
	Drop float64
	// SE is the standard error of Drop (0: estimated from Clean and N as
	// a binomial proportion difference of paired samples, conservatively).
	SE float64
}

// NoiseCurve is a model's accuracy drop against noise frequency.
type NoiseCurve struct {
	Model string
	Clean float64 // clean accuracy, a fraction
	N     int     // test images
	Bands []Band
}

// Band edges of the noise claim, in units of π.
const (
	lowMax  = 0.3
	highMin = 0.7
)

// lowMinusHigh returns the mean drop over low bands minus the mean over
// high bands, and its standard error.
func lowMinusHigh(c NoiseCurve) (float64, float64, bool) {
	var lo, hi, vlo, vhi float64
	var nlo, nhi int
	for _, b := range c.Bands {
		se := b.SE
		if se == 0 && c.N > 0 {
			se = math.Sqrt(2 * c.Clean * (1 - c.Clean) / float64(c.N))
		}
		switch {
		case b.Freq <= lowMax+1e-9:
			lo, vlo, nlo = lo+b.Drop, vlo+se*se, nlo+1
		case b.Freq >= highMin-1e-9:
			hi, vhi, nhi = hi+b.Drop, vhi+se*se, nhi+1
		}
	}
	if nlo == 0 || nhi == 0 {
		return 0, 0, false
	}
	// Bands share their images: the errors of one model's bands are
	// correlated; adding variances of the means as if independent and
	// not dividing by the band count keeps the error conservative.
	d := lo/float64(nlo) - hi/float64(nhi)
	se := math.Sqrt(vlo/float64(nlo) + vhi/float64(nhi))
	return d, se, true
}

// NoiseRobustness checks: "ViT loses more accuracy to low-frequency noise,
// ResNet to high-frequency noise".
func NoiseRobustness(vit, resnet NoiseCurve) Finding {
	f := Finding{
		Claim: "ViT loses more accuracy to low-frequency noise, ResNet to high-frequency noise",
		Criterion: fmt.Sprintf("s = mean accuracy drop over bands at <= %.1fπ minus the mean over bands at >= %.1fπ, per model, with its standard error: "+
			"holds if s(ViT) > 0 and s(ResNet) < 0, each by 2 standard errors; does not hold if s(ViT) < s(ResNet) by 2 standard errors; inconclusive otherwise",
			lowMax, highMin),
	}
	sv, ev, ok1 := lowMinusHigh(vit)
	sr, er, ok2 := lowMinusHigh(resnet)
	if !ok1 || !ok2 {
		f.Verdict, f.Why = Inconclusive, "no low or no high frequency band measured"
		return f
	}
	f.Measured = []string{
		fmt.Sprintf("ViT (%s): clean accuracy %s, s = %+.2f pp (standard error %.2f pp)", vit.Model, pct(vit.Clean), 100*sv, 100*ev),
		fmt.Sprintf("ResNet (%s): clean accuracy %s, s = %+.2f pp (standard error %.2f pp)", resnet.Model, pct(resnet.Clean), 100*sr, 100*er),
	}
	diffSE := math.Sqrt(ev*ev + er*er)
	switch {
	case sv > 2*ev && sr < -2*er:
		f.Verdict, f.Why = Holds, "ViT is hurt most by low frequencies and ResNet by high frequencies"
	case sr-sv > 2*diffSE:
		f.Verdict, f.Why = DoesNotHold, "ResNet is hurt relatively more by low frequencies than ViT is"
	default:
		f.Verdict, f.Why = Inconclusive, "the differences are within two standard errors or only one model follows the claim"
	}
	return f
}

package findings

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// The claims of the paper's further experiments (data size, smoothing,
// local attention, the build-up rule, fine-tuning, trajectories). Spectrum
// claims use the bootstrap interval of spectraPair; accuracy and
// trajectory claims compare means over seeds against seTimes standard
// errors of their difference. These claims are decided by the rules in
// this file (criteria version 1 style), not by criteria.json.

// seTimes is how many standard errors of a difference make it
// distinguishable from the noise.
const seTimes = 2

// MeanSD returns the mean and the standard deviation (n-1) of v; the
// deviation is NaN with fewer than two values, both are NaN for none.
func MeanSD(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	if len(v) < 2 {
		return m, math.NaN()
	}
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// PooledSD is the standard deviation over seeds pooled over groups (each
// group one configuration measured with several seeds): sqrt(Σ_g Σ_k
// (x_gk − mean_g)² / Σ_g (n_g − 1)); NaN when no group has two values.
func PooledSD(groups ...[]float64) float64 {
	var ss float64
	df := 0
	for _, g := range groups {
		if len(g) < 2 {
			continue
		}
		m, _ := MeanSD(g)
		for _, x := range g {
			ss += (x - m) * (x - m)
		}
		df += len(g) - 1
	}
	if df == 0 {
		return math.NaN()
	}
	return math.Sqrt(ss / float64(df))
}

// diffSE returns mean(a) − mean(b) and its standard error, each group's
// deviation taken from its own seeds, or sd when it has fewer than two.
func diffSE(a, b []float64, sd float64) (float64, float64) {
	ma, sa := MeanSD(a)
	mb, sb := MeanSD(b)
	if math.IsNaN(sa) {
		sa = sd
	}
	if math.IsNaN(sb) {
		sb = sd
	}
	return ma - mb, math.Sqrt(sa*sa/float64(len(a)) + sb*sb/float64(len(b)))
}

// sideOf classifies a difference d with standard error se: +1 if above
// 0 by seTimes standard errors, -1 if below, 0 otherwise or undefined.
func sideOf(d, se float64) int {
	switch {
	case math.IsNaN(d) || math.IsNaN(se):
		return 0
	case d > seTimes*se:
		return 1
	case d < -seTimes*se:
		return -1
	}
	return 0
}

func pp(v float64) string { return fmt.Sprintf("%+.2f pp", 100*v) }

func seedList(v []float64, scale float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.4g", scale*x)
	}
	return strings.Join(s, ", ")
}

// DataSizeSpectra checks Fig. 4's claim: "a ViT's share of negative Hessian
// max-eigenvalues shrinks as its training set grows". small and large are
// the spectra of the model trained on the smallest and the largest share
// of the data (the minibatches of every seed pooled).
func DataSizeSpectra(small, large BatchSpectrum, smallFrac, largeFrac float64) Finding {
	f := Finding{
		Claim: "ViT's share of negative Hessian max-eigenvalues (NEP) shrinks as the training set grows (large data fixes non-convexity)",
		Criterion: fmt.Sprintf("%.0f%% bootstrap interval over minibatches of NEP(smallest set) − NEP(largest set): holds if above 0, "+
			"does not hold if below 0, inconclusive if it contains 0 or with fewer than %d minibatches per size", 100*confidence, minBatches),
	}
	an := fmt.Sprintf("%.0f%% of the data", 100*smallFrac)
	bn := fmt.Sprintf("%.0f%% of the data", 100*largeFrac)
	return spectraPair(f, small, large, an, bn, +1, 0, 11)
}

// GAPvsCLS checks Fig. 6's claim: "a global-average-pooling head instead
// of the class token reduces ViT's negative Hessian eigenvalues".
func GAPvsCLS(gap, cls BatchSpectrum) Finding {
	f := Finding{
		Claim: "A GAP head instead of the class token reduces ViT's negative Hessian max-eigenvalues (smooths the loss)",
		Criterion: fmt.Sprintf("%.0f%% bootstrap interval over minibatches of NEP(GAP) − NEP(class token): holds if below 0, "+
			"does not hold if above 0, inconclusive if it contains 0 or with fewer than %d minibatches per model", 100*confidence, minBatches),
	}
	return spectraPair(f, gap, cls, "GAP", "class token", -1, 0, 12)
}

// BlurSpectra checks the spatial-smoothing claim: "blurring feature maps
// before down-sampling flattens the loss: smaller positive Hessian
// eigenvalues, no more negative ones".
func BlurSpectra(blur, plain BatchSpectrum) Finding {
	f := Finding{
		Claim: "Spatial smoothing (a blur before each down-sampling) flattens the loss: smaller positive Hessian max-eigenvalues (APE), no more negative ones (NEP)",
		Criterion: fmt.Sprintf("%.0f%% bootstrap intervals over minibatches of APE(blur) − APE(plain) and NEP(blur) − NEP(plain): "+
			"holds if the APE interval is below 0 and the NEP interval not above 0; does not hold if either interval is above 0; "+
			"inconclusive otherwise or with fewer than %d minibatches per model", 100*confidence, minBatches),
	}
	g := spectraPair(f, blur, plain, "blur", "plain", 0, -1, 13)
	nep := spectraPair(f, blur, plain, "blur", "plain", -1, 0, 14)
	// Merge: APE decides "holds"; a NEP interval above 0 means "does not
	// hold"; below 0 or containing 0 is not against the claim.
	g.Measured = append(g.Measured, nep.Measured[len(nep.Measured)-1])
	switch {
	case len(blur.Batches) < minBatches || len(plain.Batches) < minBatches:
		return g
	case nep.Verdict == DoesNotHold:
		g.Verdict, g.Why = DoesNotHold, "smoothing raises the share of negative eigenvalues"
	case g.Verdict == Holds:
		g.Why = "APE is lower with smoothing and NEP not higher"
	}
	return g
}

// FineTuneSpectra checks the claim behind pre-training: "a ViT pre-trained
// on a larger set and fine-tuned on a small one has a more convex loss
// there than one trained on the small set from scratch".
func FineTuneSpectra(finetuned, scratch BatchSpectrum) Finding {
	f := Finding{
		Claim: "Pre-training on more data, then fine-tuning on a small set, leaves fewer negative Hessian max-eigenvalues than training on the small set from scratch",
		Criterion: fmt.Sprintf("%.0f%% bootstrap interval over minibatches of NEP(fine-tuned) − NEP(from scratch): holds if below 0, "+
			"does not hold if above 0, inconclusive if it contains 0 or with fewer than %d minibatches per model", 100*confidence, minBatches),
	}
	return spectraPair(f, finetuned, scratch, "fine-tuned", "from scratch", -1, 0, 15)
}

// SeedRuns are one model's measurements at one setting, one per seed.
type SeedRuns struct {
	Model string
	// Fraction is the share of the training data.
	Fraction float64
	// TestAcc is the test accuracy, TrainNLL the NLL on the training
	// examples, per seed.
	TestAcc  []float64
	TrainNLL []float64
}

// TrainNLLvsTestError checks Fig. 5's claim: "ViT does not overfit small
// training sets: where its test error is higher than ResNet's, so is its
// NLL on the training set". vit and resnet are measured at the same
// (small) fraction.
func TrainNLLvsTestError(vit, resnet SeedRuns) Finding {
	f := Finding{
		Claim: "On small training sets ViT does not overfit: where its test error is higher than ResNet's, its NLL on the training set is higher too",
		Criterion: fmt.Sprintf("mean over seeds of test error and training NLL, ViT minus ResNet, at the smallest share of the data, with "+
			"standard errors from the seeds: holds if both are above 0 by %d standard errors; does not hold if the test error is "+
			"higher by %d standard errors and the training NLL lower by as much (overfitting); inconclusive otherwise "+
			"(including when ViT's test error is not higher)", seTimes, seTimes),
	}
	errOf := func(acc []float64) []float64 {
		out := make([]float64, len(acc))
		for i, a := range acc {
			out[i] = 1 - a
		}
		return out
	}
	de, se := diffSE(errOf(vit.TestAcc), errOf(resnet.TestAcc), math.NaN())
	dn, sn := diffSE(vit.TrainNLL, resnet.TrainNLL, math.NaN())
	f.Measured = []string{
		fmt.Sprintf("%.0f%% of the data: test error ViT (%s) %s %%, ResNet (%s) %s %%", 100*vit.Fraction, vit.Model,
			seedList(errOf(vit.TestAcc), 100), resnet.Model, seedList(errOf(resnet.TestAcc), 100)),
		fmt.Sprintf("training NLL ViT %s, ResNet %s", seedList(vit.TrainNLL, 1), seedList(resnet.TrainNLL, 1)),
		fmt.Sprintf("test error ViT − ResNet: %s (standard error %.2f pp)", pp(de), 100*se),
		fmt.Sprintf("training NLL ViT − ResNet: %.4g (standard error %.2g)", dn, sn),
	}
	e, n := sideOf(de, se), sideOf(dn, sn)
	switch {
	case e == 1 && n == 1:
		f.Verdict, f.Why = Holds, "ViT's test error and training NLL are both higher: it underfits rather than overfits"
	case e == 1 && n == -1:
		f.Verdict, f.Why = DoesNotHold, "ViT's test error is higher while its training NLL is lower: it overfits"
	case e != 1:
		f.Verdict, f.Why = Inconclusive, "ViT's test error is not higher than ResNet's beyond the noise"
	default:
		f.Verdict, f.Why = Inconclusive, "the training NLLs do not differ beyond the noise"
	}
	return f
}

// AlterNetVsCNN checks "AlterNet outperforms CNN models in both large and
// small datasets": alter and cnn hold the runs of each at the same
// fractions, in the same order, smallest first.
func AlterNetVsCNN(alter, cnn []SeedRuns) Finding {
	f := Finding{
		Claim: "AlterNet outperforms CNNs on both small and large training sets",
		Criterion: fmt.Sprintf("test accuracy, AlterNet minus CNN, mean over seeds, at the smallest and the largest share of the data; "+
			"standard errors from the seeds (a setting with one seed borrows the standard deviation pooled over the model's settings "+
			"with several): holds if above 0 by %d standard errors at both; does not hold if below 0 by %d standard errors at "+
			"either; inconclusive otherwise", seTimes, seTimes),
	}
	if len(alter) == 0 || len(alter) != len(cnn) {
		f.Verdict, f.Why = Inconclusive, "no paired runs"
		return f
	}
	var ag, cg [][]float64
	for i := range alter {
		ag, cg = append(ag, alter[i].TestAcc), append(cg, cnn[i].TestAcc)
	}
	sdA, sdC := PooledSD(ag...), PooledSD(cg...)
	sides := map[string]int{}
	for _, i := range []int{0, len(alter) - 1} {
		a, c := alter[i], cnn[i]
		ma, sa := MeanSD(a.TestAcc)
		mc, sc := MeanSD(c.TestAcc)
		if math.IsNaN(sa) {
			sa = sdA
		}
		if math.IsNaN(sc) {
			sc = sdC
		}
		d := ma - mc
		se := math.Sqrt(sa*sa/float64(len(a.TestAcc)) + sc*sc/float64(len(c.TestAcc)))
		name := fmt.Sprintf("%.0f%%", 100*a.Fraction)
		sides[name] = sideOf(d, se)
		f.Measured = append(f.Measured, fmt.Sprintf("%s of the data: AlterNet (%s) %.2f%%, CNN (%s) %.2f%%, difference %s (standard error %.2f pp, %d and %d seeds)",
			name, a.Model, 100*ma, c.Model, 100*mc, pp(d), 100*se, len(a.TestAcc), len(c.TestAcc)))
		if len(alter) == 1 {
			break
		}
	}
	var worse, notBetter []string
	for name, s := range sides {
		if s == -1 {
			worse = append(worse, name)
		}
		if s != 1 {
			notBetter = append(notBetter, name)
		}
	}
	switch {
	case len(worse) > 0:
		f.Verdict, f.Why = DoesNotHold, "AlterNet is worse beyond the noise at "+strings.Join(slices.Sorted(slices.Values(worse)), " and ")
	case len(notBetter) == 0 && len(sides) == 2:
		f.Verdict, f.Why = Holds, "AlterNet is better beyond the noise at both ends"
	default:
		f.Verdict, f.Why = Inconclusive, "the difference is within the noise at "+strings.Join(slices.Sorted(slices.Values(notBetter)), " and ")
	}
	return f
}

// LocalVsGlobal checks Fig. 7's claim: "ViT with local attention in a
// small window does as well as or better than with global attention".
// local maps window sizes to their test accuracies per seed.
func LocalVsGlobal(global []float64, local map[int][]float64) Finding {
	f := Finding{
		Claim: "A ViT whose attention is local (small window) does as well as or better than one with global attention",
		Criterion: fmt.Sprintf("test accuracy, mean over seeds, of the better local window minus global attention, with the "+
			"standard error from the seeds (pooled over the settings): holds if at least 0; does not hold if below 0 by %d "+
			"standard errors; inconclusive if below 0 within %d standard errors or with fewer than 2 seeds", seTimes, seTimes),
	}
	groups := [][]float64{global}
	best, bestW := math.Inf(-1), 0
	for _, w := range slices.Sorted(maps.Keys(local)) {
		groups = append(groups, local[w])
		m, _ := MeanSD(local[w])
		f.Measured = append(f.Measured, fmt.Sprintf("window %dx%d: %.2f%% (seeds %s)", w, w, 100*m, seedList(local[w], 100)))
		if m > best {
			best, bestW = m, w
		}
	}
	mg, _ := MeanSD(global)
	f.Measured = append(f.Measured, fmt.Sprintf("global: %.2f%% (seeds %s)", 100*mg, seedList(global, 100)))
	sd := PooledSD(groups...)
	if bestW == 0 || math.IsNaN(sd) {
		f.Verdict, f.Why = Inconclusive, "fewer than two seeds per setting"
		return f
	}
	d := best - mg
	se := sd * math.Sqrt(1/float64(len(local[bestW]))+1/float64(len(global)))
	f.Measured = append(f.Measured, fmt.Sprintf("best local (%dx%d) − global: %s (standard error %.2f pp, pooled seed SD %.2f pp)", bestW, bestW, pp(d), 100*se, 100*sd))
	switch {
	case d >= 0:
		f.Verdict, f.Why = Holds, fmt.Sprintf("the %dx%d window does at least as well as global attention", bestW, bestW)
	case sideOf(d, se) == -1:
		f.Verdict, f.Why = DoesNotHold, "every local window does worse than global attention beyond the noise"
	default:
		f.Verdict, f.Why = Inconclusive, "the best local window is slightly worse, within the noise"
	}
	return f
}

// BuildUpTrial is one candidate of the build-up rule as the claim reads
// it.
type BuildUpTrial struct {
	Pattern string
	// Stage is the stage (from 0) that received the MSA block.
	Stage int
	// Diff and DiffSE: candidate minus current mean validation accuracy.
	Diff, DiffSE float64
	Kept         bool
}

// BuildUp checks the build-up rule's premise: "MSA blocks at the end of
// the later stages improve a convolutional network". stages is the
// number of stages, final the pattern the rule arrived at.
func BuildUp(trials []BuildUpTrial, stages int, final string) Finding {
	f := Finding{
		Claim: "Replacing the Conv blocks at the ends of the later stages by MSA blocks improves accuracy (the build-up rule keeps MSAs there)",
		Criterion: fmt.Sprintf("the rule's trials (validation accuracy over seeds, kept when better by the rule's margin): holds if "+
			"it keeps at least one MSA, all kept MSAs are in stages 2 and later and one is in the last stage; does not hold if the "+
			"first candidate (an MSA at the end of the last stage) is worse by %d standard errors, or MSAs are kept only in the "+
			"first stage; inconclusive otherwise", seTimes),
	}
	kept := 0
	inLast, inFirst := false, false
	for _, t := range trials {
		f.Measured = append(f.Measured, fmt.Sprintf("%s (stage %d): %s ± %.2f pp, %s", t.Pattern, t.Stage+1, pp(t.Diff), 100*t.DiffSE,
			map[bool]string{true: "kept", false: "not kept"}[t.Kept]))
		if t.Kept {
			kept++
			inLast = inLast || t.Stage == stages-1
			inFirst = inFirst || t.Stage == 0
		}
	}
	f.Measured = append(f.Measured, "final pattern: "+final)
	switch {
	case len(trials) > 0 && trials[0].Stage == stages-1 && sideOf(trials[0].Diff, trials[0].DiffSE) == -1:
		f.Verdict, f.Why = DoesNotHold, "an MSA at the end of the last stage makes the network worse beyond the noise"
	case kept > 0 && inFirst && !inLast && kept == 1:
		f.Verdict, f.Why = DoesNotHold, "the only MSA kept is in the first stage"
	case kept > 0 && inLast && !inFirst:
		f.Verdict, f.Why = Holds, fmt.Sprintf("%d MSA(s) kept, in the later stages, one at the end of the last", kept)
	case kept == 0:
		f.Verdict, f.Why = Inconclusive, "no candidate beat the convolutional baseline by the rule's margin"
	default:
		f.Verdict, f.Why = Inconclusive, "the MSAs kept are not where the claim puts them"
	}
	return f
}

// TrajectoryEnd is where one model's weights are at the end of the
// followed stretch of training, per seed.
type TrajectoryEnd struct {
	Model string
	// RelDistance is ‖w − w0‖ / ‖w0‖, Angle the angle between w and w0 in
	// degrees, per seed.
	RelDistance, Angle []float64
}

// trajectoryEffect is the smallest relative difference between two
// models' distances or angles that counts as a difference of paths: a
// gap of a few percent, however well measured, is the same path.
const trajectoryEffect = 0.10

// Trajectories checks our reading of Fig. 1b: "ViT and ResNet leave their
// initial weights along different paths: their distance and angle from the
// initial weights differ".
func Trajectories(a, b TrajectoryEnd) Finding {
	f := Finding{
		Claim: "ViT and ResNet move away from their initial weights differently: relative distance or angle from the initial weights differ (our reading of Fig. 1b)",
		Criterion: fmt.Sprintf("relative distance ‖w−w0‖/‖w0‖ and angle ∠(w, w0) at the last snapshot, mean over seeds, with standard "+
			"errors from the seeds: holds if either differs by %d standard errors and by more than %.0f%% of the two models' mean; "+
			"does not hold if both differ by less than %.0f%%; inconclusive otherwise or with fewer than 2 seeds",
			seTimes, 100*trajectoryEffect, 100*trajectoryEffect),
	}
	dd, sd := diffSE(a.RelDistance, b.RelDistance, math.NaN())
	da, sa := diffSE(a.Angle, b.Angle, math.NaN())
	md, _ := MeanSD(append(append([]float64(nil), a.RelDistance...), b.RelDistance...))
	ma, _ := MeanSD(append(append([]float64(nil), a.Angle...), b.Angle...))
	rd, ra := math.Abs(dd)/md, math.Abs(da)/ma
	f.Measured = []string{
		fmt.Sprintf("%s: relative distance %s, angle %s°", a.Model, seedList(a.RelDistance, 1), seedList(a.Angle, 1)),
		fmt.Sprintf("%s: relative distance %s, angle %s°", b.Model, seedList(b.RelDistance, 1), seedList(b.Angle, 1)),
		fmt.Sprintf("difference: relative distance %.3g (standard error %.2g, %.0f%% of the mean), angle %.3g° (standard error %.2g°, %.0f%% of the mean)",
			dd, sd, 100*rd, da, sa, 100*ra),
	}
	differs := func(d, se, rel float64) bool { return sideOf(d, se) != 0 && rel > trajectoryEffect }
	switch {
	case math.IsNaN(sd) || math.IsNaN(sa):
		f.Verdict, f.Why = Inconclusive, "fewer than two seeds per model"
	case differs(dd, sd, rd) || differs(da, sa, ra):
		f.Verdict, f.Why = Holds, "the models end at clearly different distances or angles from their initial weights"
	case rd < trajectoryEffect && ra < trajectoryEffect:
		f.Verdict, f.Why = DoesNotHold, fmt.Sprintf("distance and angle agree within %.0f%%", 100*trajectoryEffect)
	default:
		f.Verdict, f.Why = Inconclusive, "the differences are larger than the threshold but within the noise"
	}
	return f
}

// StatInterval returns stat of the pooled values of batches and its
// bootstrap interval at the package's confidence, resampling the batches
// (the independent units) with replacement.
func StatInterval(batches [][]float64, stat func([]float64) float64, seed uint64) (v, lo, hi float64) {
	v = stat(pooled(batches))
	if len(batches) == 0 {
		return v, math.NaN(), math.NaN()
	}
	r := rand.New(rand.NewPCG(seed, 0x1e7))
	var ss []float64
	for i := 0; i < pairResamples; i++ {
		var pick []float64
		for range batches {
			pick = append(pick, batches[r.IntN(len(batches))]...)
		}
		if s := stat(pick); !math.IsNaN(s) {
			ss = append(ss, s)
		}
	}
	if len(ss) < pairResamples/2 {
		return v, math.NaN(), math.NaN()
	}
	slices.Sort(ss)
	q := (1 - confidence) / 2
	return v, ss[int(q*float64(len(ss)))], ss[int((1-q)*float64(len(ss)-1))]
}

package findings

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// imageResamples is the number of bootstrap resamples over test images.
const imageResamples = 2000

// bootstrapImages draws, imageResamples times, n images with replacement
// (as counts per image) and returns the sorted finite values of stat,
// which reads the counts.
func bootstrapImages(n int, seed uint64, stat func(counts []float64) float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x1e5))
	counts := make([]float64, n)
	out := make([]float64, 0, imageResamples)
	for range imageResamples {
		clear(counts)
		for range n {
			counts[r.IntN(n)]++
		}
		if v := stat(counts); !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	sort.Float64s(out)
	return out
}

// interval returns the two-sided confidence interval of sorted bootstrap
// values (NaN when fewer than half the resamples gave a value).
func interval(sorted []float64) (lo, hi float64) {
	if len(sorted) < imageResamples/2 {
		return math.NaN(), math.NaN()
	}
	q := (1 - confidence) / 2
	return sorted[int(q*float64(len(sorted)))], sorted[int((1-q)*float64(len(sorted)-1))]
}

// weightedErr returns the error rate Σ w_i [not correct_i] / Σ w_i.
func weightedErr(correct []bool, w []float64) float64 {
	var e, n float64
	for i, c := range correct {
		n += w[i]
		if !c {
			e += w[i]
		}
	}
	return e / n
}

// LesionUnit is one lesioned residual branch of a model: its per-image
// outcomes with the branch removed.
type LesionUnit struct {
	Name string
	// Kind is the models.LayerKind name: "conv", "down", "msa", "mlp".
	Kind string
	// StageEnd reports that the block ends a stage: the next layer
	// lowers the resolution, or is the head.
	StageEnd bool
	// Identity reports an identity shortcut. The lesion claim compares
	// only such blocks: removing the branch of a block with a projection
	// shortcut leaves a 1×1 convolution, not the identity.
	Identity bool
	// Correct holds, per image, whether the lesioned model was right.
	Correct []bool
}

// LesionStudy is one model's lesion study: the intact model's per-image
// outcomes and each lesioned unit's, on the same images.
type LesionStudy struct {
	Model  string
	Intact []bool
	Units  []LesionUnit
}

// LesionMSAvsConv checks (paper Fig. 10b): "removing an MSA block at the
// end of a stage costs more accuracy than removing a Conv block", within
// one model (AlterNet: Conv blocks and MSA blocks together).
func LesionMSAvsConv(s LesionStudy) Finding {
	f := Finding{
		Claim: "Removing an MSA block at the end of a stage costs more accuracy than removing a Conv block (AlterNet, Fig. 10b)",
		Criterion: fmt.Sprintf("D = mean accuracy drop over the lesioned MSA blocks that end a stage minus the mean drop over the lesioned Conv blocks "+
			"(conv and down-sampling kinds), blocks with identity shortcuts only, one model; %.0f%% bootstrap interval over test images (%d resamples): "+
			"holds if above 0, does not hold if below 0, inconclusive if it contains 0 or either group is empty", 100*confidence, imageResamples),
	}
	var msa, conv []LesionUnit
	var projection []string
	for _, u := range s.Units {
		switch {
		case !u.Identity:
			projection = append(projection, u.Name)
		case u.Kind == "msa" && u.StageEnd:
			msa = append(msa, u)
		case u.Kind == "conv" || u.Kind == "down":
			conv = append(conv, u)
		}
	}
	n := len(s.Intact)
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	drop := func(u LesionUnit, w []float64) float64 { return weightedErr(u.Correct, w) - weightedErr(s.Intact, w) }
	meanDrop := func(us []LesionUnit, w []float64) float64 {
		var m float64
		for _, u := range us {
			m += drop(u, w) / float64(len(us))
		}
		return m
	}
	names := func(us []LesionUnit) string {
		var out []string
		for _, u := range us {
			out = append(out, fmt.Sprintf("%s %+.2f pp", u.Name, 100*drop(u, ones)))
		}
		return strings.Join(out, ", ")
	}
	f.Measured = []string{
		fmt.Sprintf("%s, %d test images: intact accuracy %s", s.Model, n, pct(1-weightedErr(s.Intact, ones))),
		fmt.Sprintf("MSA blocks ending a stage (%d): %s", len(msa), names(msa)),
		fmt.Sprintf("Conv blocks with identity shortcuts (%d): %s", len(conv), names(conv)),
	}
	if len(projection) > 0 {
		f.Measured = append(f.Measured, fmt.Sprintf("left out, projection shortcuts: %s", strings.Join(projection, ", ")))
	}
	for _, u := range s.Units {
		if len(u.Correct) != n {
			f.Verdict, f.Why = Inconclusive, fmt.Sprintf("%s was evaluated on %d images, the intact model on %d", u.Name, len(u.Correct), n)
			return f
		}
	}
	if len(msa) == 0 || len(conv) == 0 || n == 0 {
		f.Verdict = Inconclusive
		f.Why = firstFailure(n == 0, "no images", len(msa) == 0, "no MSA block ending a stage was lesioned",
			len(conv) == 0, "no Conv block with an identity shortcut was lesioned (every Conv block of this model changes the resolution or the width)")
		return f
	}
	d := meanDrop(msa, ones) - meanDrop(conv, ones)
	lo, hi := interval(bootstrapImages(n, 41, func(w []float64) float64 { return meanDrop(msa, w) - meanDrop(conv, w) }))
	f.Measured = append(f.Measured, fmt.Sprintf("D = %+.2f pp, %.0f%% interval [%+.2f, %+.2f] pp", 100*d, 100*confidence, 100*lo, 100*hi))
	switch direction(lo, hi) {
	case 1:
		f.Verdict, f.Why = Holds, "removing the MSA blocks costs more accuracy than removing the Conv blocks, beyond the resampling noise"
	case -1:
		f.Verdict, f.Why = DoesNotHold, "removing the Conv blocks costs more accuracy than removing the MSA blocks"
	default:
		f.Verdict, f.Why = Inconclusive, "the difference is within the resampling noise"
	}
	return f
}

// CorruptionOutcomes is a model's per-image outcomes on corrupted test
// images: Outcomes[c][s][i] is whether image i was classified right under
// corruption Corruptions[c] at its s-th severity.
type CorruptionOutcomes struct {
	Model       string
	Corruptions []string
	Outcomes    [][][]bool
}

// mce returns the mCE of a against the baseline b (ImageNet-C: per
// corruption the sum over severities of a's errors over the baseline's,
// averaged over corruptions) with image weights w; NaN if a baseline sum
// is 0.
func mce(a, b CorruptionOutcomes, w []float64) float64 {
	var m float64
	for c := range a.Outcomes {
		var num, den float64
		for s := range a.Outcomes[c] {
			num += weightedErr(a.Outcomes[c][s], w)
			den += weightedErr(b.Outcomes[c][s], w)
		}
		if den == 0 {
			return math.NaN()
		}
		m += num / den / float64(len(a.Outcomes))
	}
	return m
}

// AlterNetCorruptionRobustness checks (paper Fig. 12b): "AlterNet is more
// robust to common corruptions than the Conv baseline", by AlterNet's mCE
// with the Conv baseline's errors as the normaliser.
func AlterNetCorruptionRobustness(alter, base CorruptionOutcomes) Finding {
	f := Finding{
		Claim: "AlterNet is more robust to common corruptions than its Conv baseline (Fig. 12b)",
		Criterion: fmt.Sprintf("mCE of AlterNet with the Conv baseline as the reference (ImageNet-C: per corruption, AlterNet's errors summed over severities over the baseline's; mean over corruptions); "+
			"%.0f%% bootstrap interval over test images (%d resamples, the same images for every corruption and both models): "+
			"holds if below 100%%, does not hold if above 100%%, inconclusive if it contains 100%%", 100*confidence, imageResamples),
	}
	n := -1
	ok := len(alter.Outcomes) > 0 && len(alter.Outcomes) == len(base.Outcomes) && strings.Join(alter.Corruptions, ",") == strings.Join(base.Corruptions, ",")
	for c := range alter.Outcomes {
		if !ok || len(alter.Outcomes[c]) != len(base.Outcomes[c]) {
			ok = false
			break
		}
		for s := range alter.Outcomes[c] {
			for _, o := range [][]bool{alter.Outcomes[c][s], base.Outcomes[c][s]} {
				if n < 0 {
					n = len(o)
				}
				ok = ok && len(o) == n && n > 0
			}
		}
	}
	if !ok {
		f.Verdict, f.Why = Inconclusive, "the two models were not evaluated on the same corruptions, severities and images"
		return f
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	meanAcc := func(o CorruptionOutcomes) float64 {
		var a float64
		k := 0
		for c := range o.Outcomes {
			for s := range o.Outcomes[c] {
				a += 1 - weightedErr(o.Outcomes[c][s], ones)
				k++
			}
		}
		return a / float64(k)
	}
	v := mce(alter, base, ones)
	f.Measured = []string{
		fmt.Sprintf("AlterNet (%s): mean accuracy over %d corruptions × severities %.2f%%", alter.Model, countConditions(alter), 100*meanAcc(alter)),
		fmt.Sprintf("Conv baseline (%s): mean accuracy %.2f%%; %d test images", base.Model, 100*meanAcc(base), n),
	}
	if math.IsNaN(v) {
		f.Verdict, f.Why = Inconclusive, "the baseline makes no error under some corruption: its CE is undefined"
		return f
	}
	lo, hi := interval(bootstrapImages(n, 43, func(w []float64) float64 { return mce(alter, base, w) }))
	f.Measured = append(f.Measured, fmt.Sprintf("mCE(AlterNet) = %.1f%%, %.0f%% interval [%.1f%%, %.1f%%]", 100*v, 100*confidence, 100*lo, 100*hi))
	switch direction(lo-1, hi-1) {
	case -1:
		f.Verdict, f.Why = Holds, "AlterNet's corruption errors are below the Conv baseline's beyond the resampling noise"
	case 1:
		f.Verdict, f.Why = DoesNotHold, "AlterNet's corruption errors are above the Conv baseline's"
	default:
		f.Verdict, f.Why = Inconclusive, "the mCE is within the resampling noise of 100%"
	}
	return f
}

func countConditions(o CorruptionOutcomes) int {
	k := 0
	for _, c := range o.Outcomes {
		k += len(c)
	}
	return k
}

// DecideRepresentation checks the claims of the representation probes on
// a run's lesion study l and corruption results c (either may be nil: the
// claim that needs it is inconclusive). family returns the family of a
// result's model from its name and checkpoint path; the first model of
// each family is taken. The lesion claim is decided on the AlterNet, the
// corruption claim compares the AlterNet with the ResNet (the Conv
// baseline). These claims are decided within one run, on the trained
// models, with intervals over test images; their rules are in this file,
// not in criteria.json (see the package documentation).
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
	lesion.ID, lesion.Source, lesion.Statistic = "lesion-msa-vs-conv", "Fig. 10b", "D (pp of accuracy)"
	corrupt.ID, corrupt.Source, corrupt.Statistic = "alternet-corruption-robustness", "Fig. 12b", "mCE of AlterNet against ResNet"
	for _, f := range []*Finding{&lesion, &corrupt} {
		f.Analysis, f.Protocol = "primary", "trained models, clean test images; one run"
	}
	return []Finding{lesion, corrupt}
}

// AddRun adds findings decided within one run on its own results (the
// representation claims, DecideRepresentation) to r: to the pooled list
// and, when r has exactly one seed (a demo), to that seed's.
func (r *Report) AddRun(fs ...Finding) {
	r.Findings = append(r.Findings, fs...)
	if len(r.PerSeed) == 1 {
		r.PerSeed[0].Findings = append(r.PerSeed[0].Findings, fs...)
	}
}

// LesionStudyOf returns a lesion result as LesionMSAvsConv's input: the
// intact model's and each lesioned block's per-image outcomes.
func LesionStudyOf(r *results.LesionResult) LesionStudy {
	s := LesionStudy{Model: r.Model, Intact: r.Intact.Correct}
	for _, b := range r.Blocks {
		s.Units = append(s.Units, LesionUnit{Name: b.Name, Kind: b.Kind.String(), StageEnd: b.StageEnd,
			Identity: b.Identity, Correct: b.Correct})
	}
	return s
}

// HasMSAStageEnd reports whether r lesioned an MSA block that ends a
// stage: the models (AlterNets) the lesion claim is decided for.
func HasMSAStageEnd(r *results.LesionResult) bool {
	for _, b := range r.Blocks {
		if b.Kind == meta.KindMSA && b.StageEnd {
			return true
		}
	}
	return false
}

// CorruptionOutcomesOf returns a corruption result's per-image outcomes by
// corruption and severity, in the order of its conditions, as
// AlterNetCorruptionRobustness's input.
func CorruptionOutcomesOf(r *results.CorruptionResult) CorruptionOutcomes {
	o := CorruptionOutcomes{Model: r.Model}
	at := map[string]int{}
	for _, c := range r.Conditions {
		i, ok := at[c.Name]
		if !ok {
			i = len(o.Corruptions)
			at[c.Name] = i
			o.Corruptions = append(o.Corruptions, c.Name)
			o.Outcomes = append(o.Outcomes, nil)
		}
		o.Outcomes[i] = append(o.Outcomes[i], c.Correct)
	}
	return o
}

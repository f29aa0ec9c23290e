package findings

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Verdict is the outcome of checking one claim.
type Verdict string

// The three verdicts.
const (
	Holds        Verdict = "holds"
	DoesNotHold  Verdict = "does not hold"
	Inconclusive Verdict = "inconclusive"
)

// Finding is one claim checked against measurements.
type Finding struct {
	// ID and Source name the claim (criteria.json) and where the paper
	// shows it; Claim states it as the paper does.
	ID     string `json:"id"`
	Source string `json:"source"`
	Claim  string `json:"claim"`
	// Analysis is "primary" (the paper's claim under the paper's
	// protocol) or "secondary: " and the reason it is not primary.
	Analysis string `json:"analysis"`
	// Protocol states the phase and data of the inputs.
	Protocol string `json:"protocol"`
	// Statistic names the number decided on; Criterion says how.
	Statistic string `json:"statistic"`
	Criterion string `json:"criterion"`
	// Estimate is the statistic (mean over seeds) and Lo, Hi its
	// interval; nil when undefined.
	Estimate *float64 `json:"estimate"`
	Lo       *float64 `json:"lo"`
	Hi       *float64 `json:"hi"`
	// Seeds are the seeds decided on, with each one's own estimate.
	Seeds []SeedEstimate `json:"seeds"`
	// Verdict and, in one sentence, what decided it.
	Verdict Verdict `json:"verdict"`
	Why     string  `json:"why"`
	// Measured lists the numbers behind the verdict, one per line.
	Measured []string `json:"measured"`
}

// SeedEstimate is one seed's own estimate of a statistic.
type SeedEstimate struct {
	Seed     string   `json:"seed"`
	Estimate *float64 `json:"estimate"`
}

// Primary reports whether the finding is a primary analysis.
func (f Finding) Primary() bool { return f.Analysis == "primary" }

// SeedFindings are the claims decided within one seed.
type SeedFindings struct {
	Seed     string    `json:"seed"`
	Findings []Finding `json:"findings"`
}

// Report is everything Decide concludes: the pooled findings, the
// findings of each seed, the tables of every number with its interval,
// and the inputs with their phases.
type Report struct {
	CriteriaVersion int    `json:"criteria_version"`
	CriteriaSHA256  string `json:"criteria_sha256"`
	// MinSeeds is the criteria's fewest seeds for a pooled verdict.
	MinSeeds int `json:"min_seeds"`
	// Seeds are every seed label found in the inputs.
	Seeds []string `json:"seeds"`
	// Findings are pooled over seeds: primary ones first, then the
	// secondary analyses.
	Findings []Finding      `json:"findings"`
	PerSeed  []SeedFindings `json:"per_seed"`
	Tables   []Table        `json:"tables"`
	Inputs   Table          `json:"inputs"`
}

// Table is a titled table of text cells.
type Table struct {
	Title   string     `json:"title"`
	Note    string     `json:"note,omitempty"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Headline returns the findings a page should lead with: the pooled
// primary and secondary findings when there are enough seeds, else the
// only seed's own findings (a single run, as the demo's) with the pooled
// ones' reason.
func (r *Report) Headline() (fs []Finding, pooled bool) {
	if len(r.Seeds) >= r.MinSeeds || len(r.PerSeed) != 1 {
		return r.Findings, true
	}
	return r.PerSeed[0].Findings, false
}

// Decide checks every claim of the compiled-in criteria against in.
func Decide(in Inputs) (*Report, error) {
	c, err := LoadCriteria()
	if err != nil {
		return nil, err
	}
	return c.Decide(in), nil
}

// Decide checks every claim of c against in: each claim under its
// protocol pooled over seeds, under its other protocols as secondary
// analyses, and within each seed.
func (c *Criteria) Decide(in Inputs) *Report {
	r := &Report{CriteriaVersion: c.Version, CriteriaSHA256: c.sha, MinSeeds: c.MinSeeds, Seeds: seedsOf(in)}
	r.Findings = c.all(in, "")
	for _, s := range r.Seeds {
		r.PerSeed = append(r.PerSeed, SeedFindings{Seed: s, Findings: c.all(in, s)})
	}
	r.Tables = c.tables(in)
	r.Inputs = inputsTable(in)
	return r
}

// all decides every claim under its protocol and, as secondary analyses,
// under its other protocols, pooled (seed "") or within one seed: primary
// findings first.
func (c *Criteria) all(in Inputs, seed string) []Finding {
	var primary, secondary []Finding
	for _, cl := range c.Claims {
		f := c.check(in, cl, Protocol{cl.Phase, cl.Data}, seed)
		if cl.Secondary != "" {
			f.Analysis = "secondary: " + cl.Secondary
			secondary = append(secondary, f)
		} else {
			primary = append(primary, f)
		}
		for _, p := range cl.OtherProtocols {
			g := c.check(in, cl, p, seed)
			g.Analysis = "secondary: not the paper's protocol (the paper's: " + protocolText(cl, Protocol{cl.Phase, cl.Data}) + ")"
			secondary = append(secondary, g)
		}
	}
	return append(primary, secondary...)
}

// seedsOf returns every seed label of the inputs, sorted.
func seedsOf(in Inputs) []string {
	set := map[string]bool{}
	for _, s := range in.Spectra {
		set[s.Seed] = true
	}
	for _, p := range in.Profiles {
		set[p.Seed] = true
	}
	for _, n := range in.Noise {
		set[n.Seed] = true
	}
	for _, l := range in.Landscapes {
		set[l.Seed] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return seedLess(out[i], out[j]) })
	return out
}

// seedLess orders seed labels numerically where they are numbers.
func seedLess(a, b string) bool {
	var x, y int
	_, ea := fmt.Sscanf(a, "%d", &x)
	_, eb := fmt.Sscanf(b, "%d", &y)
	if ea == nil && eb == nil && x != y {
		return x < y
	}
	return a < b
}

// evidence is what one claim's statistic is computed from.
type evidence struct {
	groups   []group
	combine  func([]float64) float64
	seeds    []string
	measured []string
	// missing says why no verdict can be reached ("" when there is
	// enough evidence).
	missing string
	stat    string // the statistic's name
	units   string // what is resampled within a seed
}

// protocolText states a claim's inputs.
func protocolText(cl Claim, p Protocol) string {
	switch cl.Kind {
	case "spectrum":
		return fmt.Sprintf("%s checkpoints, %s training data", phaseName(p.Phase), p.Data)
	case "noise_shape":
		noise := "the paper's band noise"
		if cl.Variant == "equal-energy" {
			noise = "band noise of equal energy in every band"
		}
		return fmt.Sprintf("%s checkpoints, clean test images with %s", phaseName(p.Phase), noise)
	}
	return fmt.Sprintf("%s checkpoints, clean test images", phaseName(p.Phase))
}

func phaseName(p string) string {
	switch p {
	case "warmup":
		return "end-of-warm-up (\"warmup\")"
	case "final":
		return "end-of-training (\"final\")"
	}
	return fmt.Sprintf("%q", p)
}

var familyName = map[string]string{"vit": "ViT", "resnet": "ResNet", "alternet": "AlterNet"}

// check decides one claim under one protocol, pooled over seeds (seed
// "") or within one seed.
func (c *Criteria) check(in Inputs, cl Claim, p Protocol, seed string) Finding {
	f := Finding{ID: cl.ID, Source: cl.Source, Claim: cl.Text, Analysis: "primary", Protocol: protocolText(cl, p)}
	ev := c.gather(in, cl, p, seed)
	f.Statistic = ev.stat
	f.Criterion = c.criterionText(cl, ev, seed)
	f.Measured = ev.measured
	if ev.missing != "" {
		f.Verdict, f.Why = Inconclusive, ev.missing
		return f
	}
	key := cl.ID + "/" + p.Phase + "/" + p.Data + "/" + seed
	iv := bootstrap(c, key, ev.groups, ev.combine)
	f.Estimate, f.Lo, f.Hi = num(iv.Est), num(iv.Lo), num(iv.Hi)
	// Each seed's own estimate.
	var own []float64
	for i, s := range ev.seeds {
		est := make([]float64, len(ev.groups))
		for k, g := range ev.groups {
			est[k] = g[i].estimate()
		}
		v := ev.combine(est)
		own = append(own, v)
		f.Seeds = append(f.Seeds, SeedEstimate{Seed: s, Estimate: num(v)})
	}
	f.Measured = append(f.Measured, fmt.Sprintf("%s: %s, %.0f%% interval %s", ev.stat, g(iv.Est), 100*c.Bootstrap.Confidence, ciText(iv.Lo, iv.Hi)))
	if seed == "" {
		parts := make([]string, len(own))
		for i, v := range own {
			parts[i] = fmt.Sprintf("seed %s: %s", ev.seeds[i], g(v))
		}
		f.Measured = append(f.Measured, "each seed's own estimate: "+strings.Join(parts, ", "))
	}
	f.Verdict, f.Why = c.verdict(cl, iv, own, seed == "")
	return f
}

// side returns +1 if x is on the claimed side, −1 if on the other, 0 on
// the boundary or undefined.
func side(cl Claim, x float64) int {
	if math.IsNaN(x) {
		return 0
	}
	switch cl.Expect {
	case "greater":
		return sign(x)
	case "less":
		return -sign(x)
	}
	return -sign(x - cl.Margin)
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// verdict applies the criteria to an interval and the seeds' estimates.
func (c *Criteria) verdict(cl Claim, iv span, own []float64, pooled bool) (Verdict, string) {
	if !iv.ok() {
		return Inconclusive, "the interval is undefined (too few usable resamples)"
	}
	ivSide := 0
	switch {
	case side(cl, iv.Lo) == 1 && side(cl, iv.Hi) == 1:
		ivSide = 1
	case side(cl, iv.Lo) == -1 && side(cl, iv.Hi) == -1:
		ivSide = -1
	}
	bound := "0"
	if cl.Expect == "not_greater" {
		bound = "the margin " + g(cl.Margin)
	}
	if ivSide == 0 {
		return Inconclusive, "the interval contains " + bound
	}
	if pooled && c.SeedsMustAgree {
		agree := 0
		for _, v := range own {
			if side(cl, v) == ivSide {
				agree++
			}
		}
		if agree < len(own) {
			return Inconclusive, fmt.Sprintf("the interval excludes %s but only %d of %d seeds' own estimates lie on its side", bound, agree, len(own))
		}
	}
	what := "on the claimed side of " + bound
	if ivSide < 0 {
		what = "on the opposite side of " + bound
	}
	if pooled && c.SeedsMustAgree {
		what += ", as does every seed's own estimate"
	}
	if ivSide > 0 {
		return Holds, "the interval lies " + what
	}
	return DoesNotHold, "the interval lies " + what
}

// criterionText states the rule of a claim in words.
func (c *Criteria) criterionText(cl Claim, ev evidence, seed string) string {
	var sideText, other string
	switch cl.Expect {
	case "greater":
		sideText, other = "above 0", "below 0"
	case "less":
		sideText, other = "below 0", "above 0"
	default:
		sideText, other = "below "+g(cl.Margin), "above "+g(cl.Margin)
	}
	least := fmt.Sprintf("%d usable minibatches", c.MinMinibatches)
	switch ev.units {
	case "images":
		least = fmt.Sprintf("%d images", c.MinImages)
	case "direction pairs":
		least = "one direction pair"
	}
	conf := fmt.Sprintf("%.0f%%", 100*c.Bootstrap.Confidence)
	if seed != "" {
		return fmt.Sprintf("%s, within seed %s: holds if its %s bootstrap interval (%s resampled, %d times) lies %s; does not hold if it lies %s; "+
			"inconclusive otherwise or with fewer than %s per model", ev.stat, seed, conf, ev.units, c.Bootstrap.Resamples, sideText, other, least)
	}
	agree := ""
	if c.SeedsMustAgree {
		agree = " and every seed's own estimate does too"
	}
	return fmt.Sprintf("%s, mean over seeds: holds if its %s hierarchical bootstrap interval (seeds, then %s within each seed, resampled %d times) lies %s%s; "+
		"does not hold if it lies %s%s; inconclusive otherwise, or with fewer than %d seeds or %s per seed and model",
		ev.stat, conf, ev.units, c.Bootstrap.Resamples, sideText, agree, other, agree, c.MinSeeds, least)
}

// gather collects a claim's evidence under protocol p, from every seed
// (seed "") or one.
func (c *Criteria) gather(in Inputs, cl Claim, p Protocol, seed string) evidence {
	switch cl.Kind {
	case "spectrum":
		return c.gatherSpectra(in, cl, p, seed)
	case "noise_shape":
		return c.gatherNoise(in, cl, p, seed)
	}
	return c.gatherProfiles(in, cl, p, seed)
}

// perSeed is one family's usable units per seed.
type perSeed struct {
	family string
	stats  map[string]unitStat
	lines  []string
	found  []string // phases/variants found that do not match, for the reason
}

// finish intersects the families' seeds and fills ev's groups, or its
// missing reason.
func (c *Criteria) finish(ev *evidence, fams []perSeed, seed string) {
	for _, f := range fams {
		if len(f.stats) == 0 {
			reason := fmt.Sprintf("no usable %s input", familyName[f.family])
			if seed != "" {
				reason += " of seed " + seed
			}
			if len(f.found) > 0 {
				reason += " (found: " + strings.Join(f.found, "; ") + ")"
			}
			ev.missing = reason
			return
		}
	}
	var common []string
	for s := range fams[0].stats {
		ok := true
		for _, f := range fams[1:] {
			_, in := f.stats[s]
			ok = ok && in
		}
		if ok {
			common = append(common, s)
		}
	}
	sort.Slice(common, func(i, j int) bool { return seedLess(common[i], common[j]) })
	ev.seeds = common
	if len(common) == 0 {
		ev.missing = "no seed has every model the claim compares"
		return
	}
	for _, f := range fams {
		var gr group
		for _, s := range common {
			gr = append(gr, f.stats[s])
		}
		ev.groups = append(ev.groups, gr)
	}
	if seed == "" && len(common) < c.MinSeeds {
		ev.missing = fmt.Sprintf("%d seed(s), fewer than the %d a pooled verdict needs (the per-seed table decides within each seed)", len(common), c.MinSeeds)
	}
}

func (c *Criteria) gatherSpectra(in Inputs, cl Claim, p Protocol, seed string) evidence {
	statName := strings.ToUpper(cl.Stat)
	ev := evidence{units: "minibatches", stat: fmt.Sprintf("%s(%s) − %s(%s)", statName, familyName[cl.A], statName, familyName[cl.B])}
	var fams []perSeed
	for _, fam := range []string{cl.A, cl.B} {
		ps := perSeed{family: fam, stats: map[string]unitStat{}}
		type agg struct {
			seeds, batches, values, excluded, dropped int
			model                                     string
		}
		var a agg
		found := map[string]bool{}
		for _, s := range in.Spectra {
			if s.Family != fam || seed != "" && s.Seed != seed {
				continue
			}
			if s.Phase != p.Phase || s.Data != p.Data {
				found[fmt.Sprintf("%s %s, %s data", s.Model, s.Phase, s.Data)] = true
				continue
			}
			if _, dup := ps.stats[s.Seed]; dup {
				ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: a second spectrum at this phase and data is left out (the first one counts)", s.Model, s.Seed))
				continue
			}
			u := newSpectrumUnits(s)
			a.model = s.Model
			a.excluded += u.excluded
			a.dropped += u.dropped
			if len(u.tot) < c.MinMinibatches {
				ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: %d usable minibatches, fewer than %d: left out", s.Model, s.Seed, len(u.tot), c.MinMinibatches))
				continue
			}
			a.seeds++
			a.batches += len(u.tot)
			a.values += u.values
			ps.stats[s.Seed] = unitStat{seed: s.Seed, n: len(u.tot), stat: u.stat(cl.Stat)}
		}
		ps.found = sortedKeys(found)
		if a.seeds > 0 {
			ps.lines = append(ps.lines, fmt.Sprintf("%s (%s): %d seed(s), %d minibatches, %d eigenvalues; %d unconverged eigenvalues excluded (%d minibatches left empty)",
				familyName[fam], a.model, a.seeds, a.batches, a.values, a.excluded, a.dropped))
		}
		fams = append(fams, ps)
	}
	c.finish(&ev, fams, seed)
	for _, f := range fams {
		ev.measured = append(ev.measured, f.lines...)
	}
	if ev.missing == "" || len(ev.groups) == 2 {
		// Each family's own summary with its interval.
		for k, fam := range []string{cl.A, cl.B} {
			if k >= len(ev.groups) {
				break
			}
			var parts []string
			for _, st := range []string{"nep", "ape"} {
				var gr group
				for _, u := range ev.groups[k] {
					gr = append(gr, c.respec(in, fam, p, u.seed, st))
				}
				iv := bootstrap(c, cl.ID+"/"+fam+"/"+st+"/"+seed, []group{gr}, single)
				parts = append(parts, fmt.Sprintf("%s %s %s", strings.ToUpper(st), g(iv.Est), ciText(iv.Lo, iv.Hi)))
			}
			ev.measured = append(ev.measured, fmt.Sprintf("%s: %s", familyName[fam], strings.Join(parts, ", ")))
		}
	}
	ev.combine = diff
	return ev
}

// respec returns the unit statistic st of family fam's spectrum of seed
// s under protocol p.
func (c *Criteria) respec(in Inputs, fam string, p Protocol, s, st string) unitStat {
	for _, sp := range in.Spectra {
		if sp.Family == fam && sp.Seed == s && sp.Phase == p.Phase && sp.Data == p.Data {
			u := newSpectrumUnits(sp)
			return unitStat{seed: s, n: len(u.tot), stat: u.stat(st)}
		}
	}
	return unitStat{seed: s, n: 1, stat: func([]float64) float64 { return math.NaN() }}
}

func quantityName(q string) string {
	if q == "log_variance" {
		return "log feature-map variance"
	}
	return "high-frequency Δ log amplitude"
}

func (c *Criteria) gatherProfiles(in Inputs, cl Claim, p Protocol, seed string) evidence {
	ev := evidence{units: "images", combine: single}
	switch cl.Kind {
	case "layer_change":
		ev.stat = fmt.Sprintf("mean change of the %s at %s's %s blocks (each block minus the layer before it)",
			quantityName(cl.Quantity), familyName[cl.Family], kindNames(cl.Layers))
	default:
		ev.stat = fmt.Sprintf("least-squares slope of %s's %s over normalised depth", familyName[cl.Family], quantityName(cl.Quantity))
	}
	ps := perSeed{family: cl.Family, stats: map[string]unitStat{}}
	found := map[string]bool{}
	var pooledMeans [][]float64
	var layers []Layer
	nLayers, images := 0, 0
	for _, pr := range in.Profiles {
		if pr.Family != cl.Family || seed != "" && pr.Seed != seed {
			continue
		}
		if pr.Phase != p.Phase {
			found[pr.Model+" "+pr.Phase] = true
			continue
		}
		if _, dup := ps.stats[pr.Seed]; dup {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: a second profile is left out (the first one counts)", pr.Model, pr.Seed))
			continue
		}
		u, err := newProfileUnits(pr, cl.Quantity)
		if err != nil {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: %v: left out", pr.Model, pr.Seed, err))
			continue
		}
		if u.n < c.MinImages {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: %d images, fewer than %d: left out", pr.Model, pr.Seed, u.n, c.MinImages))
			continue
		}
		var st func([]float64) float64
		if cl.Kind == "layer_change" {
			st, nLayers = u.changeStat(cl.Layers)
			if nLayers == 0 {
				ps.lines = append(ps.lines, fmt.Sprintf("%s has no %s block after another layer", pr.Model, kindNames(cl.Layers)))
				continue
			}
		} else {
			st = u.slopeStat()
		}
		ps.stats[pr.Seed] = unitStat{seed: pr.Seed, n: u.n, stat: st}
		w := make([]float64, u.n)
		for i := range w {
			w[i] = 1
		}
		pooledMeans = append(pooledMeans, u.means(w))
		layers = u.layers
		images += u.n
	}
	ps.found = sortedKeys(found)
	if len(ps.stats) > 0 && len(layers) > 0 {
		// The layer means pooled over seeds, to count the layers that go
		// the claimed way.
		q := make([]float64, len(layers))
		for _, m := range pooledMeans {
			if len(m) != len(q) {
				q = nil
				break
			}
			for l := range m {
				q[l] += m[l] / float64(len(pooledMeans))
			}
		}
		line := fmt.Sprintf("%s: %d seed(s), %d images in all", familyName[cl.Family], len(ps.stats), images)
		if q != nil {
			if cl.Kind == "layer_change" {
				down, n := 0, 0
				for l := 1; l < len(layers); l++ {
					if contains(cl.Layers, layers[l].Kind) {
						n++
						if q[l] < q[l-1] {
							down++
						}
					}
				}
				line += fmt.Sprintf("; %d of %d %s blocks lower it (layer means pooled over seeds)", down, n, kindNames(cl.Layers))
			} else {
				line += fmt.Sprintf("; from %s (first layer) to %s (last), over %d layers", g(q[0]), g(q[len(q)-1]), len(q))
			}
		}
		ps.lines = append(ps.lines, line)
	}
	c.finish(&ev, []perSeed{ps}, seed)
	ev.measured = ps.lines
	return ev
}

// kindNames names layer kinds as the paper does: "MSA", "Conv (stride 1
// or down-sampling)".
func kindNames(kinds []string) string {
	if len(kinds) == 2 && contains(kinds, "conv") && contains(kinds, "down") {
		return "Conv (stride 1 or down-sampling)"
	}
	names := map[string]string{"msa": "MSA", "mlp": "MLP", "conv": "Conv", "down": "down-sampling", "stem": "stem"}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = names[k]
		if out[i] == "" {
			out[i] = k
		}
	}
	return strings.Join(out, "/")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Criteria) gatherNoise(in Inputs, cl Claim, p Protocol, seed string) evidence {
	ev := evidence{units: "images", combine: single,
		stat: fmt.Sprintf("%s's mean accuracy drop over bands at ≤ %gπ minus that over bands at ≥ %gπ", familyName[cl.Family], c.NoiseBands.LowMax, c.NoiseBands.HighMin)}
	ps := perSeed{family: cl.Family, stats: map[string]unitStat{}}
	found := map[string]bool{}
	var clean, lo, hi float64
	var n int
	for _, nz := range in.Noise {
		if nz.Family != cl.Family || seed != "" && nz.Seed != seed {
			continue
		}
		if nz.Phase != p.Phase || nz.Variant != cl.Variant {
			found[fmt.Sprintf("%s %s, %s noise", nz.Model, nz.Phase, nz.Variant)] = true
			continue
		}
		if _, dup := ps.stats[nz.Seed]; dup {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: a second noise record is left out (the first one counts)", nz.Model, nz.Seed))
			continue
		}
		u, err := newNoiseUnits(nz)
		if err != nil {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: %v: left out", nz.Model, nz.Seed, err))
			continue
		}
		if u.n < c.MinImages {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: %d images, fewer than %d: left out", nz.Model, nz.Seed, u.n, c.MinImages))
			continue
		}
		st, ok := u.shapeStat(c.NoiseBands.LowMax, c.NoiseBands.HighMin)
		if !ok {
			ps.lines = append(ps.lines, fmt.Sprintf("%s seed %s: no low or no high band: left out", nz.Model, nz.Seed))
			continue
		}
		ps.stats[nz.Seed] = unitStat{seed: nz.Seed, n: u.n, stat: st}
		for i := range nz.Clean {
			clean += b2f(nz.Clean[i])
		}
		n += u.n
		var a, b float64
		var na, nb int
		for k, f := range u.bands {
			m := weightedMean(ones(u.n), u.drop[k])
			switch {
			case f <= c.NoiseBands.LowMax+1e-9:
				a, na = a+m, na+1
			case f >= c.NoiseBands.HighMin-1e-9:
				b, nb = b+m, nb+1
			}
		}
		if na > 0 && nb > 0 {
			lo += a / float64(na)
			hi += b / float64(nb)
		}
	}
	ps.found = sortedKeys(found)
	if k := len(ps.stats); k > 0 {
		ps.lines = append(ps.lines, fmt.Sprintf("%s: %d seed(s), %d images in all; clean accuracy %.1f%%; mean drop %.2f pp at low bands, %.2f pp at high bands (means over seeds)",
			familyName[cl.Family], k, n, 100*clean/float64(n), 100*lo/float64(k), 100*hi/float64(k)))
	}
	c.finish(&ev, []perSeed{ps}, seed)
	ev.measured = ps.lines
	return ev
}

func ones(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// num returns a pointer to x, nil for NaN or ±Inf (JSON has neither).
func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func ciText(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "[undefined]"
	}
	return fmt.Sprintf("[%s, %s]", g(lo), g(hi))
}

func g(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", v)
}

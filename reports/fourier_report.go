package reports

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FourierCheckpoint describes one analysed checkpoint in the report's
// provenance.
type FourierCheckpoint struct {
	Name, Path, Model, Phase string
	Epoch                    int
	// WeightsSHA256 is the hash of the weights recorded in the sidecar
	// (and checked on loading).
	WeightsSHA256 string
	// SidecarSHA256 is the hash of the sidecar file.
	SidecarSHA256 string
	// Seconds is how long the checkpoint's analyses took; Reused reports
	// that they were taken from an earlier run with the same settings.
	Seconds float64
	Reused  bool
}

// FourierReport is everything WriteFourierReport puts on the page.
type FourierReport struct {
	// Title replaces the default title.
	Title  string
	Models []FourierModel
	// Dataset names the images, e.g. "mnist test, first 1000 images".
	Dataset string
	Images  int
	// Noise settings, shown with Fig. 2b.
	NoiseLevel, NoiseWidth float64
	NoiseMetric            string
	EqualEnergy            bool
	Seed                   uint64
	// Command is the command line that made the report.
	Command string
	// Provenance holds further key-value lines (version, time, host,
	// threads, duration...).
	Provenance [][2]string
	// Checkpoints lists the inputs with their hashes.
	Checkpoints []FourierCheckpoint
	// DataLinks are extra files beside the page (e.g. the JSON results).
	DataLinks []Link
	// VarianceLog forces the variance figure's y scale: "log",
	// "linear", or "" for automatic (VarianceLogScale).
	VarianceLog string
}

// Files of a Fourier report inside its folder.
const (
	FourierPage         = "report.html"
	FourierDLogAmpPNG   = "fig2a-dlogamp.png"
	FourierHighFreqPNG  = "fig8-highfreq.png"
	FourierVariancePNG  = "fig9-variance.png"
	FourierNoisePNG     = "fig2b-noise.png"
	FourierLayersCSV    = "layers.csv"
	FourierProfilesCSV  = "profiles.csv"
	FourierNoiseCSV     = "noise.csv"
	FourierKindsCSV     = "kinds.csv"
	fourierDefaultTitle = "Fourier analysis of feature maps"
)

// frFmtFn formats a number for a table: short for the page, exact for CSV.
type frFmtFn func(v float64, digits int) string

func frNumberFormat(precise bool) frFmtFn {
	if precise {
		return frCSVNum
	}
	return frPageNum
}

func frPageNum(v float64, digits int) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "−Inf"
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if strings.HasPrefix(s, "-") {
		if strings.Trim(s, "-0.") == "" {
			s = s[1:] // no "−0.000"
		} else {
			s = "−" + s[1:]
		}
	}
	return s
}

func frCSVNum(v float64, _ int) string {
	if math.IsNaN(v) {
		return ""
	}
	// 15 significant digits: all a float64 holds reliably, without the
	// tails of the ×100 of percentages (-7.3999999999999995).
	return strconv.FormatFloat(v, 'g', 15, 64)
}

// FourierLayersTable is the per-layer table behind Fig. 8 and Fig. 9: every
// value those figures plot. precise formats numbers exactly (for CSV)
// instead of rounded (for the page).
func FourierLayersTable(ms []FourierModel, precise bool) Table {
	f := frNumberFormat(precise)
	t := Table{Header: []string{"model", "index", "layer", "kind", "maps (C×n×n)", "depth",
		"Δ log amplitude at the highest frequency", "highest frequency (×π)", "Δ log amplitude at π/2", "variance"}}
	for _, m := range ms {
		for _, l := range m.Layers {
			hf := math.NaN()
			if len(l.Freq) > 0 {
				hf = l.Freq[len(l.Freq)-1] / math.Pi
			}
			t.Rows = append(t.Rows, []string{m.Name, strconv.Itoa(l.Index), l.Name, l.Kind,
				fmt.Sprintf("%d×%d×%d", l.Channels, l.Size, l.Size), f(l.Depth, 3), f(l.HighFreq(), 3), f(hf, 4),
				f(l.AtFreq(math.Pi/2), 3), f(l.Variance, 4)})
		}
	}
	return t
}

// FourierProfilesTable is the long table behind Fig. 2a: one row per
// plotted point.
func FourierProfilesTable(ms []FourierModel, precise bool) Table {
	f := frNumberFormat(precise)
	t := Table{Header: []string{"model", "index", "layer", "kind", "depth", "k", "normalised frequency",
		"frequency (×π)", "Δ log amplitude"}}
	for _, m := range ms {
		for _, l := range m.Layers {
			for k, v := range l.DLogAmp {
				pf, tf := math.NaN(), math.NaN()
				if k < len(l.PlotFreq) {
					pf = l.PlotFreq[k]
				}
				if k < len(l.Freq) {
					tf = l.Freq[k] / math.Pi
				}
				t.Rows = append(t.Rows, []string{m.Name, strconv.Itoa(l.Index), l.Name, l.Kind, f(l.Depth, 3),
					strconv.Itoa(k), f(pf, 3), f(tf, 4), f(v, 4)})
			}
		}
	}
	return t
}

// FourierNoiseTable is the table behind Fig. 2b.
func FourierNoiseTable(ms []FourierModel, precise bool) Table {
	f := frNumberFormat(precise)
	t := Table{Header: []string{"model", "band centre (×π)", "noise RMS", "clean accuracy (%)", "noisy accuracy (%)",
		"change (pp)", "standard error (pp)"}}
	for _, m := range ms {
		for _, q := range m.Noise {
			t.Rows = append(t.Rows, []string{m.Name, f(q.Center, 2), f(q.RMS, 4), f(100*m.Clean, 2), f(100*q.Accuracy, 2),
				f(100*q.Delta, 2), f(100*q.StdErr, 2)})
		}
	}
	return t
}

// KindEffect summarises what one kind of block does in one model: the
// mean change, from its input (the previous layer's output) to its
// output, of the high-frequency Δ log amplitude, and the geometric-mean
// factor of the feature-map variance.
type KindEffect struct {
	Model, Kind string
	// Blocks is the number of blocks of the kind (layers after the first).
	Blocks int
	// HighFreqChange is the mean of HighFreq(i) − HighFreq(i−1); NaN
	// without profiles.
	HighFreqChange float64
	// Lowered counts the blocks whose HighFreqChange is negative.
	Lowered int
	// HalfPiChange is the mean change of the Δ log amplitude at π/2
	// (FourierLayer.AtFreq), the same frequency before and after a
	// down-sampling block; LoweredHalfPi counts the blocks lowering it.
	HalfPiChange  float64
	LoweredHalfPi int
	// VarianceFactor is exp(mean log(Var(i)/Var(i−1))); NaN without
	// variances.
	VarianceFactor float64
	// Reduced counts the blocks that lowered the variance.
	Reduced int
}

// KindEffects returns, per model and kind (in order of first
// appearance), the effect of the blocks of that kind: the numbers behind
// "MSAs are low-pass filters and reduce variance, convolutions do the
// opposite" (paper.md §4-5).
func KindEffects(ms []FourierModel) []KindEffect {
	var out []KindEffect
	for _, m := range ms {
		idx := map[string]int{}
		type acc struct {
			hf, lv, hp                   float64
			nh, nv, np, low, red, lhp, n int
		}
		var accs []*acc
		var kinds []string
		for i := 1; i < len(m.Layers); i++ {
			a, b := m.Layers[i-1], m.Layers[i]
			j, ok := idx[b.Kind]
			if !ok {
				j = len(accs)
				idx[b.Kind] = j
				accs = append(accs, &acc{})
				kinds = append(kinds, b.Kind)
			}
			e := accs[j]
			e.n++
			if d := b.HighFreq() - a.HighFreq(); frFinite(d) {
				e.hf += d
				e.nh++
				if d < 0 {
					e.low++
				}
			}
			if d := b.AtFreq(math.Pi/2) - a.AtFreq(math.Pi/2); frFinite(d) {
				e.hp += d
				e.np++
				if d < 0 {
					e.lhp++
				}
			}
			if a.Variance > 0 && b.Variance > 0 && frFinite(a.Variance) && frFinite(b.Variance) {
				e.lv += math.Log(b.Variance / a.Variance)
				e.nv++
				if b.Variance < a.Variance {
					e.red++
				}
			}
		}
		for j, e := range accs {
			k := KindEffect{Model: m.Name, Kind: kinds[j], Blocks: e.n, HighFreqChange: math.NaN(), VarianceFactor: math.NaN(),
				HalfPiChange: math.NaN(), Lowered: e.low, LoweredHalfPi: e.lhp, Reduced: e.red}
			if e.nh > 0 {
				k.HighFreqChange = e.hf / float64(e.nh)
			}
			if e.np > 0 {
				k.HalfPiChange = e.hp / float64(e.np)
			}
			if e.nv > 0 {
				k.VarianceFactor = math.Exp(e.lv / float64(e.nv))
			}
			out = append(out, k)
		}
	}
	return out
}

// FourierKindsTable tabulates KindEffects.
func FourierKindsTable(ms []FourierModel, precise bool) Table {
	f := frNumberFormat(precise)
	t := Table{Header: []string{"model", "block kind", "blocks", "mean change of high-frequency Δ log amplitude",
		"blocks lowering it", "mean change at π/2", "blocks lowering it at π/2", "variance factor (geometric mean)",
		"blocks reducing variance"}}
	for _, k := range KindEffects(ms) {
		t.Rows = append(t.Rows, []string{k.Model, k.Kind, strconv.Itoa(k.Blocks), f(k.HighFreqChange, 3),
			strconv.Itoa(k.Lowered), f(k.HalfPiChange, 3), strconv.Itoa(k.LoweredHalfPi), f(k.VarianceFactor, 3),
			strconv.Itoa(k.Reduced)})
	}
	return t
}

// FourierNoiseSummaryTable gives, per model, the clean accuracy, the mean
// accuracy change over the low bands (centre ≤ 0.3π) and the high bands
// (centre ≥ 0.7π), and the band that hurt most.
func FourierNoiseSummaryTable(ms []FourierModel, precise bool) Table {
	f := frNumberFormat(precise)
	t := Table{Header: []string{"model", "clean accuracy (%)", "mean change, bands ≤ 0.3π (pp)", "mean change, bands ≥ 0.7π (pp)",
		"most harmful band (×π)", "its change (pp)"}}
	for _, m := range ms {
		if len(m.Noise) == 0 {
			continue
		}
		var lo, hi float64
		var nl, nh int
		worst := -1
		for i, q := range m.Noise {
			if !frFinite(q.Delta) {
				continue
			}
			if q.Center <= 0.3+1e-9 {
				lo += q.Delta
				nl++
			}
			if q.Center >= 0.7-1e-9 {
				hi += q.Delta
				nh++
			}
			if worst < 0 || q.Delta < m.Noise[worst].Delta {
				worst = i
			}
		}
		mean := func(s float64, n int) float64 {
			if n == 0 {
				return math.NaN()
			}
			return 100 * s / float64(n)
		}
		wc, wd := math.NaN(), math.NaN()
		if worst >= 0 {
			wc, wd = m.Noise[worst].Center, 100*m.Noise[worst].Delta
		}
		t.Rows = append(t.Rows, []string{m.Name, f(100*m.Clean, 2), f(mean(lo, nl), 2), f(mean(hi, nh), 2), f(wc, 2), f(wd, 2)})
	}
	return t
}

// WriteFourierReport renders r into dir: the figures (PNG), the tables of
// every plotted number (CSV), and the page FourierPage linking them,
// atomically file by file. Figures of analyses that were not run are left
// out. It returns the names of the files written, relative to dir.
func WriteFourierReport(dir string, r FourierReport) ([]string, error) {
	if len(r.Models) == 0 {
		return nil, errors.New("reports: Fourier report of no model")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var files []string
	var profiles, variance, noise bool
	for _, m := range r.Models {
		profiles = profiles || m.hasProfiles()
		variance = variance || m.hasVariance()
		noise = noise || len(m.Noise) > 0
	}
	title := r.Title
	if title == "" {
		title = fourierDefaultTitle
	}
	names := make([]string, len(r.Models))
	for i, m := range r.Models {
		names[i] = m.Name
	}
	page := Page{Title: title,
		Subtitle: fmt.Sprintf("%s · %s", strings.Join(names, ", "), r.Dataset)}
	skipNote := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf(" %d non-finite value(s) were left out of the plot.", n)
	}

	summary := Section{Heading: "Summary", ID: "summary"}
	if profiles || variance {
		summary.Blocks = append(summary.Blocks, Block{Text: "What each kind of block does to its input, averaged over the " +
			"blocks of that kind: the change of the highest-frequency Δ log amplitude (negative: the block removes high " +
			"frequencies relative to low ones, a low-pass effect) and the factor by which it multiplies the feature-map " +
			"variance. Paper.md §4-5 claims MSAs lower both and convolutions/MLPs raise both. Down-sampling blocks also " +
			"change the map size, so their highest point moves (π − 2π/n changes with n): the change at π/2, a point of " +
			"every map of even side from 4 up, compares a block's input and output at one frequency."})
		kt := FourierKindsTable(r.Models, false)
		summary.Blocks = append(summary.Blocks, Block{Table: &kt})
	}
	if noise {
		summary.Blocks = append(summary.Blocks, Block{Text: "Accuracy change under band noise, averaged over the low " +
			"bands (centre ≤ 0.3π) and the high bands (centre ≥ 0.7π). Paper.md §5 reports ViT hurt most by low-frequency " +
			"noise and ResNet by high-frequency noise."})
		nt := FourierNoiseSummaryTable(r.Models, false)
		summary.Blocks = append(summary.Blocks, Block{Table: &nt})
	}
	page.Sections = append(page.Sections, summary)

	if profiles {
		skipped, err := DLogAmpFigure(r.Models, filepath.Join(dir, FourierDLogAmpPNG))
		if err != nil {
			return files, err
		}
		files = append(files, FourierDLogAmpPNG)
		s := Section{Heading: "Relative log amplitude (Fig. 2a)", ID: "fig2a"}
		s.Blocks = append(s.Blocks, Block{Figure: &Figure{Src: FourierDLogAmpPNG, Alt: "relative log amplitude against frequency",
			Caption: "Δ log amplitude (log |F| at frequency (k, k) of the mean log-amplitude spectrum, minus its value at " +
				"frequency 0) along the half diagonal, one curve per layer coloured by normalised depth; dashed: MSA layers, " +
				"dotted: down-sampling blocks. The x axis is the paper's normalised frequency: its last point is the highest " +
				"point on the half diagonal, which is π − 2π/n for maps of even side n (π itself only with --nyquist). " +
				"White noise reads +0.35 (½ ln 2), not 0, because frequency 0 is a real-valued bin." + skipNote(skipped)}})
		page.Sections = append(page.Sections, s)

		skipped, err = HighFreqFigure(r.Models, filepath.Join(dir, FourierHighFreqPNG))
		if err != nil {
			return files, err
		}
		files = append(files, FourierHighFreqPNG)
		s = Section{Heading: "High-frequency amplitude vs depth (Fig. 8)", ID: "fig8"}
		s.Blocks = append(s.Blocks, Block{Figure: &Figure{Src: FourierHighFreqPNG, Alt: "high-frequency relative log amplitude against depth",
			Caption: "The last point of each layer's Fig. 2a curve against the layer's normalised depth (layer index / " +
				"last spatial layer index). Grey: MSA blocks, blue: down-sampling blocks, each shaded from its input's " +
				"depth to its output's." + skipNote(skipped)}})
		page.Sections = append(page.Sections, s)
	}
	if variance {
		logY := VarianceLogScale(r.Models)
		switch r.VarianceLog {
		case "log":
			logY = true
		case "linear":
			logY = false
		}
		skipped, err := VarianceFigure(r.Models, logY, filepath.Join(dir, FourierVariancePNG))
		if err != nil {
			return files, err
		}
		files = append(files, FourierVariancePNG)
		scale := "linear"
		if logY {
			scale = "logarithmic (the values span more than a factor 30)"
		}
		s := Section{Heading: "Feature-map variance vs depth (Fig. 9)", ID: "fig9"}
		s.Blocks = append(s.Blocks, Block{Figure: &Figure{Src: FourierVariancePNG, Alt: "feature-map variance against depth",
			Caption: "For every image and channel, the unbiased variance of the map over its spatial positions, averaged " +
				"over images and channels (token layers: patch tokens only). y axis " + scale + ". Shading as in Fig. 8." +
				skipNote(skipped)}})
		page.Sections = append(page.Sections, s)
	}
	if noise {
		skipped, err := NoiseFigure(r.Models, filepath.Join(dir, FourierNoisePNG))
		if err != nil {
			return files, err
		}
		files = append(files, FourierNoisePNG)
		energy := "δ has standard deviation %g before filtering, so the noise energy grows with the ring's area " +
			"(the noise RMS of each band is in the table)"
		if r.EqualEnergy {
			energy = "each band's noise is scaled to a per-pixel RMS of %g (--equal-energy)"
		}
		s := Section{Heading: "Robustness to frequency-band noise (Fig. 2b)", ID: "fig2b"}
		s.Blocks = append(s.Blocks, Block{Figure: &Figure{Src: FourierNoisePNG, Alt: "accuracy change against noise frequency",
			Caption: fmt.Sprintf("Accuracy with band-limited noise minus clean accuracy, in percentage points, against the "+
				"band's centre f: x + IFFT(FFT(δ)·M_f) on the normalised input, M_f a %s ring of width %gπ, δ Gaussian, drawn "+
				"independently for each channel and image (seed %d; the same δ of an image serves every band). "+energy+
				". Error bars: ±1 standard error of the paired per-image difference. When the bands' noise differs in "+
				"energy, the lower panel shows each band's noise RMS: on 32×32 images a band 0.1π wide holds one or two "+
				"rings of frequency bins, so neighbouring bands can differ by a factor 3 in energy (--equal-energy "+
				"removes this).%s",
				r.NoiseMetric, r.NoiseWidth, r.Seed, r.NoiseLevel, skipNote(skipped))}})
		page.Sections = append(page.Sections, s)
	}

	// Tables of every plotted number, on the page and as CSV.
	data := Section{Heading: "Data", ID: "data"}
	type tbl struct {
		file, caption string
		make          func([]FourierModel, bool) Table
		on            bool
	}
	for _, tb := range []tbl{
		{FourierLayersCSV, "Per layer: Fig. 8 and Fig. 9", FourierLayersTable, profiles || variance},
		{FourierProfilesCSV, "Per profile point: Fig. 2a", FourierProfilesTable, profiles},
		{FourierNoiseCSV, "Per noise band: Fig. 2b", FourierNoiseTable, noise},
		{FourierKindsCSV, "Per block kind: the summary", FourierKindsTable, profiles || variance},
	} {
		if !tb.on {
			continue
		}
		if err := WriteCSV(filepath.Join(dir, tb.file), tb.make(r.Models, true)); err != nil {
			return files, err
		}
		files = append(files, tb.file)
		t := tb.make(r.Models, false)
		t.Caption = fmt.Sprintf("%s (%d rows; %s)", tb.caption, len(t.Rows), tb.file)
		t.Collapsed = true
		data.Blocks = append(data.Blocks, Block{Table: &t})
	}
	links := append([]Link(nil), r.DataLinks...)
	for _, f := range files {
		if strings.HasSuffix(f, ".csv") {
			links = append(links, Link{Href: f, Text: f})
		}
	}
	data.Blocks = append(data.Blocks, Block{Links: links})
	page.Sections = append(page.Sections, data)

	prov := Section{Heading: "Provenance", ID: "provenance"}
	if r.Command != "" {
		prov.Blocks = append(prov.Blocks, Block{Pre: r.Command})
	}
	kv := Table{Header: []string{"item", "value"}}
	kv.Rows = append(kv.Rows, []string{"images", fmt.Sprintf("%d (%s)", r.Images, r.Dataset)}, []string{"seed", strconv.FormatUint(r.Seed, 10)})
	for _, p := range r.Provenance {
		kv.Rows = append(kv.Rows, []string{p[0], p[1]})
	}
	prov.Blocks = append(prov.Blocks, Block{Table: &kv})
	if len(r.Checkpoints) > 0 {
		ct := Table{Caption: "Checkpoints", Header: []string{"name", "path", "model", "phase", "epoch", "weights SHA-256",
			"sidecar SHA-256", "analysis time (s)"}}
		for _, c := range r.Checkpoints {
			t := frPageNum(c.Seconds, 1)
			if c.Reused {
				t += " (reused)"
			}
			ct.Rows = append(ct.Rows, []string{c.Name, c.Path, c.Model, c.Phase, strconv.Itoa(c.Epoch), c.WeightsSHA256, c.SidecarSHA256, t})
		}
		prov.Blocks = append(prov.Blocks, Block{Table: &ct})
	}
	page.Sections = append(page.Sections, prov)
	page.Footer = "Made by vitprobe (github.com/vitprobe/vitprobe) after Park & Kim, “How Do Vision Transformers Work?” (ICLR 2022)."
	if err := WritePage(filepath.Join(dir, FourierPage), page); err != nil {
		return files, err
	}
	return append(files, FourierPage), nil
}

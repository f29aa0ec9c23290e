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
// opposite" (docs/methods.md §4-5).
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
			if d := b.HighFreq() - a.HighFreq(); finite(d) {
				e.hf += d
				e.nh++
				if d < 0 {
					e.low++
				}
			}
			if d := b.AtFreq(math.Pi/2) - a.AtFreq(math.Pi/2); finite(d) {
				e.hp += d
				e.np++
				if d < 0 {
					e.lhp++
				}
			}
			if a.Variance > 0 && b.Variance > 0 && finite(a.Variance) && finite(b.Variance) {
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
			if !finite(q.Delta) {
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
// atomically file by file, the page last. Figures of analyses that were
// not run are left out. It returns the names of the files written,
// relative to dir.
func WriteFourierReport(dir string, r FourierReport) ([]string, error) {
	if len(r.Models) == 0 {
		return nil, errors.New("reports: Fourier report of no model")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	w := &fourierWriter{dir: dir, r: r}
	for _, m := range r.Models {
		w.profiles = w.profiles || m.hasProfiles()
		w.variance = w.variance || m.hasVariance()
		w.noise = w.noise || len(m.Noise) > 0
	}
	title := r.Title
	if title == "" {
		title = fourierDefaultTitle
	}
	names := make([]string, len(r.Models))
	for i, m := range r.Models {
		names[i] = m.Name
	}
	page := Page{Title: title, Subtitle: fmt.Sprintf("%s · %s", strings.Join(names, ", "), r.Dataset)}
	page.Sections = append(page.Sections, w.summary())
	figs, err := w.figures()
	if err != nil {
		return w.files, err
	}
	page.Sections = append(page.Sections, figs...)
	data, err := w.data()
	if err != nil {
		return w.files, err
	}
	page.Sections = append(page.Sections, data, r.provenance())
	page.Footer = "Made by vitprobe (github.com/vitprobe/vitprobe) after Park & Kim, “How Do Vision Transformers Work?” (ICLR 2022)."
	if err := WritePage(filepath.Join(dir, FourierPage), page); err != nil {
		return w.files, err
	}
	return append(w.files, FourierPage), nil
}

// fourierWriter writes one Fourier report: which analyses it has, the
// files written so far.
type fourierWriter struct {
	dir                       string
	r                         FourierReport
	profiles, variance, noise bool
	files                     []string
}

// summary is the report's first section: the per-kind and noise tables.
func (w *fourierWriter) summary() Section {
	s := Section{Heading: "Summary", ID: "summary"}
	if w.profiles || w.variance {
		s.Blocks = append(s.Blocks, Block{Text: "What each kind of block does to its input, averaged over the " +
			"blocks of that kind: the change of the highest-frequency Δ log amplitude (negative: the block removes high " +
			"frequencies relative to low ones, a low-pass effect) and the factor by which it multiplies the feature-map " +
			"variance. The paper claims MSAs lower both and convolutions/MLPs raise both (docs/methods.md). Down-sampling " +
			"blocks also change the map size, so their highest point moves (π − 2π/n changes with n): the change at π/2, a " +
			"point of every map of even side from 4 up, compares a block's input and output at one frequency."})
		kt := FourierKindsTable(w.r.Models, false)
		s.Blocks = append(s.Blocks, Block{Table: &kt})
	}
	if w.noise {
		s.Blocks = append(s.Blocks, Block{Text: "Accuracy change under band noise, averaged over the low " +
			"bands (centre ≤ 0.3π) and the high bands (centre ≥ 0.7π). The paper reports ViT hurt most by low-frequency " +
			"noise and ResNet by high-frequency noise (docs/methods.md)."})
		nt := FourierNoiseSummaryTable(w.r.Models, false)
		s.Blocks = append(s.Blocks, Block{Table: &nt})
	}
	return s
}

// figure saves a figure as file and returns the section that shows it,
// its caption followed by the note of what it left out.
func (w *fourierWriter) figure(fig *Figure, err error, file, heading, id, alt, caption string) (Section, error) {
	if err != nil {
		return Section{}, err
	}
	if err := fig.Save(filepath.Join(w.dir, file)); err != nil {
		return Section{}, err
	}
	w.files = append(w.files, file)
	if fig.Skipped > 0 {
		caption += fmt.Sprintf(" %d non-finite value(s) were left out of the plot.", fig.Skipped)
	}
	return Section{Heading: heading, ID: id, Blocks: []Block{{Image: &Image{Src: file, Alt: alt, Caption: caption}}}}, nil
}

// figures saves the figures of the analyses that were run and returns
// their sections.
func (w *fourierWriter) figures() ([]Section, error) {
	var out []Section
	add := func(s Section, err error) error {
		if err == nil {
			out = append(out, s)
		}
		return err
	}
	if w.profiles {
		fig, err := DLogAmpFigure(w.r.Models)
		if err := add(w.figure(fig, err, FourierDLogAmpPNG, "Relative log amplitude (Fig. 2a)", "fig2a",
			"relative log amplitude against frequency", captionDLogAmp)); err != nil {
			return nil, err
		}
		fig, err = HighFreqFigure(w.r.Models)
		if err := add(w.figure(fig, err, FourierHighFreqPNG, "High-frequency amplitude vs depth (Fig. 8)", "fig8",
			"high-frequency relative log amplitude against depth", captionHighFreq)); err != nil {
			return nil, err
		}
	}
	if w.variance {
		logY := VarianceLogScale(w.r.Models)
		switch w.r.VarianceLog {
		case "log":
			logY = true
		case "linear":
			logY = false
		}
		scale := "linear"
		if logY {
			scale = "logarithmic (the values span more than a factor 30)"
		}
		fig, err := VarianceFigure(w.r.Models, logY)
		if err := add(w.figure(fig, err, FourierVariancePNG, "Feature-map variance vs depth (Fig. 9)", "fig9",
			"feature-map variance against depth", fmt.Sprintf(captionVariance, scale))); err != nil {
			return nil, err
		}
	}
	if w.noise {
		fig, err := NoiseFigure(w.r.Models)
		if err := add(w.figure(fig, err, FourierNoisePNG, "Robustness to frequency-band noise (Fig. 2b)", "fig2b",
			"accuracy change against noise frequency", w.r.noiseCaption())); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Captions of the Fourier figures.
const (
	captionDLogAmp = "Δ log amplitude (log |F| at frequency (k, k) of the mean log-amplitude spectrum, minus its value at " +
		"frequency 0) along the half diagonal, one curve per layer coloured by normalised depth; dashed: MSA layers, " +
		"dotted: down-sampling blocks. The x axis is the paper's normalised frequency: its last point is the highest " +
		"point on the half diagonal, which is π − 2π/n for maps of even side n (π itself only with --nyquist). " +
		"White noise reads +0.35 (½ ln 2), not 0, because frequency 0 is a real-valued bin."
	captionHighFreq = "The last point of each layer's Fig. 2a curve against the layer's normalised depth (layer index / " +
		"last spatial layer index). Grey: MSA blocks, blue: down-sampling blocks, each shaded from its input's " +
		"depth to its output's."
	captionVariance = "For every image and channel, the unbiased variance of the map over its spatial positions, averaged " +
		"over images and channels (token layers: patch tokens only). y axis %s. Shading as in Fig. 8."
)

// noiseCaption is Fig. 2b's caption, with the noise settings.
func (r FourierReport) noiseCaption() string {
	energy := "δ has standard deviation %g before filtering, so the noise energy grows with the ring's area " +
		"(the noise RMS of each band is in the table)"
	if r.EqualEnergy {
		energy = "each band's noise is scaled to a per-pixel RMS of %g (--equal-energy)"
	}
	return fmt.Sprintf("Accuracy with band-limited noise minus clean accuracy, in percentage points, against the "+
		"band's centre f: x + IFFT(FFT(δ)·M_f) on the normalised input, M_f a %s ring of width %gπ, δ Gaussian, drawn "+
		"independently for each channel and image (seed %d; the same δ of an image serves every band). "+energy+
		". Error bars: ±1 standard error of the paired per-image difference. When the bands' noise differs in "+
		"energy, the lower panel shows each band's noise RMS: on 32×32 images a band 0.1π wide holds one or two "+
		"rings of frequency bins, so neighbouring bands can differ by a factor 3 in energy (--equal-energy "+
		"removes this).", r.NoiseMetric, r.NoiseWidth, r.Seed, r.NoiseLevel)
}

// data writes the tables of every plotted number as CSV and returns the
// section that shows them, collapsed, with links to the files.
func (w *fourierWriter) data() (Section, error) {
	s := Section{Heading: "Data", ID: "data"}
	for _, tb := range []struct {
		file, caption string
		make          func([]FourierModel, bool) Table
		on            bool
	}{
		{FourierLayersCSV, "Per layer: Fig. 8 and Fig. 9", FourierLayersTable, w.profiles || w.variance},
		{FourierProfilesCSV, "Per profile point: Fig. 2a", FourierProfilesTable, w.profiles},
		{FourierNoiseCSV, "Per noise band: Fig. 2b", FourierNoiseTable, w.noise},
		{FourierKindsCSV, "Per block kind: the summary", FourierKindsTable, w.profiles || w.variance},
	} {
		if !tb.on {
			continue
		}
		if err := WriteCSV(filepath.Join(w.dir, tb.file), tb.make(w.r.Models, true)); err != nil {
			return s, err
		}
		w.files = append(w.files, tb.file)
		t := tb.make(w.r.Models, false)
		t.Caption = fmt.Sprintf("%s (%d rows; %s)", tb.caption, len(t.Rows), tb.file)
		t.Collapsed = true
		s.Blocks = append(s.Blocks, Block{Table: &t})
	}
	links := append([]Link(nil), w.r.DataLinks...)
	for _, f := range w.files {
		if strings.HasSuffix(f, ".csv") {
			links = append(links, Link{Href: f, Text: f})
		}
	}
	s.Blocks = append(s.Blocks, Block{Links: links})
	return s, nil
}

// provenance is the report's last section: the command line, the settings
// and the checkpoints with their hashes.
func (r FourierReport) provenance() Section {
	s := Section{Heading: "Provenance", ID: "provenance"}
	if r.Command != "" {
		s.Blocks = append(s.Blocks, Block{Pre: r.Command})
	}
	kv := Table{Header: []string{"item", "value"}}
	kv.Rows = append(kv.Rows, []string{"images", fmt.Sprintf("%d (%s)", r.Images, r.Dataset)}, []string{"seed", strconv.FormatUint(r.Seed, 10)})
	for _, p := range r.Provenance {
		kv.Rows = append(kv.Rows, []string{p[0], p[1]})
	}
	s.Blocks = append(s.Blocks, Block{Table: &kv})
	if len(r.Checkpoints) == 0 {
		return s
	}
	ct := Table{Caption: "Checkpoints", Header: []string{"name", "path", "model", "phase", "epoch", "weights SHA-256",
		"sidecar SHA-256", "analysis time (s)"}}
	for _, c := range r.Checkpoints {
		t := frPageNum(c.Seconds, 1)
		if c.Reused {
			t += " (reused)"
		}
		ct.Rows = append(ct.Rows, []string{c.Name, c.Path, c.Model, c.Phase, strconv.Itoa(c.Epoch), c.WeightsSHA256, c.SidecarSHA256, t})
	}
	s.Blocks = append(s.Blocks, Block{Table: &ct})
	return s
}

package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
)

// Write renders index.html, findings.md (the findings' Markdown) and then
// findings.json (the whole findings.Report, with the provenance) into
// d.Out, and returns a short tally of the headline verdicts.
func (d *Demo) Write() (string, error) {
	out := d.Out
	var buf bytes.Buffer
	if err := demoPage.Execute(&buf, d.view()); err != nil {
		return "", fmt.Errorf("report: render: %w", err)
	}
	js, err := json.MarshalIndent(struct {
		Provenance prov.Provenance `json:"provenance"`
		*findings.Report
	}{prov.New("report", []string{"report", "--out", out}, 0, 0), d.Report}, "", "  ")
	if err != nil {
		return "", err
	}
	// The page first, the findings it shows last.
	if err := atomicfile.WriteFile(filepath.Join(out, "index.html"), buf.Bytes()); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(out, "findings.md"), []byte(d.Report.Markdown())); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(out, "findings.json"), append(js, '\n')); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	tally := map[findings.Verdict]int{}
	head, _ := d.Report.Headline()
	for _, f := range head {
		if f.Primary() {
			tally[f.Verdict]++
		}
	}
	return fmt.Sprintf("%d hold, %d do not hold, %d inconclusive", tally[findings.Holds], tally[findings.DoesNotHold], tally[findings.Inconclusive]), nil
}

type runView struct {
	Model, Curves              string
	Params                     string
	Epochs                     int
	TestAcc, TestLoss, Seconds string
	ImgPerSec                  string
}

type hessianView struct {
	Label, Min, Max, WD  string
	N, Batches, Products int
}

type stageView struct {
	Name, Seconds, First string
}

type pageView struct {
	Generated string
	// Primary and Secondary are the headline findings (pooled over seeds,
	// or the only seed's); Pooled says which; PerSeed the per-seed table.
	Primary, Secondary []findings.Finding
	Pooled             bool
	PerSeed            perSeedView
	Report             *findings.Report
	Study              bool
	Seeds              []string
	Stages             []stageView
	Total              string
	FirstTotal         string // of the first run, when it is not this one
	Runs               []runView
	Hessian            []hessianView
	Pictures           map[string][]string
	Links              map[string]string
	Missing            []string
	FourierImg         int
	CKAImg             int
	LesionImg          int
	Corruption         []corruptionView
	CorruptImg         int
	Baseline           string
}

type corruptionView struct {
	Model, Clean, Mean, MCE string
}

// subStage starts the name of a stage that ran inside another one (the
// demo's trainings run in parallel inside "train"): listed, but not added
// to the total.
const subStage = "· "

// stagesTotal sums the stages that are not parts of another (subStage).
func stagesTotal(stages []Stage) float64 {
	var t float64
	for _, s := range stages {
		if !strings.HasPrefix(s.Name, subStage) {
			t += s.Seconds
		}
	}
	return t
}

func (d *Demo) view() pageView {
	v := pageView{Generated: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Report: d.Report, Study: d.Study, Seeds: d.Seeds,
		Pictures: d.Pictures, Links: d.Links, Missing: d.Missing}
	head, pooled := d.Report.Headline()
	v.Pooled = pooled
	for _, f := range head {
		if f.Primary() {
			v.Primary = append(v.Primary, f)
		} else {
			v.Secondary = append(v.Secondary, f)
		}
	}
	if pooled && len(d.Report.PerSeed) > 0 {
		v.PerSeed = perSeedTable(d.Report)
	}
	first := map[string]float64{}
	for _, s := range d.FirstStages {
		first[s.Name] = s.Seconds
	}
	for _, s := range d.Stages {
		sv := stageView{Name: s.Name, Seconds: dur(s.Seconds)}
		if f, ok := first[s.Name]; ok {
			sv.First = dur(f)
		}
		v.Stages = append(v.Stages, sv)
	}
	if len(d.Stages) > 0 {
		v.Total = dur(stagesTotal(d.Stages))
	}
	if len(d.FirstStages) > 0 && !slices.Equal(d.FirstStages, d.Stages) {
		v.FirstTotal = dur(stagesTotal(d.FirstStages))
	}
	for _, r := range d.Runs {
		last := r.Epochs[len(r.Epochs)-1]
		rv := runView{Model: r.Model, Curves: r.Curves, Params: commas(r.Params), Epochs: len(r.Epochs),
			TestAcc: fmt.Sprintf("%.2f%%", 100*last.TestAcc), TestLoss: fmt.Sprintf("%.4f", last.TestLoss),
			Seconds: dur(r.Seconds)}
		if r.Seconds > 0 {
			var n float64
			for _, e := range r.Epochs {
				n += e.ImgPerSec * e.Seconds
			}
			rv.ImgPerSec = fmt.Sprintf("%.0f", n/r.Seconds)
		}
		v.Runs = append(v.Runs, rv)
	}
	if d.Hessian != nil {
		for _, m := range d.Hessian.Models {
			v.Hessian = append(v.Hessian, hessianView{Label: m.Label, Min: fmt.Sprintf("%.4g", m.Summary.Min), Max: fmt.Sprintf("%.4g", m.Summary.Max),
				WD: fmt.Sprintf("%g", m.WeightDecay), N: m.Summary.N, Batches: len(m.Batches), Products: m.Products})
		}
	}
	if d.Fourier != nil {
		v.FourierImg = d.Fourier.Images
	}
	if d.Lesion != nil && len(d.Lesion.Models) > 0 && d.Lesion.Models[0].LesionResult != nil {
		v.LesionImg = d.Lesion.Models[0].Images
	}
	if c := d.Corruption; c != nil {
		if len(c.Models) > 0 && c.Models[0].CorruptionResult != nil {
			v.CorruptImg = c.Models[0].Images
		}
		if c.Summary != nil {
			v.Baseline = c.Summary.Baseline
			for _, m := range c.Summary.Models {
				mce := "n/a"
				if m.MCE != nil {
					mce = fmt.Sprintf("%.1f%%", 100**m.MCE)
				}
				v.Corruption = append(v.Corruption, corruptionView{Model: m.Name, Clean: fmt.Sprintf("%.2f%%", 100*(1-m.CleanError)),
					Mean: fmt.Sprintf("%.2f%%", 100*m.MeanAccuracy), MCE: mce})
			}
		}
	}
	return v
}

// perSeedView is the per-seed table: one row per primary claim, one
// column per seed.
type perSeedView struct {
	Seeds []string
	Rows  []perSeedRow
}

type perSeedRow struct {
	ID    string
	Cells []findings.Finding
}

func perSeedTable(r *findings.Report) perSeedView {
	var v perSeedView
	for _, s := range r.PerSeed {
		v.Seeds = append(v.Seeds, s.Seed)
	}
	for i, f := range r.PerSeed[0].Findings {
		if !f.Primary() {
			continue
		}
		row := perSeedRow{ID: f.ID}
		for _, s := range r.PerSeed {
			row.Cells = append(row.Cells, s.Findings[i])
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// estimate formats a finding's estimate and interval.
func estimate(f findings.Finding) string {
	if f.Estimate == nil {
		return ""
	}
	s := fmt.Sprintf("%.3g", *f.Estimate)
	if f.Lo != nil && f.Hi != nil {
		s += fmt.Sprintf(" [%.3g, %.3g]", *f.Lo, *f.Hi)
	}
	return s
}

func dur(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var demoPage = template.Must(template.New("index").Funcs(template.FuncMap{
	"verdictClass": func(v findings.Verdict) string { return strings.ReplaceAll(string(v), " ", "-") },
	"estimate":     estimate,
	"secondaryWhy": func(a string) string { return strings.TrimPrefix(a, "secondary: ") },
	"base":         filepath.Base,
	// wide: figures of several panels take the page's width.
	"wide": func(p string) bool {
		return strings.Contains(p, "side-by-side") || strings.Contains(p, "dlogamp") || strings.Contains(p, "spectrum") ||
			p == "lesion/lesion.png" || p == "corrupt/corrupt.png"
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vitprobe {{if .Study}}study{{else}}demo{{end}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ddd;padding:.4em .6em;vertical-align:top;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.holds{background:#e3f4e3;font-weight:600}.does-not-hold{background:#fbe4e0;font-weight:600}.inconclusive{background:#fff5d6;font-weight:600}
.crit{color:#555;font-size:.88em}.meas{margin:0;padding-left:1.1em;font-size:.92em}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{margin:0;flex:0 1 calc(50% - .5em);min-width:320px}
.figs figure.wide{flex-basis:100%}summary{cursor:pointer;margin:1em 0;color:#135}
.figs img{width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.missing{color:#a33}
</style></head><body>
<h1>vitprobe {{if .Study}}study{{else}}demo{{end}}</h1>
<p>{{if .Study}}The three small models trained with several seeds each{{else}}Three small models{{end}} on MNIST (padded to 32x32), analysed as Park &amp; Kim, "How Do Vision Transformers Work?" (ICLR 2022) do:
Hessian max-eigenvalue spectra, loss-landscape slices, Fourier analysis of feature maps{{if not .Study}}, and the representation probes (CKA similarity
of layers, lesion study, robustness to common corruptions){{end}}. Generated {{.Generated}}.</p>
{{if .Missing}}<p class="missing">Missing from this run: {{range $i, $m := .Missing}}{{if $i}}; {{end}}{{$m}}{{end}}.</p>{{end}}
{{if .Study}}<p>Seeds: {{range $i, $s := .Seeds}}{{if $i}}, {{end}}<a href="{{$s}}/index.html">{{$s}}</a>{{end}} (each seed's own page, where it was written).</p>{{end}}

<h2>Findings</h2>
<p>Each claim of the paper, as the paper states it, at the training phase and on the data the paper measures it on; the numbers measured, and a verdict
decided by code (package <code>findings</code>) with the criterion printed beside it. The criteria are fixed in <code>findings/criteria.json</code>
(version {{.Report.CriteriaVersion}}, SHA-256 <code>{{.Report.CriteriaSHA256}}</code>) and not tuned; small models on MNIST are not the paper's setting
(CIFAR-100, ImageNet), so a claim that does not hold here is a measurement about these models, not a refutation.
{{if not .Pooled}}<strong>One training seed:</strong> these verdicts are decided within this run; their intervals cover minibatch and image noise only,
not the variation between training runs (pooled verdicts need {{.Report.MinSeeds}} seeds: <code>make study</code>).{{end}}</p>
<table><tr><th style="width:24%">Claim</th><th>Measured</th><th style="width:11%">Verdict</th><th style="width:28%">Criterion</th></tr>
{{range .Primary}}<tr><td>{{.Claim}} <span class="crit">({{.Source}}; {{.Protocol}})</span></td><td><ul class="meas">{{range .Measured}}<li>{{.}}</li>{{end}}</ul><div class="crit">{{.Why}}</div></td>
<td class="{{verdictClass .Verdict}}">{{.Verdict}}{{with estimate .}}<div class="crit">{{.}}</div>{{end}}</td><td class="crit">{{.Criterion}}</td></tr>
{{end}}</table>
{{if .Secondary}}<h3>Secondary analyses</h3>
<p>Other phases and data than the paper's, variants added after the first results, and extensions: shown for what they say, labelled, not the verdicts above.</p>
<table><tr><th style="width:24%">Claim</th><th>Measured</th><th style="width:11%">Verdict</th><th style="width:28%">Why secondary</th></tr>
{{range .Secondary}}<tr><td>{{.Claim}} <span class="crit">({{.Source}}; {{.Protocol}})</span></td><td><ul class="meas">{{range .Measured}}<li>{{.}}</li>{{end}}</ul><div class="crit">{{.Why}}</div></td>
<td class="{{verdictClass .Verdict}}">{{.Verdict}}{{with estimate .}}<div class="crit">{{.}}</div>{{end}}</td><td class="crit">{{secondaryWhy .Analysis}}</td></tr>
{{end}}</table>{{end}}
{{with .PerSeed.Rows}}<h3>Per seed</h3><p>The primary claims decided within each seed (intervals over minibatches or images only).</p>
<table><tr><th>Claim</th>{{range $.PerSeed.Seeds}}<th>seed {{.}}</th>{{end}}</tr>
{{range .}}<tr><td>{{.ID}}</td>{{range .Cells}}<td class="{{verdictClass .Verdict}}">{{.Verdict}}<div class="crit">{{with estimate .}}{{.}}{{else}}{{.Why}}{{end}}</div></td>{{end}}</tr>
{{end}}</table>{{end}}
{{range .Report.Tables}}<h3>{{.Title}}</h3>{{with .Note}}<p class="crit">{{.}}</p>{{end}}
<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
{{end}}
{{with .Report.Inputs}}{{if .Rows}}<details><summary>{{.Title}}: {{.Note}}</summary>
<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table></details>{{end}}{{end}}
{{if not .Study}}
<h2>Training</h2>
{{if .Runs}}<table><tr><th>Model</th><th>Parameters</th><th>Epochs</th><th>Test accuracy</th><th>Test loss</th><th>Training time</th><th>Images/s</th></tr>
{{range .Runs}}<tr><td>{{.Model}}</td><td class="num">{{.Params}}</td><td class="num">{{.Epochs}}</td><td class="num">{{.TestAcc}}</td><td class="num">{{.TestLoss}}</td><td class="num">{{.Seconds}}</td><td class="num">{{.ImgPerSec}}</td></tr>
{{end}}</table>
<div class="figs">{{range .Runs}}{{if .Curves}}<figure><img src="{{.Curves}}" alt="training curves of {{.Model}}"><figcaption>{{.Model}}: training loss and accuracy within each epoch, test after each epoch</figcaption></figure>{{end}}{{end}}</div>
{{else}}<p class="missing">No training runs found.</p>{{end}}

<h2>Hessian max-eigenvalue spectra</h2>
{{if .Hessian}}<p>Top eigenvalues of the Hessian of each minibatch of NLL + (wd/2)·Σ‖w‖², pooled per model: what was computed.
NEP and APE with their intervals are in the findings' spectra table above.{{with index .Links "hessian"}} Full tables: <a href="{{.}}">{{.}}</a>.{{end}}</p>
<table><tr><th>Model</th><th>Eigenvalues</th><th>Minibatches</th><th>Smallest</th><th>Largest</th><th>wd</th><th>Hessian-vector products</th></tr>
{{range .Hessian}}<tr><td>{{.Label}}</td><td class="num">{{.N}}</td><td class="num">{{.Batches}}</td><td class="num">{{.Min}}</td><td class="num">{{.Max}}</td><td class="num">{{.WD}}</td><td class="num">{{.Products}}</td></tr>
{{end}}</table>{{end}}
<div class="figs">{{range index .Pictures "hessian"}}<figure{{if wide .}} class="wide"{{end}}><img src="{{.}}" alt="{{.}}"><figcaption>{{.}}</figcaption></figure>{{end}}</div>

<h2>Loss landscapes</h2>
<div class="figs">{{range index .Pictures "landscape"}}<figure{{if wide .}} class="wide"{{end}}><img src="{{.}}" alt="{{.}}"><figcaption>{{.}}</figcaption></figure>{{else}}<p class="missing">No landscape plots found.</p>{{end}}</div>
{{with index .Pictures "landscape-models"}}<details><summary>Each model's figures ({{len .}}): contour, heat map and surface of NLL and NLL + (wd/2)·Σ‖w‖², and the slices through the centre</summary>
<div class="figs">{{range .}}<figure><img src="{{.}}" alt="{{.}}" loading="lazy"><figcaption>{{.}}</figcaption></figure>{{end}}</div></details>{{end}}

<h2>Fourier analysis, feature-map variance, frequency-noise robustness</h2>
{{with index .Links "fourier"}}<p>The full report, with a table of every plotted number: <a href="{{.}}">{{.}}</a>{{if $.FourierImg}} ({{$.FourierImg}} test images){{end}}.</p>{{end}}
<div class="figs">{{range index .Pictures "fourier"}}<figure{{if wide .}} class="wide"{{end}}><img src="{{.}}" alt="{{.}}"><figcaption>{{.}}</figcaption></figure>{{end}}</div>

<h2>Representation similarity (CKA)</h2>
<p>Minibatch linear CKA (unbiased HSIC) between the outputs of every pair of layers, within each model and between models, on the same test
images: 1 means the two layers represent the images alike (up to rotation and scale), 0 that they are unrelated (paper Fig. 10a).
The numbers with their standard errors: <code>cka/cka.csv</code>.</p>
<div class="figs">{{range index .Pictures "cka"}}<figure><img src="{{.}}" alt="{{.}}" loading="lazy"><figcaption>{{.}}</figcaption></figure>{{else}}<p class="missing">No CKA heat maps found.</p>{{end}}</div>

<h2>Lesion study</h2>
<p>Each residual block's branch removed in turn (the block's input passes through unchanged): the loss of test accuracy and the increase of NLL
against the block's depth{{if .LesionImg}}, on {{.LesionImg}} test images{{end}} (paper Fig. 10b). Blocks whose shortcut is a projection are
skipped. Per block: <code>lesion/lesion.csv</code>.</p>
<div class="figs">{{range index .Pictures "lesion"}}<figure{{if wide .}} class="wide"{{end}}><img src="{{.}}" alt="{{.}}"><figcaption>{{.}}</figcaption></figure>{{else}}<p class="missing">No lesion figure found.</p>{{end}}</div>

<h2>Robustness to common corruptions</h2>
<p>Accuracy on test images corrupted by noise, blur, brightness, contrast, an elastic transform and pixelation, each at severities 1 to 5
{{- if .CorruptImg}}, on {{.CorruptImg}} test images{{end}} (paper Fig. 12b, after ImageNet-C). mCE: the mean over corruptions of the model's
errors summed over severities over the baseline's{{if .Baseline}} ({{.Baseline}}){{end}}; below 100%: more robust than the baseline.
Per corruption: <code>corrupt/corrupt.csv</code>, <code>corrupt/mce.csv</code>.</p>
{{if .Corruption}}<table><tr><th>Model</th><th>Clean accuracy</th><th>Mean accuracy, corrupted</th><th>mCE</th></tr>
{{range .Corruption}}<tr><td>{{.Model}}</td><td class="num">{{.Clean}}</td><td class="num">{{.Mean}}</td><td class="num">{{.MCE}}</td></tr>
{{end}}</table>{{end}}
<div class="figs">{{range index .Pictures "corrupt"}}<figure{{if wide .}} class="wide"{{end}}><img src="{{.}}" alt="{{.}}"><figcaption>{{.}}</figcaption></figure>{{else}}<p class="missing">No corruption figures found.</p>{{end}}</div>

{{end}}
<h2>Run time</h2>
{{if .Stages}}{{if .FirstTotal}}<p>The first run computed everything; later runs reuse the finished checkpoints, journals and results.</p>{{end}}
<table><tr><th>Stage</th>{{if .FirstTotal}}<th>First run</th><th>This run</th>{{else}}<th>Wall time</th>{{end}}</tr>{{range .Stages}}<tr><td>{{.Name}}</td>{{if $.FirstTotal}}<td class="num">{{.First}}</td>{{end}}<td class="num">{{.Seconds}}</td></tr>{{end}}
<tr><th>Total</th>{{if .FirstTotal}}<th class="num">{{.FirstTotal}}</th>{{end}}<th class="num">{{.Total}}</th></tr></table>{{else}}<p>No stage times recorded.</p>{{end}}
</body></html>
`))

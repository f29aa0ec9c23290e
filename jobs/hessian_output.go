package jobs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/hessian"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

// assemble checks that recs hold every piece of work hdr asks for, exactly
// once (identical duplicates, from a shard run twice, are dropped), and
// orders them.
func assemble(hdr results.HessianSettings, recs []hessianRecord) ([]results.HessianModel, error) {
	seen := map[string]hessianRecord{}
	for _, r := range recs {
		if r.Ckpt < 0 || r.Ckpt >= len(hdr.Checkpoints) {
			return nil, fmt.Errorf("journal hessianRecord of checkpoint %d: the run has %d", r.Ckpt, len(hdr.Checkpoints))
		}
		if r.Kind == kindBatch && (r.Batch == nil || r.Batch.Batch < 0 || r.Batch.Batch >= hdr.Batches) {
			return nil, fmt.Errorf("journal hessianRecord of %s: bad minibatch", hdr.Checkpoints[r.Ckpt].Label)
		}
		k := r.key()
		if old, dup := seen[k]; dup {
			a, _ := json.Marshal(old)
			b, _ := json.Marshal(r)
			if !bytes.Equal(a, b) {
				return nil, fmt.Errorf("journals disagree on %s (%s): computed twice with different results", hdr.Checkpoints[r.Ckpt].Label, k)
			}
			continue
		}
		seen[k] = r
	}
	out := make([]results.HessianModel, len(hdr.Checkpoints))
	var missing []string
	for ci, ch := range hdr.Checkpoints {
		m := &out[ci]
		m.HessianCheckpoint = ch
		var miss []int
		var all []float64
		for b := range hdr.Batches {
			r, ok := seen[batchKey(ci, b)]
			if !ok {
				miss = append(miss, b)
				continue
			}
			m.Batches = append(m.Batches, *r.Batch)
			m.Products += r.Batch.Products
			if !r.Batch.Converged {
				m.Unconverged++
			}
			all = append(all, r.Batch.Values...)
		}
		if len(miss) > 0 {
			missing = append(missing, fmt.Sprintf("%s minibatches %s", ch.Label, ranges(miss)))
		}
		for _, kind := range []string{kindTrace, kindDensity, kindFull} {
			want := (kind == kindTrace && hdr.Trace) || (kind == kindDensity && hdr.Density) || (kind == kindFull && hdr.Full)
			if !want {
				continue
			}
			r, ok := seen[hessianRecord{Kind: kind, Ckpt: ci}.key()]
			if !ok {
				missing = append(missing, ch.Label+" "+kind)
				continue
			}
			m.Trace, m.Density, m.Full = cmpOr(m.Trace, r.Trace), cmpOr(m.Density, r.Density), cmpOr(m.Full, r.Full)
		}
		if len(all) > 0 {
			s, err := hessian.Summarize(all)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ch.Label, err)
			}
			m.Summary = analysis.SummaryResult(s)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("work missing: %s (a shard not finished or its journal not merged?)", strings.Join(missing, "; "))
	}
	return out, nil
}

func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// ranges formats sorted integers as "1-3, 7".
func ranges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		} else {
			parts = append(parts, strconv.Itoa(xs[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// writeHessian writes the figures, tables and hessian.json (last, the
// file that describes the others) into dir, and returns hessian.json's
// content.
func writeHessian(dir string, hdr results.HessianSettings, recs []hessianRecord, p prov.Provenance) (*results.Hessian, error) {
	ms, err := assemble(hdr, recs)
	if err != nil {
		return nil, err
	}
	res := &results.Hessian{Provenance: p, Settings: hdr, Models: ms}
	js, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return nil, fmt.Errorf("hessian.json: %w", err)
	}
	files, err := hessianFigures(dir, hdr, ms)
	if err != nil {
		return nil, err
	}
	if err := writeEigenvalues(filepath.Join(dir, "eigenvalues.csv"), ms); err != nil {
		return nil, err
	}
	if err := writeHessianHTML(filepath.Join(dir, "summary.html"), hdr, ms, files, p); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "hessian.json"), append(js, '\n')); err != nil {
		return nil, err
	}
	return res, nil
}

// hessianFigures draws spectrum.png and, with a density, density.png, and
// returns their names.
func hessianFigures(dir string, hdr results.HessianSettings, ms []results.HessianModel) ([]string, error) {
	files := []string{"spectrum.png"}
	series := make([]reports.HessianSpectrumSeries, len(ms))
	for i, m := range ms {
		for _, b := range m.Batches {
			series[i].Values = append(series[i].Values, b.Values...)
		}
		series[i].Label = m.Label
	}
	fig, err := reports.HessianSpectrum(series, &reports.HessianSpectrumOptions{Title: "Hessian max-eigenvalue spectra", Note: protocol(hdr, ms)})
	if err != nil {
		return nil, err
	}
	if err := fig.Save(filepath.Join(dir, "spectrum.png")); err != nil {
		return nil, err
	}
	if !hdr.Density {
		return files, nil
	}
	ds := make([]reports.HessianDensitySeries, len(ms))
	for i, m := range ms {
		ds[i] = reports.HessianDensitySeries{Label: m.Label, Nodes: m.Density.Nodes, Weights: m.Density.Weights}
	}
	note := fmt.Sprintf("stochastic Lanczos quadrature, %d steps \u00d7 %d vector(s), Hessian of the mean loss over %d minibatches of %d%s",
		hdr.SLQSteps, hdr.SLQVectors, hdr.FullBatches, hdr.BatchSize, wdNote(ms))
	fig, err = reports.HessianDensity(ds, &reports.HessianDensityOptions{Note: note})
	if err != nil {
		return nil, err
	}
	if err := fig.Save(filepath.Join(dir, "density.png")); err != nil {
		return nil, err
	}
	return append(files, "density.png"), nil
}

// protocol describes the spectrum's computation in one line.
func protocol(hdr results.HessianSettings, ms []results.HessianModel) string {
	method := "power iteration (PyHessian's defaults)"
	if hdr.Method == "lanczos" {
		method = "Lanczos"
	} else if hdr.Tol != 0 || hdr.MaxIter != 0 {
		method = "power iteration"
	}
	aug := ""
	if hdr.Augment {
		aug = ", no augmentation in the training recipe"
		for _, m := range ms {
			if m.Augment != (data.Augment{}) {
				aug = ", with the training augmentation"
			}
		}
	}
	ds := ms[0].Dataset
	return fmt.Sprintf("top-%d eigenvalues of each of %d minibatches of %d (%s train%s), %s, eval mode%s",
		hdr.K, hdr.Batches, hdr.BatchSize, ds, aug, method, wdNote(ms))
}

// wdNote says which L2 term the eigenvalues include.
func wdNote(ms []results.HessianModel) string {
	wd := ms[0].WeightDecay
	for _, m := range ms {
		if m.WeightDecay != wd {
			return ", L2 term per model (see summary)"
		}
	}
	if wd == 0 {
		return ", no L2 term"
	}
	return fmt.Sprintf(", L2 term wd = %g included (+%g on every eigenvalue)", wd, wd)
}

func writeEigenvalues(path string, ms []results.HessianModel) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"label", "batch", "rank", "eigenvalue", "residual", "converged", "batch_loss"})
	for _, m := range ms {
		for _, b := range m.Batches {
			for i, v := range b.Values {
				_ = w.Write([]string{m.Label, strconv.Itoa(b.Batch), strconv.Itoa(i + 1), strconv.FormatFloat(v, 'g', -1, 64),
					strconv.FormatFloat(b.Residuals[i], 'g', -1, 64), strconv.FormatBool(b.Converged), strconv.FormatFloat(b.Loss, 'g', -1, 64)})
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

func writeHessianHTML(path string, hdr results.HessianSettings, ms []results.HessianModel, figures []string, p prov.Provenance) error {
	spec := reports.HessianTable{
		Caption: "Minibatch max-eigenvalue spectra",
		Header:  []string{"label", "model", "phase", "parameters", "wd (source)", "eigenvalues", "NEP", "APE", "min", "median", "max", "products", "unconverged"},
		Notes: []string{"NEP: share of negative eigenvalues (non-convexity). APE: mean of the positive eigenvalues (sharpness). " +
			"Eigenvalues include the L2 term wd. Unconverged: minibatches whose eigenpairs hit the iteration cap."},
	}
	for _, m := range ms {
		spec.Rows = append(spec.Rows, []string{m.Label, m.Model, m.Phase, strconv.FormatInt(m.Params, 10),
			fmt.Sprintf("%g (%s)", m.WeightDecay, m.WeightDecaySource), strconv.Itoa(m.Summary.N),
			fmt.Sprintf("%.1f%%", 100*m.Summary.NEP), FormatValue(m.Summary.APE), FormatValue(m.Summary.Min),
			FormatValue(m.Summary.Median), FormatValue(m.Summary.Max), strconv.Itoa(m.Products), strconv.Itoa(m.Unconverged)})
	}
	tables := []reports.HessianTable{spec}
	if hdr.Trace || hdr.Full {
		t := reports.HessianTable{Caption: fmt.Sprintf("Hessian of the mean loss over %d minibatches of %d", hdr.FullBatches, hdr.BatchSize),
			Header: []string{"label"}}
		if hdr.Trace {
			t.Header = append(t.Header, "trace", "std. error", "NLL part", "L2 part (wd\u00b7n)", "samples")
		}
		if hdr.Full {
			t.Header = append(t.Header, fmt.Sprintf("top-%d eigenvalues", hdr.K), "converged")
		}
		t.Header = append(t.Header, "products")
		for _, m := range ms {
			row := []string{m.Label}
			products := 0
			if hdr.Trace {
				row = append(row, FormatValue(m.Trace.Mean), FormatValue(m.Trace.StdErr), FormatValue(m.Trace.NLL), FormatValue(m.Trace.L2), strconv.Itoa(m.Trace.Samples))
				products += m.Trace.Products
			}
			if hdr.Full {
				vs := make([]string, len(m.Full.Values))
				for i, v := range m.Full.Values {
					vs[i] = FormatValue(v)
				}
				row = append(row, strings.Join(vs, ", "), strconv.FormatBool(m.Full.Converged))
				products += m.Full.Products
			}
			row = append(row, strconv.Itoa(products))
			t.Rows = append(t.Rows, row)
		}
		t.Notes = []string{"Products of this Hessian cost one Hessian-vector product per minibatch each. " +
			"Trace: Hutchinson with Rademacher vectors on the NLL Hessian (PyHessian's stopping rule), plus wd\u00b7n for the L2 term, exactly; " +
			"the standard error is the spread of the samples."}
		tables = append(tables, t)
	}
	var figs []reports.HessianFigure
	for _, f := range figures {
		caption := "Max-eigenvalue spectra: kernel density of the pooled top eigenvalues of every minibatch, one curve per checkpoint, " +
			"each eigenvalue marked under the curves."
		if f == "density.png" {
			caption = "Eigenvalue density of the Hessian over the minibatches, by stochastic Lanczos quadrature."
		}
		figs = append(figs, reports.HessianFigure{Src: f, Caption: caption})
	}
	pj, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return reports.HessianSummaryHTML(path, reports.HessianPage{
		Title: "Hessian spectra", Intro: protocol(hdr, ms) + ".", Tables: tables, Figures: figs,
		Links: []string{"hessian.json", "eigenvalues.csv"}, Provenance: string(pj)})
}

// FormatValue formats an eigenvalue or a summary of eigenvalues for
// tables and logs: 4 significant digits, exponent form beyond 1e5 and
// below 1e-3.
func FormatValue(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e5 || a < 1e-3:
		return strconv.FormatFloat(v, 'e', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

package jobs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/reports"
	"github.com/vitprobe/vitprobe/results"
)

// assembleBlocks checks that recs hold every (block, minibatch) hdr asks
// for, exactly once (identical duplicates, from a shard run twice, are
// dropped), and summarises them per block and per block kind.
func assembleBlocks(hdr results.BlocksSettings, recs []blocksRecord) ([]results.BlocksModel, error) {
	seen := map[string]blocksRecord{}
	for _, r := range recs {
		if r.Ckpt < 0 || r.Ckpt >= len(hdr.Checkpoints) {
			return nil, fmt.Errorf("journal record of checkpoint %d: the run has %d", r.Ckpt, len(hdr.Checkpoints))
		}
		k := r.key()
		if old, dup := seen[k]; dup {
			a, _ := json.Marshal(old)
			b, _ := json.Marshal(r)
			if !bytes.Equal(a, b) {
				return nil, fmt.Errorf("journals disagree on %s block %s minibatch %d: computed twice with different results",
					hdr.Checkpoints[r.Ckpt].Label, r.Block, r.Batch.Batch)
			}
			continue
		}
		seen[k] = r
	}
	out := make([]results.BlocksModel, len(hdr.Checkpoints))
	var missing []string
	for ci, ck := range hdr.Checkpoints {
		m := &out[ci]
		m.HessianCheckpoint = ck.HessianCheckpoint
		var spectra []analysis.BlockSpectrum
		for _, info := range ck.Blocks {
			g, err := analysis.GroupOf(info)
			if err != nil {
				return nil, err
			}
			s := analysis.BlockSpectrum{Group: g}
			var miss []int
			for b := range hdr.Batches {
				r, ok := seen[blockKey(ci, info.Name, b)]
				if !ok {
					miss = append(miss, b)
					continue
				}
				s.Batches = append(s.Batches, analysis.BlockBatchOf(r.Batch))
			}
			if len(miss) > 0 {
				missing = append(missing, fmt.Sprintf("%s %s minibatches %s", ck.Label, info.Name, ranges(miss)))
				continue
			}
			spectra = append(spectra, s)
		}
		if len(missing) > 0 {
			continue
		}
		for _, s := range spectra {
			r, err := s.Result()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ck.Label, err)
			}
			m.Blocks = append(m.Blocks, r)
			m.Products += r.Products
		}
		var err error
		if m.Kinds, err = analysis.KindResults(spectra); err != nil {
			return nil, fmt.Errorf("%s: %w", ck.Label, err)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 6 {
			missing = append(missing[:6], fmt.Sprintf("and %d blocks more", len(missing)-6))
		}
		return nil, fmt.Errorf("work missing: %s (a shard not finished or its journal not merged?)", strings.Join(missing, "; "))
	}
	return out, nil
}

// writeBlocks writes blocks.png, blocks.csv and blocks.json (last, the
// file that describes the others) into dir, and returns blocks.json's
// content.
func writeBlocks(dir string, hdr results.BlocksSettings, recs []blocksRecord, p prov.Provenance) (*results.Blocks, error) {
	ms, err := assembleBlocks(hdr, recs)
	if err != nil {
		return nil, err
	}
	res := &results.Blocks{Provenance: p, Settings: hdr, Models: ms}
	js, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return nil, fmt.Errorf("blocks.json: %w", err)
	}
	fig, err := BlocksFigure(res)
	if err != nil {
		return nil, err
	}
	if err := fig.Save(filepath.Join(dir, "blocks.png")); err != nil {
		return nil, err
	}
	if err := writeBlocksCSV(filepath.Join(dir, "blocks.csv"), ms); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "blocks.json"), append(js, '\n')); err != nil {
		return nil, err
	}
	return res, nil
}

// BlocksFigure draws the per-block figure of blocks.json's content
// (reports.BlockCurvatureFigure): one row per model, each block's top
// eigenvalues and mean eigenvalue against normalised depth, MSA blocks
// shaded.
func BlocksFigure(res *results.Blocks) (*reports.Figure, error) {
	h := res.Settings
	fms := make([]reports.BlockCurvatureModel, len(res.Models))
	for i, m := range res.Models {
		fms[i] = reports.BlockCurvatureModelOf(m.Label, m.Blocks)
	}
	matrix := map[string]string{"hessian": "Hessian", "ggn": "GGN", "fisher": "Fisher"}[h.Curvature]
	trace := ""
	if h.TraceProducts > 0 {
		trace = fmt.Sprintf(" and Hutch++ trace (%d products)", h.TraceProducts)
	}
	ds := ""
	if len(res.Models) > 0 {
		ds = " " + res.Models[0].Dataset
	}
	note := fmt.Sprintf("%s of each block's parameters alone (the others fixed), %d minibatches of %d%s training images, eval mode%s; "+
		"top %d by magnitude (Lanczos, 1e-4)%s per block and minibatch", matrix, h.Batches, h.BatchSize, ds, blocksWDNote(res.Models), h.K, trace)
	return reports.BlockCurvatureFigure(fms, &reports.BlockCurvatureOptions{Note: note, Matrix: matrix})
}

// blocksWDNote says which L2 term the eigenvalues include.
func blocksWDNote(ms []results.BlocksModel) string {
	if len(ms) == 0 {
		return ""
	}
	wd := ms[0].WeightDecay
	for _, m := range ms {
		if m.WeightDecay != wd {
			return ", L2 term per model (see blocks.json)"
		}
	}
	if wd == 0 {
		return ", no L2 term"
	}
	return fmt.Sprintf(", L2 term wd = %g included", wd)
}

// writeBlocksCSV writes one row per model, block, minibatch and
// eigenvalue rank.
func writeBlocksCSV(path string, ms []results.BlocksModel) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"label", "block", "kind", "depth", "size", "batch", "rank", "value", "residual", "converged"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, m := range ms {
		for _, b := range m.Blocks {
			for _, bb := range b.Batches {
				for i, v := range bb.Values {
					_ = w.Write([]string{m.Label, b.Name, b.Kind, f(b.Depth), strconv.Itoa(b.Size), strconv.Itoa(bb.Batch),
						strconv.Itoa(i + 1), f(v), f(bb.Residuals[i]), strconv.FormatBool(bb.Converged)})
				}
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

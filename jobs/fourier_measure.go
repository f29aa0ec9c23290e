package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/vitprobe/vitprobe/analysis"
	"github.com/vitprobe/vitprobe/internal/progress"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// checkpoint measures what r's journal lacks: its description, its
// features, its noise robustness, each journaled as it finishes.
func (m *fourierMeasure) checkpoint(ctx context.Context, r meta.Resolved) error {
	w, recs, err := m.open(r)
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	have := map[string]bool{}
	for _, rec := range recs {
		have[rec.Kind] = true
	}
	sidecarSHA, err := prov.HashFile(r.Sidecar)
	if err != nil {
		return err
	}
	fd := m.data[r.Label]
	entry := &results.FourierEntry{Key: m.opt.key(r, fd.dataset), Name: r.Label, Checkpoint: r.Sidecar, Model: r.Spec,
		Phase: r.Phase, Epoch: r.Epoch, Weights: r.WeightsSHA256, Sidecar: sidecarSHA}
	if last := lastEntry(recs); last == nil || *last != *entry {
		if err := w.Append(fourierRecord{Kind: kindCheckpoint, Entry: entry}); err != nil {
			return err
		}
	}
	todoFeatures := (!m.opt.NoFourier || !m.opt.NoVariance) && !have[kindFeatures]
	todoNoise := !m.opt.NoNoise && !have[kindNoise]
	if !todoFeatures && !todoNoise {
		fmt.Fprintf(m.j.log(), "%s: reusing %s (same weights and settings)\n", r.Label, w.Path())
		return nil
	}
	if m.j.computed == nil {
		m.j.computed = map[string]bool{}
	}
	m.j.computed[r.Label] = true
	model, _, err := models.Load(r.Sidecar, m.j.Device)
	if err != nil {
		return err
	}
	defer model.Close()
	batches := (len(fd.idx) + m.opt.Batch - 1) / m.opt.Batch
	if todoFeatures {
		t0 := time.Now()
		bar := progress.New(m.j.log(), r.Label+" features", "batches", batches, 0)
		f, err := analysis.MeasureFeatures(ctx, model, fd.ds, fd.idx, analysis.FeatureOptions{Batch: m.opt.Batch, Nyquist: m.opt.Nyquist,
			SkipFourier: m.opt.NoFourier, SkipVariance: m.opt.NoVariance, PerImage: m.opt.PerImage, Progress: func(int, int) { bar.Add(1, "") }})
		bar.Finish("")
		if err != nil {
			return err
		}
		rec := fourierRecord{Kind: kindFeatures, Fourier: f.Fourier, Variance: f.Variance, Seconds: time.Since(t0).Seconds()}
		if err := w.Append(rec); err != nil {
			return err
		}
	}
	if todoNoise {
		t0 := time.Now()
		bar := progress.New(m.j.log(), r.Label+" noise", "passes", batches*(1+len(m.opt.Noise.Bands)), 0)
		opt := m.opt.Noise
		opt.Batch, opt.PerImage, opt.Progress = m.opt.Batch, m.opt.PerImage, func(int, int) { bar.Add(1, "") }
		nr, err := analysis.NoiseRobustness(ctx, model, fd.ds, fd.idx, opt)
		bar.Finish("")
		if err != nil {
			return err
		}
		if err := w.Append(fourierRecord{Kind: kindNoise, Noise: nr, Seconds: time.Since(t0).Seconds()}); err != nil {
			return err
		}
	}
	return nil
}

// lastEntry returns the latest checkpoint description of recs, nil for
// none.
func lastEntry(recs []fourierRecord) *results.FourierEntry {
	var e *results.FourierEntry
	for _, r := range recs {
		if r.Kind == kindCheckpoint && r.Entry != nil {
			e = r.Entry
		}
	}
	return e
}

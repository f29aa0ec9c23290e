package train

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/vitprobe/vitprobe/internal/atomicfile"
)

// writeMetrics writes metrics.csv, trace.csv (the within-epoch training
// loss and accuracy) and metrics.json into dir, atomically.
func writeMetrics(dir string, ms []EpochMetrics) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"epoch", "step", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "img_per_s", "rss_mib"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, m := range ms {
		_ = w.Write([]string{strconv.Itoa(m.Epoch), strconv.FormatInt(m.Step, 10), f(m.LR), f(m.TrainLoss), f(m.TrainAcc),
			f(m.TestLoss), f(m.TestAcc), f(m.Seconds), f(m.ImgPerSec), f(m.RSSMiB)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "metrics.csv"), buf.Bytes()); err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	buf.Reset()
	w = csv.NewWriter(&buf)
	_ = w.Write([]string{"epoch", "step", "lr", "train_loss", "train_acc"})
	for _, m := range ms {
		for _, t := range m.Trace {
			_ = w.Write([]string{f(t.Epoch), strconv.FormatInt(t.Step, 10), f(t.LR), f(t.Loss), f(t.Acc)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("train: trace: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "trace.csv"), buf.Bytes()); err != nil {
		return fmt.Errorf("train: trace: %w", err)
	}
	// metrics.json: one flat object per epoch (the trace is in trace.csv).
	flat := make([]EpochMetrics, len(ms))
	for i, m := range ms {
		m.Trace = nil
		flat[i] = m
	}
	js, err := json.MarshalIndent(flat, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "metrics.json"), append(js, '\n')); err != nil {
		return fmt.Errorf("train: metrics: %w", err)
	}
	return nil
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSummary: the summary of a small synthetic run (testdata) holds the
// medians, ratios and separators the Python summary it replaces printed
// for the same files (checked line for line when it was ported).
func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := summarize(&b, "testdata"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| resnet-mini | 102 | 61 | 2 | 1,260.9 | 2,090.5 | 1.66 | 2 |", // medians of 2 runs, thousands separators
		"| vit-mini | 200 | 150 | 2 | 640.0 | 850.0 | 1.33 | 1 |",
		"1-min load average 1.50..2.25 over 1 command(s)",
		"| vit-mini | 13.0 | 25.0 | 76.92 | 40.00 | 1.91 | 6.5 | 10.5 | 3.5 | 4.5 | 2 |", // PyTorch runs paired by repeat
		"| vit-mini | 0.900 | 0.512 | 0.400 | 1.28 | 4.10 | 3.90 | 5.00 | 1.2 | 2.0 | 1 |",
		"| BenchmarkFFT2/32 | 0.012 | 81.2 MB/s |",
		"| 1 | 512 | 1,200.2 | 0.9877 |",
		// targets: ratios within pairs (150/100, 144/120), medians; the
		// share is of the larger peak at 2 threads (conv 117)
		"| resnet-mini | training step (ms), batch 128 | 110.0 | 147.0 | 1.35 | ≥ 1.3 | yes | 11.7 | 10% | 2 |",
		"| resnet-mini | training step, CPU time of all threads (cpu-ms) | 160.0 | 205.0 | 1.28 |  |  |  |  | 2 |",
		// the split step: a row for vit-mini only (resnet-mini has no such benchmark)
		"| vit-mini | training step (ms), the batch split over one worker per thread (1 thread each) | 25.0 | 50.0 | 2.00 | ≥ 1.3 | yes |",
		"| vit-mini | HVP, batch 16 (ms) vs PyTorch's double backward | 13.0 | 25.0 | 1.91 | ≥ 1.3 | yes |  |  | 2 |",
		"| vit-mini | HVP vs Go's forward+backward (ms) | 13.0 | 6.5 | 1.92 | ≤ 3 | yes |  |  | 1 |",
		// products/s of the workers against 1000/ms of PyTorch: 150/50, 120/33.3
		"| vit-mini | HVP products/s, the hessian command's workers (one per thread, 1 thread each) vs PyTorch's double backward | 135.0 | 41.7 | 3.30 | ≥ 1.3 | yes |  |  | 2 |",
		"| vit-mini | landscape points/s, 2 workers x 1 thread vs PyTorch's reload loop | 0.900 | 0.400 | 2.25 | ≥ 1.5 | yes |  |  | 1 |",
		"sgemm 1024 90.0 GFLOP/s, 3x3 convolution 64 channels 117.0 GFLOP/s on 2 thread(s)", // best of the runs
		"| sgemm1024/threads=2 | 90.0 | 71.0 | 40.5 | 2 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| resnet-mini | training step (ms), the batch split") {
		t.Error("a split training-step row for a preset without the benchmark")
	}
	if strings.Contains(out, "OpenBLAS kernels") {
		t.Error("a section without raw files was printed")
	}
}

func TestNum(t *testing.T) {
	for _, c := range []struct {
		x    float64
		d    int
		want string
	}{{1234567.891, 1, "1,234,567.9"}, {-1234.5, 0, "-1,234"}, {999.95, 1, "1,000.0"}, {0.5, 3, "0.500"}} {
		if got := num(c.x, c.d); got != c.want {
			t.Errorf("num(%v, %d) = %q, want %q", c.x, c.d, got, c.want)
		}
	}
}

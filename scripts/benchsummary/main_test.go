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
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
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

package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	b := New(&buf, "grid", "points", 10, 2)
	b.now = func() time.Time { return clock }
	b.start, b.last = clock, clock
	clock = clock.Add(4 * time.Second)
	b.Add(4, "loss 0.1") // within 10 s of the last line: not printed
	clock = clock.Add(20 * time.Second)
	b.Add(2, "")
	b.Finish("done")
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (start, update after 10 s, finish):\n%s", len(lines), out)
	}
	// 6 new points in 24 s: 0.25 points/s; 2 left: ETA 8 s.
	if !strings.Contains(lines[1], "8/10 points, 0.25 points/s") || !strings.Contains(lines[1], "ETA 8s") ||
		!strings.Contains(lines[1], "loss 0.1") {
		t.Errorf("update line %q", lines[1])
	}
	if !strings.Contains(lines[2], "done") || strings.Contains(out, "\r") {
		t.Errorf("final line %q / carriage returns in a non-terminal output", lines[2])
	}
}

func TestNilBar(t *testing.T) {
	var b *Bar
	b.Add(1, "x")
	b.Finish("")
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Second: "3s", 75 * time.Second: "1m15s", 3700 * time.Second: "1h01m40s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %s, want %s", d, got, want)
		}
	}
}

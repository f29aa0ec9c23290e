package torchx

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSummarizeNesting checks self and total times, CPU times, calls and
// the time outside operators on hand-worked events: on thread 1, a (0-10)
// calls b (1-4) which calls a again (2-3), then c (5-9); a lone d (12-14);
// on thread 2, e (8-13) overlaps thread 1's calls. Wall 20 µs. The CPU
// clock runs twice as fast as the wall clock on thread 1 up to d, which
// runs on one core, as does e.
func TestSummarizeNesting(t *testing.T) {
	ev, err := parseProfile(strings.NewReader("1\t0\t10\t0\t20\ta\n1\t1\t4\t2\t8\tb\n1\t2\t3\t4\t6\ta\n" +
		"1\t5\t9\t10\t18\tc\n1\t12\t14\t30\t32\td\n2\t8\t13\t50\t55\te\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := summarize(ev, 20*time.Microsecond)
	p.setCPU(40 * time.Microsecond)
	us := func(v float64) time.Duration { return time.Duration(v * 1e3) }
	want := map[string]OpTime{
		// a: self 10-3-4 = 3 plus the inner a's 1; total 10 (the inner call
		// is inside the outer one); CPU 20-6-8 = 6 plus the inner a's 2.
		"a": {Calls: 2, Self: us(4), Total: us(10), SelfCPU: us(8)},
		"b": {Calls: 1, Self: us(2), Total: us(3), SelfCPU: us(4)},
		"c": {Calls: 1, Self: us(4), Total: us(4), SelfCPU: us(8)},
		"e": {Calls: 1, Self: us(5), Total: us(5), SelfCPU: us(5)},
		"d": {Calls: 1, Self: us(2), Total: us(2), SelfCPU: us(2)},
	}
	if len(p.Ops) != len(want) {
		t.Fatalf("%d operators, want %d: %+v", len(p.Ops), len(want), p.Ops)
	}
	for _, o := range p.Ops {
		w := want[o.Name]
		if o.Calls != w.Calls || o.Self != w.Self || o.Total != w.Total || o.SelfCPU != w.SelfCPU {
			t.Errorf("%s: %d calls, self %v, total %v, CPU %v; want %d, %v, %v, %v", o.Name, o.Calls, o.Self, o.Total, o.SelfCPU,
				w.Calls, w.Self, w.Total, w.SelfCPU)
		}
	}
	// CPU inside the outermost calls: a 20, d 2, e 5.
	if p.CPU != us(40) || p.OutsideCPU != us(13) {
		t.Errorf("CPU %v, outside %v; want 40µs, 13µs", p.CPU, p.OutsideCPU)
	}
	// Sorted by self time, ties by name: e 5, a 4, c 4, b 2, d 2.
	var order []string
	for _, o := range p.Ops {
		order = append(order, o.Name)
	}
	if got := strings.Join(order, " "); got != "e a c b d" {
		t.Errorf("order %s, want e a c b d", got)
	}
	// Covered: 0-13 (a and e overlap) and 12-14: 0-14, so 6 µs outside.
	if p.Outside != us(6) {
		t.Errorf("outside %v, want 6µs", p.Outside)
	}
	var b bytes.Buffer
	if err := p.WriteTable(&b, 2, 2); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| e | 0.00 | 25.0% | 0.00 | 1.00 | 0.5 | 0.00 |", "| a | 0.00 | 20.0% | 0.00 | 2.00 | 1.0 |",
		"| 3 other operators | 0.00 | 40.0% | 0.01 | 1.75 | 1.5 | |", "| outside operators (Go, cgo, waiting) | 0.00 | 30.0% | 0.01 | 2.17 |",
		"| wall | 0.01 | 100% | 0.02 | 2.00 | | |"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	if err := p.WriteTable(&b, 2, 0); err == nil {
		t.Error("WriteTable with 0 calls: no error")
	}
}

// TestParseProfileBad: a malformed line is an error naming the line.
func TestParseProfileBad(t *testing.T) {
	for _, in := range []string{"1\t0\t1\t0\t1\n", "x\t0\t1\t0\t1\ta\n", "1\t0\tnan?\t0\t1\ta\n", "1\t0\t1\t0\t?\ta\n", "1\t0\t1\ta\n"} {
		if _, err := parseProfile(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", in, err)
		}
	}
}

package torchx

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSummarizeNesting checks self and total times, calls and the time
// outside operators on hand-worked events: on thread 1, a (0-10) calls b
// (1-4) which calls a again (2-3), then c (5-9); a lone d (12-14); on
// thread 2, e (8-13) overlaps thread 1's calls. Wall 20 µs.
func TestSummarizeNesting(t *testing.T) {
	ev, err := parseProfile(strings.NewReader("1\t0\t10\ta\n1\t1\t4\tb\n1\t2\t3\ta\n1\t5\t9\tc\n1\t12\t14\td\n2\t8\t13\te\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := summarize(ev, 20*time.Microsecond)
	us := func(v float64) time.Duration { return time.Duration(v * 1e3) }
	want := map[string]OpTime{
		// a: self 10-3-4 = 3 plus the inner a's 1; total 10 (the inner call
		// is inside the outer one).
		"a": {Calls: 2, Self: us(4), Total: us(10)},
		"b": {Calls: 1, Self: us(2), Total: us(3)},
		"c": {Calls: 1, Self: us(4), Total: us(4)},
		"e": {Calls: 1, Self: us(5), Total: us(5)},
		"d": {Calls: 1, Self: us(2), Total: us(2)},
	}
	if len(p.Ops) != len(want) {
		t.Fatalf("%d operators, want %d: %+v", len(p.Ops), len(want), p.Ops)
	}
	for _, o := range p.Ops {
		w := want[o.Name]
		if o.Calls != w.Calls || o.Self != w.Self || o.Total != w.Total {
			t.Errorf("%s: %d calls, self %v, total %v; want %d, %v, %v", o.Name, o.Calls, o.Self, o.Total, w.Calls, w.Self, w.Total)
		}
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
	for _, s := range []string{"| e | 0.00 | 25.0% | 0.5 | 0.00 |", "| 3 other operators |", "| outside operators (Go, cgo, waiting) | 0.00 | 30.0% |"} {
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
	for _, in := range []string{"1\t0\t1\n", "x\t0\t1\ta\n", "1\t0\tnan?\ta\n"} {
		if _, err := parseProfile(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", in, err)
		}
	}
}

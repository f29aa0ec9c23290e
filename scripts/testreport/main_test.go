package main

import (
	"bytes"
	"strings"
	"testing"
)

// A log as `go test -json` writes it (Go 1.26): a passing package with a
// skipped test, a failing package, a build failure.
const sample = `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestOK"}
{"Action":"output","Package":"a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"a","Test":"TestOK","Output":"    a_test.go:3: noise\n"}
{"Action":"pass","Package":"a","Test":"TestOK"}
{"Action":"run","Package":"a","Test":"TestPy"}
{"Action":"output","Package":"a","Test":"TestPy","Output":"=== RUN   TestPy\n"}
{"Action":"output","Package":"a","Test":"TestPy","Output":"    a_test.go:9: missing dependency: no torch\n"}
{"Action":"output","Package":"a","Test":"TestPy","Output":"--- SKIP: TestPy (0.00s)\n"}
{"Action":"skip","Package":"a","Test":"TestPy"}
{"Action":"output","Package":"a","Output":"PASS\n"}
{"Action":"output","Package":"a","Output":"ok  \ta\t0.01s\n"}
{"Action":"pass","Package":"a"}
{"Action":"start","Package":"b"}
{"Action":"run","Package":"b","Test":"TestBad"}
{"Action":"output","Package":"b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"b","Test":"TestBad","Output":"    b_test.go:5: got 1, want 2\n"}
{"Action":"output","Package":"b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"b","Test":"TestBad"}
{"Action":"output","Package":"b","Output":"FAIL\tb\t0.01s\n"}
{"Action":"fail","Package":"b"}
`

func TestReport(t *testing.T) {
	var out bytes.Buffer
	res, err := report(strings.NewReader(sample), &out)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !res.failed {
		t.Error("a failing test: want failed")
	}
	for _, want := range []string{"ok  \ta\t0.01s", "b_test.go:5: got 1, want 2", "--- FAIL: TestBad", "FAIL\tb",
		"skipped tests: 1", "SKIP a TestPy: a_test.go:9: missing dependency: no torch"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	for _, not := range []string{"noise", "=== RUN", "PASS\n"} {
		if strings.Contains(s, not) {
			t.Errorf("report shows %q:\n%s", not, s)
		}
	}
}

func TestReportPassing(t *testing.T) {
	var out bytes.Buffer
	in := `{"Action":"start","Package":"a"}
{"Action":"output","Package":"a","Output":"ok  \ta\t0.01s\n"}
{"Action":"pass","Package":"a"}
`
	res, err := report(strings.NewReader(in), &out)
	if err != nil || res.failed || !strings.Contains(out.String(), "skipped tests: none") {
		t.Errorf("passing log: failed=%v err=%v\n%s", res.failed, err, out.String())
	}
}

// TestReportIncomplete: a log cut short (go test killed) is a failure.
func TestReportIncomplete(t *testing.T) {
	var out bytes.Buffer
	in := `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestSlow"}
`
	res, _ := report(strings.NewReader(in), &out)
	if !res.failed || !strings.Contains(out.String(), "never reported") {
		t.Errorf("incomplete log: failed=%v\n%s", res.failed, out.String())
	}
}

func TestReportBuildFailure(t *testing.T) {
	var out bytes.Buffer
	in := `{"ImportPath":"c","Action":"build-output","Output":"c/x.go:1:1: syntax error\n"}
{"ImportPath":"c","Action":"build-fail"}
{"Action":"start","Package":"c"}
{"Action":"output","Package":"c","Output":"FAIL\tc [build failed]\n"}
{"Action":"fail","Package":"c"}
`
	res, _ := report(strings.NewReader(in), &out)
	if !res.failed || !strings.Contains(out.String(), "syntax error") || !strings.Contains(out.String(), "[build failed]") {
		t.Errorf("build failure: failed=%v\n%s", res.failed, out.String())
	}
}

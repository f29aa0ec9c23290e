package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// event is one record of `go test -json` (cmd/test2json), with the build
// events of Go 1.24 and later.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// parser keeps each running test's output until the test ends: a failing
// test's output is printed, a skipped test's last line is its reason, a
// passing test's output is dropped.
type parser struct {
	out     map[[2]string][]string // (package, test) -> output lines
	started map[string]bool        // packages that have started
	ended   map[string]bool        // packages that have reported a result
	skips   []skip
	failed  bool
}

func newParser() *parser {
	return &parser{out: map[[2]string][]string{}, started: map[string]bool{}, ended: map[string]bool{}}
}

// line handles one line of input: a JSON event, or text that is not JSON
// (go's own messages), which is printed as it is.
func (p *parser) line(b []byte, w io.Writer) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil {
		fmt.Fprint(w, string(b)+"\n")
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(w, e.Output)
		return
	case "build-fail":
		p.failed = true
		return
	case "start":
		p.started[e.Package] = true
		return
	}
	key := [2]string{e.Package, e.Test}
	switch e.Action {
	case "output":
		if e.Test == "" {
			if o := e.Output; o != "PASS\n" && !strings.HasPrefix(o, "=== ") {
				fmt.Fprint(w, o)
			}
			return
		}
		p.out[key] = append(p.out[key], e.Output)
	case "fail":
		p.failed = true
		if e.Test == "" {
			p.ended[e.Package] = true
			return
		}
		for _, o := range p.out[key] {
			if !strings.HasPrefix(o, "=== ") {
				fmt.Fprint(w, o)
			}
		}
		delete(p.out, key)
	case "skip":
		if e.Test == "" {
			p.ended[e.Package] = true
			return
		}
		p.skips = append(p.skips, skip{pkg: e.Package, test: e.Test, reason: reason(p.out[key])})
		delete(p.out, key)
	case "pass":
		if e.Test == "" {
			p.ended[e.Package] = true
			return
		}
		delete(p.out, key)
	}
}

// unfinished counts the packages that started and never reported.
func (p *parser) unfinished() int {
	n := 0
	for pkg := range p.started {
		if !p.ended[pkg] {
			n++
		}
	}
	return n
}

// reason is the last line a skipped test printed before its "--- SKIP"
// line: the message of t.Skip, with its file:line prefix.
func reason(lines []string) string {
	r := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		r = t
	}
	if r == "" {
		return "(no reason given)"
	}
	return r
}

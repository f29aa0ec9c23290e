// Command testreport prints `go test -json` output the way `go test`
// prints it (package results, the output of failing tests, build errors)
// and ends with one line per skipped test and its reason, so that a person
// reading the log of `make test` sees what did not run.
//
// Usage:
//
//	go test -json ./... | go run ./scripts/testreport
//
// Its exit status is 1 when a test, a package or a build failed, or when
// the input ends before every package has reported, and 0 otherwise.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	res, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if res.failed {
		os.Exit(1)
	}
}

// result is what report found.
type result struct {
	failed bool
	skips  []skip
}

// skip is a skipped test and the last line it printed.
type skip struct{ pkg, test, reason string }

func report(r io.Reader, w io.Writer) (result, error) {
	var res result
	p := newParser()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		p.line(sc.Bytes(), bw)
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("reading the test log: %w", err)
	}
	res.failed = p.failed || p.unfinished() > 0
	res.skips = p.skips
	if n := p.unfinished(); n > 0 {
		fmt.Fprintf(bw, "testreport: %d package(s) never reported a result\n", n)
	}
	writeSkips(bw, p.skips)
	return res, bw.Flush()
}

func writeSkips(w io.Writer, skips []skip) {
	if len(skips) == 0 {
		fmt.Fprintln(w, "skipped tests: none")
		return
	}
	fmt.Fprintf(w, "skipped tests: %d\n", len(skips))
	for _, s := range skips {
		fmt.Fprintf(w, "  SKIP %s %s: %s\n", s.pkg, s.test, s.reason)
	}
}

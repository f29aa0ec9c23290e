// Command benchsummary writes the Markdown summary of a scripts/bench.sh
// run: the machine, then one table per section whose raw outputs are in
// OUT/raw (Go benchmark lines, PyTorch JSON and text), medians over the
// repeats, and the load averages the runs saw.
//
//	go run ./scripts/benchsummary OUT > OUT/summary.md
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchsummary OUT")
		os.Exit(2)
	}
	if err := summarize(os.Stdout, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	}
}

// summarize writes the summary of the bench run in out.
func summarize(w io.Writer, out string) error {
	machine, err := os.ReadFile(filepath.Join(out, "machine.txt"))
	if err != nil {
		return err
	}
	s := &summary{w: bufio.NewWriter(w), raw: filepath.Join(out, "raw")}
	s.printf("# vitprobe bench summary\n\n```\n%s\n```\n\n", strings.TrimRight(string(machine), "\n"))
	s.printf("Medians over repeats; the raw outputs (with the commands and load averages) are in raw/.\n\n")
	s.targets()
	s.peakTable()
	s.trainStep()
	s.blas()
	s.fwdbwd()
	s.hvp()
	s.landscape()
	s.lanczos()
	s.simple()
	s.rss()
	load, _ := os.ReadFile("/proc/loadavg")
	s.printf("Load average at the end: %s\n", strings.TrimSpace(string(load)))
	return s.w.Flush()
}

// summary writes the sections of a summary.
type summary struct {
	w   *bufio.Writer
	raw string
}

func (s *summary) printf(format string, args ...any) { fmt.Fprintf(s.w, format, args...) }

// lines returns the lines of raw/NAME.txt, nil when it is missing.
func (s *summary) lines(name string) []string {
	b, err := os.ReadFile(filepath.Join(s.raw, name+".txt"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// results maps a benchmark's name to its values by unit, one per run.
type results map[string]map[string][]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// goResults parses the Go benchmark lines of raw/NAME.txt.
func (s *summary) goResults(name string) results {
	res := results{}
	for _, l := range s.lines(name) {
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		d := res[m[1]]
		if d == nil {
			d = map[string][]float64{}
			res[m[1]] = d
		}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				d[f[i+1]] = append(d[f[i+1]], v)
			}
		}
	}
	return res
}

// loads summarises the load averages logged before and after the
// commands of the named raw files.
func (s *summary) loads(names ...string) string {
	var one []float64
	for _, n := range names {
		for _, l := range s.lines(n) {
			if strings.HasPrefix(l, "load before:") || strings.HasPrefix(l, "load after:") {
				f := strings.Fields(strings.SplitN(l, ": ", 2)[1])
				if v, err := strconv.ParseFloat(f[0], 64); err == nil && len(f) > 0 {
					one = append(one, v)
				}
			}
		}
	}
	if len(one) == 0 {
		return ""
	}
	return fmt.Sprintf("1-min load average %.2f..%.2f over %d command(s)", slices.Min(one), slices.Max(one), len(one)/2)
}

// table writes a Markdown table.
func (s *summary) table(header []string, rows [][]string) {
	s.printf("| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, r := range rows {
		s.printf("| %s |\n", strings.Join(r, " | "))
	}
	s.printf("\n")
}

// presets is vitprobe's order of the presets in tables.
var presets = []string{"resnet-mini", "vit-mini", "alternet-mini", "resnet18", "resnet50", "preact-resnet50", "alternet50", "vit-ti"}

// ordered sorts preset names in vitprobe's order, unknown ones last by name.
func ordered(names map[string]bool) []string {
	var out []string
	for n := range names {
		out = append(out, n)
	}
	rank := func(n string) int {
		if i := slices.Index(presets, n); i >= 0 {
			return i
		}
		return len(presets)
	}
	slices.SortFunc(out, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return out
}

// part returns the i-th "/"-separated part of a benchmark name.
func part(name string, i int) string {
	p := strings.Split(name, "/")
	if i < len(p) {
		return p[i]
	}
	return ""
}

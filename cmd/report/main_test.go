package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/cli"
)

func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	err := run(context.Background(), args, &out, &errw)
	return out.String() + errw.String(), err
}

// TestEmptyFolder: nothing computed yet gives a page that says what is
// missing, and every finding inconclusive with its reason, never a verdict
// from invented numbers.
func TestEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := runReport(t, "--out", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Missing from this run", "No training runs found", "No landscape plots found", "No stage times recorded"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	var got struct {
		Findings []findings.Finding `json:"findings"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	c, err := findings.LoadCriteria()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, cl := range c.Claims {
		want += 1 + len(cl.OtherProtocols)
	}
	if len(got.Findings) != want {
		t.Fatalf("%d findings, want %d: every claim of the criteria under each of its protocols", len(got.Findings), want)
	}
	for _, f := range got.Findings {
		if f.Verdict != findings.Inconclusive || f.Why == "" {
			t.Errorf("%q: verdict %q (%q) without data, want inconclusive with a reason", f.Claim, f.Verdict, f.Why)
		}
	}
}

// TestStageTimes: parts of a stage ("· " names) are listed but not added
// to the total; a rerun shows the first run's times beside its own.
func TestStageTimes(t *testing.T) {
	dir := t.TempDir()
	first := "build\t6\n· train a\t100\n· train b\t200\ntrain\t210\nhessian\t60\n"
	again := "build\t1\n· train a\t2\n· train b\t2\ntrain\t3\nhessian\t2\n"
	if err := os.WriteFile(filepath.Join(dir, "timings-first.tsv"), []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "timings.tsv"), []byte(again), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runReport(t, "--out", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	// First run: 6 + 210 + 60 = 276 s; this run: 1 + 3 + 2 = 6 s.
	for _, want := range []string{"<th>First run</th><th>This run</th>", `<th class="num">4m36s</th><th class="num">6 s</th>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

// TestBadInput: a missing --out and a stray argument are usage errors.
func TestBadInput(t *testing.T) {
	var ue *cli.UsageError
	if _, err := runReport(t); !errors.As(err, &ue) {
		t.Errorf("no --out: %v, want a usage error", err)
	}
	if _, err := runReport(t, "--out", t.TempDir(), "extra"); !errors.As(err, &ue) {
		t.Errorf("stray argument: %v, want a usage error", err)
	}
}

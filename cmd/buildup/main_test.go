package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/models"
)

func runCmd(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		errPart string
	}{
		{nil, "--out is required"},
		{[]string{"--out", dir, "--seeds", "0"}, "at least two"},
		{[]string{"--out", dir, "--seeds", "0,x"}, "--seeds"},
		{[]string{"--out", dir, "--heads", "1,-2,4,8"}, "--heads"},
		{[]string{"--out", dir, "--z", "0"}, "--z"},
		{[]string{"--out", dir, "--min-stage", "0"}, "--min-stage"},
		{[]string{"--out", dir, "--validation", "1"}, "--validation"},
		{[]string{"--out", dir, "--steps", "-1"}, "steps"},
		{[]string{"--out", dir, "extra"}, "unexpected argument"},
	} {
		_, _, err := runCmd(c.args...)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.errPart) {
			t.Errorf("%v: %v, want a usage error saying %q", c.args, err, c.errPart)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors left files in the output folder: %v", entries)
	}
	// A base that is not of the AlterNet family is a run-time error before
	// any training.
	if _, _, err := runCmd("--out", dir, "--tiny", "--base", "resnet-mini"); err == nil || !strings.Contains(err.Error(), "AlterNet-family") {
		t.Errorf("--base resnet-mini: %v", err)
	}
}

// TestTinyRun runs the rule for one candidate at smoke-test size: the trial
// log and the preset string are printed, the preset builds, the report is
// written, and a second call trains nothing.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four tiny runs")
	}
	dir := t.TempDir()
	out, _, err := runCmd("--out", dir, "--tiny", "--max-trials", "1", "--threads", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"C,CC,CC,CCCC", "C,CC,CC,CCCM", "final pattern: ", "preset: alternet-mini:", "index.html"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not show %q:\n%s", want, out)
		}
	}
	var preset string
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "preset: "); ok {
			preset = p
		}
	}
	if _, err := models.Describe(preset); err != nil {
		t.Errorf("preset %q: %v", preset, err)
	}
	for _, f := range []string{"index.html", "buildup/result.json", "buildup/journal.jsonl", "buildup/fig12a-buildup.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	_, log, err := runCmd("--out", dir, "--tiny", "--max-trials", "1", "--threads", "1")
	if err != nil || strings.Contains(log, "experiments: training") {
		t.Errorf("a second call trained again (%v):\n%s", err, log)
	}
}

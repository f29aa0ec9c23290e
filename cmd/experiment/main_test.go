package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/internal/cli"
)

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args    []string
		errPart string
	}{
		{nil, "--out is required"},
		{[]string{"--out", dir, "--only", "datasize,nosuch"}, `unknown experiment "nosuch"`},
		{[]string{"--out", dir, "--steps", "-5"}, "budget of -5 steps"},
		{[]string{"--out", dir, "--lr", "-1"}, "learning rate"},
		{[]string{"--out", dir, "--hessian-batches", "-1"}, "Hessian of -1 batches"},
		{[]string{"--out", dir, "--bogus"}, "bogus"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), c.args, &out, &errb)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.errPart) {
			t.Errorf("%v: %v, want a usage error saying %q", c.args, err, c.errPart)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors left files in the output folder: %v", entries)
	}
}

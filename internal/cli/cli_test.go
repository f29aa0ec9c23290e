package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestVersionFlag: every command has --version; it ends the command with
// exit status 0, and the line names the BLAS kernels.
func TestVersionFlag(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("n", 1, "a flag")
	err := ParseFlags(fs, []string{"--version"}, false)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--version: %v, want flag.ErrHelp", err)
	}
	if code := Exit("x", err, io.Discard); code != 0 {
		t.Errorf("--version exits with %d", code)
	}
	line := VersionLine()
	if core := torchx.BLASCore(); core != "" && !strings.Contains(line, "OpenBLAS kernels: "+core) {
		t.Errorf("version line %q does not name the kernels %s", line, core)
	}
	if err := ParseFlags(fs, []string{"-n", "2"}, false); err != nil {
		t.Errorf("without --version: %v", err)
	}
	if err := ParseFlags(fs, []string{"--bogus"}, false); err == nil || Exit("x", err, io.Discard) != 2 {
		t.Errorf("a bad flag: %v", err)
	}
}

package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestVersionFlag: every command has --version; it ends the command with
// exit status 0.
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
	// Without libtorch linked (this test binary), the line says so; with
	// it, package torchcli's test checks the kernels.
	if line := VersionLine(); !strings.Contains(line, "without libtorch") {
		t.Errorf("version line %q of a binary without libtorch", line)
	}
	if err := ParseFlags(fs, []string{"-n", "2"}, false); err != nil {
		t.Errorf("without --version: %v", err)
	}
	if err := ParseFlags(fs, []string{"--bogus"}, false); err == nil || Exit("x", err, io.Discard) != 2 {
		t.Errorf("a bad flag: %v", err)
	}
}

package torchcli

import (
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/torchx"
)

// TestVersionNamesKernels: a binary that links libtorch names its version
// and OpenBLAS's kernels in --version (torchx registers them with prov).
func TestVersionNamesKernels(t *testing.T) {
	line := cli.VersionLine()
	if !strings.Contains(line, "libtorch "+torchx.LibtorchVersion()) {
		t.Errorf("version line %q does not name libtorch %s", line, torchx.LibtorchVersion())
	}
	if core := torchx.BLASCore(); core != "" && !strings.Contains(line, "OpenBLAS kernels: "+core) {
		t.Errorf("version line %q does not name the kernels %s", line, core)
	}
}

func TestParseDevice(t *testing.T) {
	if d, err := ParseDevice("cpu"); err != nil || d.IsCuda() {
		t.Errorf("cpu: %v, %v", d, err)
	}
	for _, bad := range []string{"gpu", "cuda:x"} {
		if _, err := ParseDevice(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	if _, _, err := Setup(-1, "cpu"); err == nil {
		t.Error("--threads -1: want an error")
	}
}

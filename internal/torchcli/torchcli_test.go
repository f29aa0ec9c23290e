package torchcli

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
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

// TestPassiveOpenMP runs this test binary as a command would start: without
// OMP_WAIT_POLICY it must start again with PASSIVE (the child prints the
// policy it runs under), and a policy the user set must be kept.
func TestPassiveOpenMP(t *testing.T) {
	if os.Getenv("VITPROBE_TORCHCLI_CHILD") == "1" {
		PassiveOpenMP()
		fmt.Printf("policy=%s\n", os.Getenv("OMP_WAIT_POLICY"))
		os.Exit(0)
	}
	for _, c := range []struct{ set, want string }{{"", "PASSIVE"}, {"ACTIVE", "ACTIVE"}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestPassiveOpenMP$")
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OMP_WAIT_POLICY=") {
				env = append(env, kv)
			}
		}
		env = append(env, "VITPROBE_TORCHCLI_CHILD=1")
		if c.set != "" {
			env = append(env, "OMP_WAIT_POLICY="+c.set)
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "policy="+c.want+"\n") {
			t.Errorf("OMP_WAIT_POLICY=%q at start: the child printed %q, want policy=%s", c.set, out, c.want)
		}
	}
	if env, again := passiveEnv([]string{"A=1", "OMP_WAIT_POLICY=ACTIVE"}); again || len(env) != 2 {
		t.Errorf("a set policy: %v, %v", env, again)
	}
	if env, again := passiveEnv([]string{"A=1"}); !again || !slices.Equal(env, []string{"A=1", "OMP_WAIT_POLICY=PASSIVE"}) {
		t.Errorf("no policy: %v, %v", env, again)
	}
}

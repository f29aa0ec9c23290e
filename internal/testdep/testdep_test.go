package testdep

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, all string
		want    bool
	}{
		{"", "", false}, {"true", "", true}, {"1", "", true}, {"false", "", false},
		{"", "1", true}, {"", "0", false}, {"TRUE", "", true},
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("VITPROBE_REQUIRE_ALL", c.all)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q VITPROBE_REQUIRE_ALL=%q: Required() = %v, want %v", c.ci, c.all, got, c.want)
		}
	}
}

// TestMissingOutcome runs a test in a child process with and without CI and
// checks that a missing dependency skips it outside CI and fails it in CI,
// with the message.
func TestMissingOutcome(t *testing.T) {
	if os.Getenv("TESTDEP_CHILD") == "1" {
		Python(t) // VITPROBE_PYTHON=/bin/false below: cannot import torch
		t.Log("not reached")
		return
	}
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingOutcome$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTDEP_CHILD=1", "VITPROBE_PYTHON=/bin/false", "CI="+ci, "VITPROBE_REQUIRE_ALL=")
		out, err := cmd.CombinedOutput()
		s := string(out)
		if !strings.Contains(s, Prefix+"/bin/false cannot import torch") {
			t.Errorf("CI=%q: message missing:\n%s", ci, s)
		}
		if strings.Contains(s, "not reached") {
			t.Errorf("CI=%q: the test went on after Missing:\n%s", ci, s)
		}
		switch ci {
		case "":
			if err != nil || !strings.Contains(s, "--- SKIP") {
				t.Errorf("outside CI: want a skip and exit 0, got %v:\n%s", err, s)
			}
		default:
			if err == nil || !strings.Contains(s, "--- FAIL") {
				t.Errorf("CI=true: want a failure, got %v:\n%s", err, s)
			}
		}
	}
}

func TestCommand(t *testing.T) {
	if p := Command(t, "coreutils", "no-such-command-xyz", "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("Command found %q, want sh", p)
	}
}

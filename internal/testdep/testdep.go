// Package testdep is how vitprobe's tests ask for what lies outside the Go
// module: an interpreter with PyTorch, the MNIST files, Jupyter, Chromium, a
// Slurm cluster. A missing dependency stops the test with its reason: as a
// skip on a developer's machine, as a failure in CI (CI=true) or whenever
// VITPROBE_REQUIRE_ALL=1, so that a cross-check can never drop out of CI
// unnoticed.
//
// Every message starts with "missing dependency: " so that the end-of-run
// summary of `make test` (scripts/testreport) can list each skip and why.
package testdep

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prefix starts every message of Missing.
const Prefix = "missing dependency: "

// Required reports whether a missing dependency fails the test rather than
// skipping it: true when CI=true (or 1) or VITPROBE_REQUIRE_ALL=1.
func Required() bool {
	return truthy(os.Getenv("CI")) || truthy(os.Getenv("VITPROBE_REQUIRE_ALL"))
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// Missing stops t because a dependency is missing: Fatalf when Required,
// Skipf otherwise. The message says what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := Prefix + fmt.Sprintf(format, args...)
	if Required() {
		t.Fatal(msg + " (CI=true or VITPROBE_REQUIRE_ALL=1: a missing dependency fails)")
	}
	t.Skip(msg)
}

// PythonDefault is the interpreter with Debian's python3-torch; the
// python3 first on PATH may be another one without torch.
const PythonDefault = "/usr/bin/python3"

// PythonPath is the interpreter the PyTorch cross-checks use:
// $VITPROBE_PYTHON, else PythonDefault.
func PythonPath() string {
	if p := os.Getenv("VITPROBE_PYTHON"); p != "" {
		return p
	}
	return PythonDefault
}

var (
	pyMu    sync.Mutex
	pyCache = map[string]error{}
)

// Python returns the interpreter for PyTorch cross-checks after checking
// (once per process and module list) that it imports torch and the given
// modules (e.g. "torchvision", "numpy"). It stops t with Missing when it
// does not.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := PythonPath()
	mods := append([]string{"torch"}, modules...)
	key := py + "\x00" + strings.Join(mods, ",")
	pyMu.Lock()
	err, done := pyCache[key]
	if !done {
		err = checkPython(py, mods)
		pyCache[key] = err
	}
	pyMu.Unlock()
	if err != nil {
		Missing(t, "%v (make test installs Debian's python3-torch, python3-torchvision and python3-numpy; VITPROBE_PYTHON names another interpreter)", err)
	}
	return py
}

func checkPython(py string, mods []string) error {
	if _, err := exec.LookPath(py); err != nil {
		return fmt.Errorf("no Python interpreter at %s", py)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", "import "+strings.Join(mods, ", "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s cannot import %s: %w: %s", py, strings.Join(mods, ", "), err, lastLine(stderr.String()))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no message"
	}
	return s
}

// Command returns the path of the first of names found on PATH, stopping t
// with Missing (naming hint, e.g. the package that provides it) when none is.
func Command(t testing.TB, hint string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, "none of %s on PATH (%s)", strings.Join(names, ", "), hint)
	return ""
}

// Chromium returns the headless browser the report tests render pages with.
func Chromium(t testing.TB) string {
	t.Helper()
	return Command(t, "make test installs Debian's chromium", "chromium", "chromium-browser", "google-chrome")
}

// Root stops t with Missing unless the test runs as root (what starting
// system daemons such as Slurm's needs).
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root, to %s", why)
	}
}

// RenderPage renders the HTML page in headless Chromium with the project's
// scripts/screenshot.sh, which saves a screenshot beside it (PAGE.png) and
// checks in the browser that every <img> loaded (complete, natural width
// and height > 0). It fails t unless all did, and returns the number of
// images and the screenshot's path. A missing Chromium is a missing
// dependency.
func RenderPage(t testing.TB, page string) (images int, shot string) {
	t.Helper()
	Chromium(t)
	script, err := repoFile("scripts/screenshot.sh")
	if err != nil {
		t.Fatal(err)
	}
	shot = strings.TrimSuffix(page, ".html") + ".png"
	out, err := exec.Command("bash", script, page, shot).CombinedOutput()
	if err != nil {
		t.Fatalf("rendering %s in Chromium: %v\n%s", page, err, out)
	}
	// "PAGE: N image(s), all loaded; screenshot ..."
	s := string(out)
	i := strings.Index(s, ": ")
	if i < 0 || !strings.Contains(s, " image(s), all loaded") {
		t.Fatalf("screenshot.sh said %q", s)
	}
	if _, err := fmt.Sscanf(s[i+2:], "%d image(s)", &images); err != nil {
		t.Fatalf("screenshot.sh said %q: %v", s, err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot of %s: %v", page, err)
	}
	return images, shot
}

// repoFile finds rel in the repository that holds the working directory
// (the folder with go.mod, looking upwards).
func repoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("testdep: %w", err)
			}
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("testdep: no go.mod above the working directory, so no %s", rel)
		}
		dir = up
	}
}

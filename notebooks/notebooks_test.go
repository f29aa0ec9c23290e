package notebooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// cellTimeout bounds each cell (nbconvert's ExecutePreprocessor.timeout).
// In tiny mode no cell takes more than half a minute on two cores.
const cellTimeout = 240 * time.Second

// TestNotebooks executes every notebook of this folder with Jupyter and
// GoNB, as `jupyter nbconvert --to notebook --execute` does, at smoke-test
// sizes (VITPROBE_NOTEBOOK_TINY=1) with one libtorch thread each, two
// notebooks at a time on two cores. A notebook fails if nbconvert fails (a
// cell that does not compile, a timeout) or if any cell of the executed
// notebook shows a failure (see failures): GoNB reports a cell whose program
// panics or exits non-zero as stderr text, with a successful cell status, so
// nbconvert alone would pass it.
//
// Skipped with -short, and when Jupyter, GoNB or goimports is missing
// (`make setup` installs them) unless the environment variable CI is set.
func TestNotebooks(t *testing.T) {
	if testing.Short() {
		t.Skip("executes every notebook with Jupyter (minutes): skipped with -short")
	}
	env, err := notebookEnv()
	if err != nil {
		testdep.Missing(t, "the notebooks cannot run: %v (make test installs Jupyter and GoNB)", err)
	}
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found (%v)", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(path, ".ipynb"), func(t *testing.T) {
			if strings.Contains(path, "pytorch") {
				// Trains and exports a model with PyTorch.
				testdep.Python(t, "torchvision", "PIL")
			}
			t.Parallel()
			execute(t, env, path)
		})
	}
}

// execute runs the notebook at path into a temporary folder and checks the
// executed copy.
func execute(t *testing.T, env []string, path string) {
	out := t.TempDir()
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "jupyter", "nbconvert", "--to", "notebook", "--execute",
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(cellTimeout.Seconds())),
		"--output-dir", out, path)
	cmd.Env = env
	// nbconvert stops the kernel itself after a cell timeout; the process
	// group is killed only if the test's own deadline comes first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s: executed in %.0f s", path, time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("jupyter nbconvert --execute %s: %v\n%s", path, err, nbconvertTail(log.String(), 60))
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.Base(path)))
	if err != nil {
		t.Fatalf("the executed notebook: %v", err)
	}
	fails, figures, err := failures(b)
	if err != nil {
		t.Fatalf("the executed notebook %s: %v", path, err)
	}
	for _, f := range fails {
		t.Errorf("%s: %v", path, f)
	}
	if figures == 0 {
		t.Errorf("%s: no inline figure was displayed", path)
	}
}

// notebookEnv checks that Jupyter (with nbconvert), the GoNB kernel and
// goimports are installed, and returns the environment of the notebooks:
// the test's, with the Go binaries folder on PATH (GoNB runs goimports and
// go from there), tiny sizes, one libtorch thread, and cell programs linked
// without DWARF (a third faster to link; panics still name file and line).
func notebookEnv() ([]string, error) {
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOPATH: %w", err)
	}
	gobin := filepath.Join(filepath.SplitList(strings.TrimSpace(string(gopath)))[0], "bin")
	path := gobin + string(os.PathListSeparator) + os.Getenv("PATH")
	if _, err := exec.LookPath("jupyter"); err != nil {
		return nil, errors.New("jupyter is not installed")
	}
	if err := exec.Command("jupyter", "nbconvert", "--version").Run(); err != nil {
		return nil, fmt.Errorf("jupyter nbconvert does not run: %w", err)
	}
	specs, err := exec.Command("jupyter", "kernelspec", "list", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("jupyter kernelspec list: %w", err)
	}
	var list struct {
		Kernelspecs map[string]json.RawMessage `json:"kernelspecs"`
	}
	if err := json.Unmarshal(specs, &list); err != nil {
		return nil, fmt.Errorf("jupyter kernelspec list: %w", err)
	}
	if _, ok := list.Kernelspecs["gonb"]; !ok {
		return nil, errors.New("the GoNB kernel is not registered")
	}
	for _, prog := range []string{"gonb", "goimports"} {
		if !executable(filepath.Join(gobin, prog)) {
			if _, err := exec.LookPath(prog); err != nil {
				return nil, fmt.Errorf("%s is not installed", prog)
			}
		}
	}
	goflags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -ldflags=-w")
	// exec.Cmd keeps the last value of a repeated variable.
	return append(os.Environ(), "PATH="+path, "VITPROBE_NOTEBOOK_TINY=1", "VITPROBE_THREADS=1",
		"GOFLAGS="+goflags, "PYDEVD_DISABLE_FILE_VALIDATION=1"), nil
}

// executable reports whether path is an executable file.
func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// kernelLog matches the kernel's own log lines (klog), which nbconvert
// passes on: "I1129 01:32:24.348500   30293 kernel.go:339] ...", and the
// lines of the Go stack traces GoNB logs with its errors.
var kernelLog = regexp.MustCompile(`^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]|github\.com/janpfeifer/gonb/|runtime\.goexit|\t/\S+:\d+$)`)

// nbconvertTail returns the last n lines of nbconvert's output without the
// kernel's log lines and without Python's traceback, whose last line,
// nbclient's CellExecutionError, names the failed cell and its error. The
// compiler's messages, which GoNB logs after a klog line, are kept.
func nbconvertTail(s string, n int) string {
	var keep []string
	traceback := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case l == "Traceback (most recent call last):":
			traceback = true
			continue
		case traceback && strings.HasPrefix(l, " "):
			continue
		}
		traceback = false
		if strings.TrimSpace(l) != "" && !kernelLog.MatchString(l) {
			keep = append(keep, l)
		}
	}
	keep = keep[max(0, len(keep)-n):]
	// A cell that does not compile reports its errors early in the log,
	// before the cell's source: they go first, whatever the tail holds.
	var compile []string
	for _, l := range strings.Split(s, "\n") {
		if goCompileError.MatchString(l) {
			compile = append(compile, l)
		}
	}
	return strings.Join(append(compile, keep...), "\n")
}

// goCompileError is a line of the Go compiler's errors on a cell.
var goCompileError = regexp.MustCompile(`^\./\S+\.go:\d+:\d+: `)

// multiline is a notebook string: nbformat stores source and stream text as
// a JSON string or as a list of strings to be joined.
type multiline string

func (s *multiline) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = multiline(one)
		return nil
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	*s = multiline(strings.Join(parts, ""))
	return nil
}

// notebook is the part of an .ipynb file the tests read.
type notebook struct {
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
	Format int `json:"nbformat"`
	Cells  []struct {
		Type           string    `json:"cell_type"`
		Source         multiline `json:"source"`
		ExecutionCount *int      `json:"execution_count"`
		Outputs        []struct {
			Type   string                     `json:"output_type"`
			Name   string                     `json:"name"`
			Text   multiline                  `json:"text"`
			Ename  string                     `json:"ename"`
			Evalue string                     `json:"evalue"`
			Data   map[string]json.RawMessage `json:"data"`
		} `json:"outputs"`
	} `json:"cells"`
}

// cellFailure is a cell of an executed notebook that failed.
type cellFailure struct {
	// Cell is the cell's position in the notebook, from 1, markdown
	// cells included; Source its first line.
	Cell   int
	Source string
	// Reason is the error output or the stderr line that shows the failure.
	Reason string
}

func (f cellFailure) String() string {
	return fmt.Sprintf("cell %d (%s): %s", f.Cell, f.Source, f.Reason)
}

// failedProgram matches the stderr lines by which GoNB v0.10.6 reports a
// cell whose program failed, while it tells Jupyter the cell succeeded: a Go
// panic or fatal runtime error, and the "exit status N" or "signal: ..."
// line it adds when a cell's program (or a "!" shell command) exits non-zero
// or is killed.
var failedProgram = regexp.MustCompile(`(?m)^(panic: .*|fatal error: .*|exit status \d+|signal: .*|GoNB Error:.*)$`)

// failures returns the failed cells of an executed notebook and the number
// of inline figures (PNG outputs) it displayed. A cell failed if it has an
// output of type "error" (GoNB's compile errors, Jupyter's errors) or if its
// stderr, all its stream outputs joined, has a line that failedProgram
// matches.
func failures(ipynb []byte) ([]cellFailure, int, error) {
	var nb notebook
	if err := json.Unmarshal(ipynb, &nb); err != nil {
		return nil, 0, err
	}
	var fails []cellFailure
	figures := 0
	for i, c := range nb.Cells {
		first, _, _ := strings.Cut(strings.TrimSpace(string(c.Source)), "\n")
		var stderr strings.Builder
		reason := ""
		for _, o := range c.Outputs {
			switch o.Type {
			case "error":
				if reason == "" {
					reason = fmt.Sprintf("%s: %s", o.Ename, o.Evalue)
				}
			case "stream":
				if o.Name == "stderr" {
					stderr.WriteString(string(o.Text))
				}
			case "display_data", "execute_result":
				if _, ok := o.Data["image/png"]; ok {
					figures++
				}
			}
		}
		if m := failedProgram.FindString(stderr.String()); m != "" && reason == "" {
			reason = "stderr: " + m
		}
		if reason != "" {
			fails = append(fails, cellFailure{Cell: i + 1, Source: first, Reason: reason})
		}
	}
	return fails, figures, nil
}

// TestFailuresDetector runs the detector on a notebook with deliberate
// failures that GoNB v0.10.6 executed (testdata/gonb-failures.ipynb, made
// with `jupyter nbconvert --execute --allow-errors`): nbconvert exited 0 for
// it, although five of its cells failed.
func TestFailuresDetector(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "gonb-failures.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	got, figures, err := failures(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []cellFailure{
		{3, `%%`, "stderr: panic: deliberate panic"},
		{4, `%%`, `ERROR: failed to run "/usr/local/go/bin/go build -o /tmp/gonb_4c38119d/gonb_4c38119d": exit status 1`},
		{5, `!false`, "stderr: exit status 1"},
		{6, `%%`, "stderr: exit status 1"},
		{7, `%%`, "stderr: panic: goroutine panic"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("failures:\ngot  %v\nwant %v", got, want)
	}
	if figures != 0 {
		t.Errorf("figures: got %d, want 0", figures)
	}
}

// TestNotebookFiles checks the committed notebooks without running them:
// they use the GoNB kernel, start with the cell that sets up the Go module,
// honour the tiny mode, and are stored without outputs, to keep diffs small.
func TestNotebookFiles(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found (%v)", err)
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var nb notebook
		if err := json.Unmarshal(b, &nb); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if nb.Format != 4 || nb.Metadata.Kernelspec.Name != "gonb" {
			t.Errorf("%s: nbformat %d, kernel %q; want 4 and gonb", path, nb.Format, nb.Metadata.Kernelspec.Name)
		}
		var code []string
		for i, c := range nb.Cells {
			if c.Type != "code" {
				continue
			}
			code = append(code, string(c.Source))
			if len(c.Outputs) > 0 || c.ExecutionCount != nil {
				t.Errorf("%s: cell %d is stored with its outputs: clear them before committing", path, i+1)
			}
		}
		if len(code) == 0 || !strings.HasPrefix(code[0], "!*") || !strings.Contains(code[0], "go mod edit") {
			t.Errorf("%s: the first code cell must set up the Go module (!*... go mod edit ...)", path)
		}
		if !strings.Contains(string(b), "VITPROBE_NOTEBOOK_TINY") {
			t.Errorf("%s: does not read VITPROBE_NOTEBOOK_TINY", path)
		}
	}
}

// TestNbconvertTail checks the report of a cell that does not compile on
// nbconvert's real output (testdata/nbconvert-compile-error.log): GoNB's log
// and Python's traceback go, the compiler's message and the failed cell stay.
func TestNbconvertTail(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "nbconvert-compile-error.log"))
	if err != nil {
		t.Fatal(err)
	}
	got := nbconvertTail(string(b), 60)
	for _, want := range []string{"./main.go:10:1: declared and not used: x", "CellExecutionError", "x := 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	for _, noise := range []string{"Traceback", "kernel created", "asm_amd64.s", "nbconvertapp.py"} {
		if strings.Contains(got, noise) {
			t.Errorf("the report holds %q:\n%s", noise, got)
		}
	}
}

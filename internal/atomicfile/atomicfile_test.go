package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("got %q, %v; want two", b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files left in the folder, want 1", len(ents))
	}
}

func TestAbortLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	f.Abort()
	f.Abort()
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatalf("got %q after abort, want old", b)
	}
	if err := f.Commit(); err == nil {
		t.Fatal("commit after abort: want an error")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files left, want 1", len(ents))
	}
}

func TestCreateMissingFolder(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "no", "x")); err == nil {
		t.Fatal("want an error for a missing folder")
	}
}

// TestRemoveStale: the temporary file of a process that died while writing
// (kill -9) is removed by the next run; those of a live process, of
// another host and ordinary files are kept.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimSuffix(strings.SplitN(owner(), "-", 2)[1], "-")
	names := map[string]bool{ // name: kept
		".a.json.tmp-" + strconv.Itoa(dead.Process.Pid) + "-" + host + "-123": false,
		".a.json.tmp-" + strconv.Itoa(os.Getpid()) + "-" + host + "-456":      true,
		".a.json.tmp-" + strconv.Itoa(dead.Process.Pid) + "-elsewhere-789":    true,
		"a.json":       true,
		".a.json.tmp-": true,
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(dir); err != nil {
		t.Fatal(err)
	}
	for n, kept := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", n, err == nil, kept)
		}
	}
	// A file being written now is this process's: kept.
	f, err := Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if err := RemoveStale(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Name()); err != nil {
		t.Errorf("a live temporary file was removed: %v", err)
	}
}

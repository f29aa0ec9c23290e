package journal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/shard"
)

// holdEnv makes the test binary a helper process that holds the journal it
// names open until its standard input closes.
const holdEnv = "JOURNAL_TEST_HOLD"

func TestMain(m *testing.M) {
	if p := os.Getenv(holdEnv); p != "" {
		w, _, err := Open[rec](p, hdr{Grid: 21})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		w.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type hdr struct {
	Grid int    `json:"grid"`
	Seed uint64 `json:"seed"`
}

type rec struct {
	I    int     `json:"i"`
	Loss float64 `json:"loss"`
}

func TestResumeKeepsRecordsAndDropsTornLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	h := hdr{Grid: 21, Seed: 7}
	w, recs, err := Open[rec](p, h)
	if err != nil || len(recs) != 0 {
		t.Fatalf("fresh journal: %v, %d records", err, len(recs))
	}
	for i := 0; i < 3; i++ {
		if err := w.Append(rec{I: i, Loss: float64(i) / 2}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// A crash mid-write leaves a torn line.
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"i":3,"lo`)
	f.Close()

	w, recs, err = Open[rec](p, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].I != 2 || recs[1].Loss != 0.5 {
		t.Fatalf("records after resume: %+v", recs)
	}
	if err := w.Append(rec{I: 3, Loss: 1.5}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := Read[rec](p, h)
	if err != nil || len(got) != 4 || got[3].I != 3 {
		t.Fatalf("Read: %+v, %v", got, err)
	}
	b, _ := os.ReadFile(p)
	if strings.Count(string(b), "\n") != 5 {
		t.Fatalf("file has %d lines, want header + 4:\n%s", strings.Count(string(b), "\n"), b)
	}
}

func TestOtherSettingsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	w, _, err := Open[rec](p, hdr{Grid: 21})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, _, err = Open[rec](p, hdr{Grid: 11, Seed: 3})
	var mis *errs.JournalMismatchError
	if !errors.As(err, &mis) || mis.Path != p {
		t.Fatalf("got %v, want a *errs.JournalMismatchError for %s", err, p)
	}
	want := []string{"grid was 21, now 11", "seed was 0, now 3"}
	if strings.Join(mis.Diffs, "|") != strings.Join(want, "|") {
		t.Errorf("diffs %q, want %q", mis.Diffs, want)
	}
	if _, err := Read[rec](p, hdr{Grid: 11}); !errors.As(err, &mis) {
		t.Errorf("Read under other settings: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		was, now string
		want     []string
	}{
		{`{"a":1,"b":{"c":"x","d":[1,2]}}`, `{"a":1,"b":{"c":"y","d":[1,3]}}`, []string{`b.c was "x", now "y"`, "b.d[1] was 2, now 3"}},
		{`{"a":1}`, `{"a":1,"n":true}`, []string{"n was unset, now true"}},
		{`{"a":[1]}`, `{"a":[1,2]}`, []string{"a was [1], now [1,2]"}},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5}`, `{"a":0,"b":0,"c":0,"d":0,"e":0}`, []string{"a was 1, now 0", "b was 2, now 0", "c was 3, now 0", "and 2 more"}},
		{`not json`, `{}`, []string{"unreadable header"}},
	} {
		if got := Diff([]byte(c.was), []byte(c.now)); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Diff(%s, %s) = %q, want %q", c.was, c.now, got, c.want)
		}
	}
}

// TestSecondWriterRefused: a journal open for writing cannot be opened
// again, in this process or another, until it is closed; the error is one
// line naming the holder. Before journals were locked, both writers
// appended and their records interleaved.
func TestSecondWriterRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	w, _, err := Open[rec](p, hdr{Grid: 21})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, _, err = Open[rec](p, hdr{Grid: 21})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("process %d on %s", os.Getpid(), host)) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second Open: %v, want one line naming process %d on %s", err, os.Getpid(), host)
	}
	if _, err := Read[rec](p, hdr{Grid: 21}); err == nil || !strings.Contains(err.Error(), "still being written") {
		t.Errorf("Read while written: %v", err)
	}
	w.Close()
	w, _, err = Open[rec](p, hdr{Grid: 21})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	w.Close()
	if _, err := os.Stat(p + ".lock"); err == nil {
		t.Error("the holder note outlived the lock")
	}
}

// TestTwoProcessesOnOneJournal: a journal held by another process is
// refused with that process's id; once it dies (even killed, with its
// note left behind), the journal opens again.
func TestTwoProcessesOnOneJournal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+p)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper: %q", line)
	}
	_, _, err = Open[rec](p, hdr{Grid: 21})
	if err == nil || !strings.Contains(err.Error(), "process "+strconv.Itoa(cmd.Process.Pid)+" on ") {
		t.Fatalf("Open while process %d holds it: %v", cmd.Process.Pid, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	w, _, err := Open[rec](p, hdr{Grid: 21})
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	w.Close()
}

func TestShardNames(t *testing.T) {
	dir := t.TempDir()
	n := Names{Single: "journal.jsonl", Shard: "journal-shard-%d-of-%d.jsonl"}
	if got := n.Path(dir, shard.All); got != filepath.Join(dir, "journal.jsonl") {
		t.Errorf("single path %s", got)
	}
	if _, err := n.Shards(dir); err == nil || !strings.Contains(err.Error(), "no shard journals") {
		t.Errorf("no shards: %v", err)
	}
	touch := func(i, c int) {
		if err := os.WriteFile(n.Path(dir, shard.Shard{Index: i, Count: c}), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch(0, 3)
	touch(2, 3)
	if _, err := n.Shards(dir); err == nil || !strings.Contains(err.Error(), "1 of 3 shard journals are missing") ||
		!strings.Contains(err.Error(), "journal-shard-1-of-3.jsonl") {
		t.Errorf("a missing shard: %v", err)
	}
	touch(1, 3)
	got, err := n.Shards(dir)
	if err != nil || len(got) != 3 || filepath.Base(got[2]) != "journal-shard-2-of-3.jsonl" {
		t.Errorf("Shards = %v, %v", got, err)
	}
	touch(0, 2)
	if _, err := n.Shards(dir); err == nil || !strings.Contains(err.Error(), "split [2 3] ways") {
		t.Errorf("two splits: %v", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	os.WriteFile(p, []byte("{\"grid\":1,\"seed\":0}\nnot json\n"), 0o644)
	if _, _, err := Open[rec](p, hdr{Grid: 1}); err == nil || !strings.Contains(err.Error(), "corrupt record") {
		t.Fatalf("got %v, want a corrupt-record error", err)
	}
}

func TestClosedWriter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	w, _, _ := Open[rec](p, hdr{})
	w.Close()
	if err := w.Append(rec{}); err == nil {
		t.Fatal("append after close: want an error")
	}
}

package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	_, _, err = Open[rec](p, hdr{Grid: 11})
	if err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("got %v, want an error about other settings", err)
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

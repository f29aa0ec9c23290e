// Package journal keeps the append-only record of a long job's finished
// work: one JSON object per line after a header line that fixes the job's
// settings. A restarted job reopens its journal, gets back every finished
// record and skips that work; a line torn by a crash mid-write is dropped.
package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Writer appends records to a journal file. It is not safe for concurrent
// use.
type Writer struct {
	f    *os.File
	path string
}

// Open opens the journal at path, creating it with header if it does not
// exist. An existing journal must have been written with an identical header
// (as JSON), else Open fails: resuming with other settings would mix
// incompatible results. It returns the complete records already in the
// journal, decoded as R, in the order they were appended.
func Open[R any](path string, header any) (*Writer, []R, error) {
	hdr, err := json.Marshal(header)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %s: header: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	recs, good, err := read[R](f, path, hdr)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// Cut a torn tail and write the header of a new journal.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	w := &Writer{f: f, path: path}
	if good == 0 {
		if err := w.writeLine(hdr); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return w, recs, nil
}

// read parses the header and records of f, returning the records and the
// byte length of the valid prefix (0 for an empty file).
func read[R any](f *os.File, path string, hdr []byte) ([]R, int64, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, fmt.Errorf("journal: %s: %w", path, err)
	}
	if len(data) == 0 {
		return nil, 0, nil
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		// Only a torn header: start afresh.
		return nil, 0, nil
	}
	if !bytes.Equal(data[:nl], hdr) {
		return nil, 0, fmt.Errorf("journal: %s was written with other settings (%s), not %s; remove it or use another output folder",
			path, truncate(data[:nl]), truncate(hdr))
	}
	good := int64(nl + 1)
	var recs []R
	rest := data[nl+1:]
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break // torn last line
		}
		var r R
		if err := json.Unmarshal(rest[:nl], &r); err != nil {
			return nil, 0, fmt.Errorf("journal: %s: corrupt record at byte %d: %w", path, good, err)
		}
		recs = append(recs, r)
		good += int64(nl + 1)
		rest = rest[nl+1:]
	}
	return recs, good, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// Append writes one record and syncs it to disk before returning, so that a
// record the caller saw appended survives a crash.
func (w *Writer) Append(rec any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", w.path, err)
	}
	return w.writeLine(b)
}

func (w *Writer) writeLine(b []byte) error {
	if w.f == nil {
		return errors.New("journal: " + w.path + ": closed")
	}
	line := append(append(make([]byte, 0, len(b)+1), b...), '\n')
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("journal: %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("journal: %s: %w", w.path, err)
	}
	return nil
}

// Close closes the journal file.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Read returns the records of the journal at path without opening it for
// writing (for merging shards). The header must match as in Open.
func Read[R any](path string, header any) ([]R, error) {
	hdr, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: header: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	recs, _, err := read[R](f, path, hdr)
	return recs, err
}

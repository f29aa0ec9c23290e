// Package journal keeps the append-only record of a long job's finished
// work: one JSON object per line after a header line that fixes the job's
// settings. A restarted job reopens its journal, gets back every finished
// record and skips that work; a line torn by a crash mid-write is dropped.
//
// It is the one resume and shard mechanism of vitprobe's jobs (Hessian
// spectra, landscape grids, Fourier analyses):
//
//   - a journal is opened append-only and locked (flock) for as long as it
//     is open: a second process on the same journal gets a one-line error
//     naming the holder (process, host, start time) instead of
//     interleaving its records with the first one's;
//   - a journal written with other settings is refused with an
//     *errs.JournalMismatchError that names the settings that differ;
//   - Names gives the journal of each shard of a job, and finds every
//     shard's journal for a merge.
package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vitprobe/vitprobe/errs"
	"github.com/vitprobe/vitprobe/internal/atomicfile"
)

// Writer appends records to a journal file. It is not safe for concurrent
// use.
type Writer struct {
	f    *os.File
	path string
}

// Open opens the journal at path, creating it with header if it does not
// exist, and locks it until Close. An existing journal must have been
// written with an identical header (as JSON), else Open fails with an
// *errs.JournalMismatchError: resuming with other settings would mix
// incompatible results. A journal open in another process (or another
// Writer) is an error naming its holder. Open returns the complete
// records already in the journal, decoded as R, in the order they were
// appended.
func Open[R any](path string, header any) (*Writer, []R, error) {
	hdr, err := json.Marshal(header)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %s: header: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	if err := lock(f, path, true); err != nil {
		f.Close()
		return nil, nil, err
	}
	w := &Writer{f: f, path: path}
	recs, good, err := read[R](f, path, hdr)
	if err == nil {
		err = w.start(good, hdr)
	}
	if err != nil {
		_ = w.Close()
		return nil, nil, err
	}
	return w, recs, nil
}

// start cuts a torn tail (the file is append-only, so writes then go to the
// new end) and writes the header of a new journal, syncing its folder.
func (w *Writer) start(good int64, hdr []byte) error {
	if err := w.f.Truncate(good); err != nil {
		return fmt.Errorf("journal: %s: %w", w.path, err)
	}
	if good > 0 {
		return nil
	}
	if err := w.writeLine(hdr); err != nil {
		return err
	}
	// A new journal: make its name durable too, not only its lines.
	return atomicfile.SyncDir(filepath.Dir(w.path))
}

// read parses the header and records of f, returning the records and the
// byte length of the valid prefix (0 for an empty file).
func read[R any](f *os.File, path string, hdr []byte) ([]R, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("journal: %s: %w", path, err)
	}
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
		return nil, 0, fmt.Errorf("journal: %w", &errs.JournalMismatchError{Path: path, Diffs: Diff(data[:nl], hdr)})
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

// Path returns the journal's file.
func (w *Writer) Path() string { return w.path }

// Close unlocks and closes the journal file. It is safe to call more than
// once.
func (w *Writer) Close() error {
	if w.f == nil {
		return nil
	}
	unlock(w.path)
	err := w.f.Close() // releases the lock
	w.f = nil
	return err
}

// Read returns the records of the journal at path without opening it for
// writing (for merging shards). The header must match as in Open. A
// journal still being written by another process is an error naming it.
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
	if err := lock(f, path, false); err != nil {
		return nil, err
	}
	recs, _, err := read[R](f, path, hdr)
	return recs, err
}

// ReadHeader decodes the header line of the journal at path into v,
// refusing fields v does not have (a journal of another job).
func ReadHeader(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	line, err := firstLine(f)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("journal: %s: not a journal of this job: %w", path, err)
	}
	return nil
}

// firstLine reads up to the first newline (the header), at most 64 MiB.
func firstLine(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 64<<10)
	for buf.Len() < 64<<20 {
		n, err := r.Read(chunk)
		if i := bytes.IndexByte(chunk[:n], '\n'); i >= 0 {
			buf.Write(chunk[:i])
			return buf.Bytes(), nil
		}
		buf.Write(chunk[:n])
		if err == io.EOF {
			return nil, errors.New("no complete header line")
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("header line longer than 64 MiB")
}

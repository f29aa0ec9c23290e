// Package atomicfile writes files so that readers see either the old content
// or the complete new content, never a half-written file: data goes to a
// temporary file in the same folder, is synced, renamed into place, and the
// folder is synced so that the rename survives a crash.
//
// A temporary file is named after its target, this process and host
// (".NAME.tmp-PID-HOST-RANDOM"), so that RemoveStale can tell the ones a
// killed process left from those a running one is writing.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File is a file being written atomically. Write to it like an *os.File, then
// Commit to publish it or Abort to discard it.
type File struct {
	*os.File
	path string
	done bool
}

// tmpInfix separates a temporary file's target name from its owner.
const tmpInfix = ".tmp-"

// owner is this process's part of temporary file names: "PID-HOST-".
func owner() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '-' || r == '/' || r == '*' {
			return '_'
		}
		return r
	}, host)
	return strconv.Itoa(os.Getpid()) + "-" + host + "-"
}

// Create starts writing path atomically. The folder must exist.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tmpInfix+owner()+"*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{File: f, path: path}, nil
}

// Commit syncs, closes and renames the temporary file to its final path,
// then syncs the folder.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: sync %s: %w", f.path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: close %s: %w", f.path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort discards the temporary file. It is a no-op after Commit, so it can
// be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir syncs a folder, making the renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	return nil
}

// isUnsupported reports a file system that cannot sync folders.
func isUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)
}

// RemoveStale removes the temporary files in dir that a process of this
// host which no longer runs left behind (killed while writing). Files of
// running processes and of other hosts (a shared folder) are kept.
func RemoveStale(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	host := owner()
	host = host[strings.IndexByte(host, '-')+1:] // "HOST-"
	for _, e := range ents {
		name := e.Name()
		i := strings.LastIndex(name, tmpInfix)
		if e.IsDir() || !strings.HasPrefix(name, ".") || i < 0 {
			continue
		}
		rest := name[i+len(tmpInfix):] // PID-HOST-RANDOM
		pid, after, ok := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || !strings.HasPrefix(after, host) || alive(n) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("atomicfile: %w", err)
		}
	}
	return nil
}

// alive reports whether process pid runs (or cannot be told dead).
func alive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

//go:build unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// lock takes the journal's lock: exclusive for a writer, shared for a
// reader. The lock is the file's flock, released when the file is closed
// (also when the process dies); path+".lock" tells others who holds it.
func lock(f *os.File, path string, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			if exclusive {
				writeHolder(path)
			}
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			what := "is in use"
			if !exclusive {
				what = "is still being written"
			}
			return fmt.Errorf("journal: %s %s by %s; wait for it to end or stop it", path, what, holder(path))
		}
		return fmt.Errorf("journal: lock %s: %w", path, err)
	}
}

// writeHolder records this process as the lock's holder. It is only a
// message for others: the flock decides.
func writeHolder(path string) {
	host, _ := os.Hostname()
	note := fmt.Sprintf("process %d on %s since %s\n", os.Getpid(), host, time.Now().Format("15:04:05"))
	_ = os.WriteFile(path+".lock", []byte(note), 0o644)
}

// holder names the lock's holder as its note says.
func holder(path string) string {
	b, err := os.ReadFile(path + ".lock")
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "another process"
}

// unlock removes the holder note (before the file, and so the lock, is
// closed).
func unlock(path string) { _ = os.Remove(path + ".lock") }

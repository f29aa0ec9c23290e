// Package mem reads the process's resident memory, the figure that shows
// whether libtorch tensors (invisible to Go's garbage collector) leak, and
// the memory available to a new allocation, which jobs check before they
// allocate large bases.
package mem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// RSS returns the resident set size of this process in bytes (Linux:
// VmRSS of /proc/self/status).
func RSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("mem: %w", err)
	}
	return parseRSS(b)
}

func parseRSS(b []byte) (int64, error) { return field(b, "VmRSS:", "/proc/self/status") }

// field returns the "Name:   N kB" value of b in bytes.
func field(b []byte, name, file string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == name {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("mem: %s %q: %w", name, f[1], err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("mem: no %s line in %s", name, file)
}

// Available returns the memory a new allocation can get without swapping,
// in bytes: MemAvailable of /proc/meminfo (Linux's estimate), or less when
// the process's cgroup (v2) caps it lower (memory.max minus memory.current).
func Available() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("mem: %w", err)
	}
	avail, err := field(b, "MemAvailable:", "/proc/meminfo")
	if err != nil {
		return 0, err
	}
	if limit, ok := cgroupRoom("/sys/fs/cgroup"); ok && limit < avail {
		avail = limit
	}
	return avail, nil
}

// cgroupRoom returns memory.max minus memory.current of the cgroup v2
// mounted at dir, false when there is no finite limit.
func cgroupRoom(dir string) (int64, bool) {
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(dir + "/" + name)
		if err != nil {
			return 0, false
		}
		v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		return v, err == nil
	}
	limit, ok := read("memory.max") // "max" when unlimited: not a number
	if !ok {
		return 0, false
	}
	used, _ := read("memory.current")
	return max(0, limit-used), true
}

// GiB converts bytes to gibibytes.
func GiB(b int64) float64 { return float64(b) / (1 << 30) }

// MiB converts bytes to mebibytes.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

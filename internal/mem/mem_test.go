package mem

import (
	"os"
	"testing"
)

func TestParseRSS(t *testing.T) {
	got, err := parseRSS([]byte("Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\n"))
	if err != nil || got != 2048*1024 {
		t.Fatalf("parseRSS = %d, %v; want %d", got, err, 2048*1024)
	}
	if _, err := parseRSS([]byte("Name: x\n")); err == nil {
		t.Error("no VmRSS: want an error")
	}
	n, err := RSS()
	if err != nil || n < 1<<20 {
		t.Errorf("RSS() = %d, %v; a Go test process holds more than 1 MiB", n, err)
	}
}

func TestAvailable(t *testing.T) {
	got, err := field([]byte("MemTotal: 100 kB\nMemAvailable:    2048 kB\n"), "MemAvailable:", "meminfo")
	if err != nil || got != 2048*1024 {
		t.Fatalf("field = %d, %v; want %d", got, err, 2048*1024)
	}
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(dir+"/"+name, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.max", "max\n")
	if _, ok := cgroupRoom(dir); ok {
		t.Error("an unlimited cgroup has a limit")
	}
	write("memory.max", "1000\n")
	write("memory.current", "300\n")
	if room, ok := cgroupRoom(dir); !ok || room != 700 {
		t.Errorf("cgroup room %d, %v; want 700", room, ok)
	}
	n, err := Available()
	if err != nil || n < 1<<20 {
		t.Errorf("Available() = %d, %v; a machine running tests has more than 1 MiB free", n, err)
	}
}

package mem

import "testing"

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

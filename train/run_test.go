package train

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestCheckRunRecordsKernels: a new run folder records the thread count,
// the workers and OpenBLAS's kernels; resuming with other kernels (or threads) warns,
// because the last bits will differ, and still proceeds.
func TestCheckRunRecordsKernels(t *testing.T) {
	c, err := Recipe("mini", "resnet-mini", "mnist")
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	o := Options{Out: t.TempDir(), Threads: 1, Resume: true, Log: &log}
	if fresh, err := checkRun(o, c); err != nil || !fresh {
		t.Fatalf("an empty folder: fresh %v, %v", fresh, err)
	}
	if err := writeRun(o, c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(o.Out, runFile)
	var rec runRecord
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.BLAS != torchx.BLASCore() || rec.Threads != 1 || rec.Workers != 1 {
		t.Errorf("run.json records kernels %q and %d threads; in use: %q, 1", rec.BLAS, rec.Threads, torchx.BLASCore())
	}
	if fresh, err := checkRun(o, c); err != nil || fresh || log.Len() != 0 {
		t.Errorf("the same settings: %v, log %q", err, log.String())
	}
	rec.BLAS, rec.Threads, rec.Workers = "SomeOtherCore", 2, 3
	b, _ = json.Marshal(rec)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkRun(o, c); err != nil {
		t.Fatalf("other kernels are a warning, not an error: %v", err)
	}
	for _, want := range []string{"the run used 2 threads, now 1", "split its steps over 3 workers, now 1", "OpenBLAS's SomeOtherCore kernels, now " + torchx.BLASCore(), torchx.BLASCoreEnv + "=SomeOtherCore"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("warning %q does not say %q", log.String(), want)
		}
	}
}

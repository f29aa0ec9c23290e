package torchx

import (
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

func TestBLASCoreFor(t *testing.T) {
	for _, c := range []struct {
		f    features
		want string
	}{
		{features{avx2: true, fma: true, avx512: true}, "SkylakeX"},
		{features{avx2: true, fma: true}, "Haswell"},
		{features{avx2: true}, ""}, // Haswell's kernels use FMA
		{features{}, ""},
	} {
		if got := blasCoreFor(c.f); got != c.want {
			t.Errorf("blasCoreFor(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
}

// TestBLASCoreChosen: on a CPU with AVX2 or AVX-512 (this machine has
// AVX-512, which OpenBLAS 0.3.21 does not recognise in its model), the
// package never leaves OpenBLAS on its SSE3 fallback, and says so.
func TestBLASCoreChosen(t *testing.T) {
	core := BLASCore()
	if core == "" {
		testdep.Missing(t, "libtorch's BLAS is not OpenBLAS (make setup installs libopenblas0-pthread)")
	}
	want := blasCoreFor(cpuFeatures())
	if os.Getenv(BLASCoreEnv) != "" && !blasChoice.forced {
		t.Skipf("$%s is set by the user: %s", BLASCoreEnv, core)
	}
	if want != "" && core == blasFallback {
		t.Fatalf("OpenBLAS runs its %s fallback on a CPU that allows %s (%s)", core, want, BLASCoreNote())
	}
	note := BLASCoreNote()
	if !strings.Contains(note, core) {
		t.Errorf("note %q does not name the kernels %s", note, core)
	}
	t.Log(note)
}

// TestForceBLASCore switches kernels and back: the same product agrees to
// rounding, a child process sees the choice, and an unknown name is an
// error that changes nothing.
func TestForceBLASCore(t *testing.T) {
	start := BLASCore()
	if start == "" {
		testdep.Missing(t, "libtorch's BLAS is not OpenBLAS (make setup installs libopenblas0-pthread)")
	}
	prev, had := os.LookupEnv(BLASCoreEnv)
	t.Cleanup(func() {
		if err := ForceBLASCore(start); err != nil {
			t.Errorf("back to %s: %v", start, err)
		}
		if had {
			os.Setenv(BLASCoreEnv, prev)
		} else {
			os.Unsetenv(BLASCoreEnv)
		}
	})
	Seed(3)
	a := ts.MustRandn([]int64{96, 80}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	b := ts.MustRandn([]int64{80, 64}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	product := func() []float32 {
		p := a.MustMm(b, false)
		defer p.MustDrop()
		v, err := Values[float32](p)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ref := product()
	for _, core := range []string{"Prescott", "Haswell", "SkylakeX"} {
		if need, ok := blasNeeds[core]; ok && !cpuFeatures().has(need) {
			continue
		}
		if err := ForceBLASCore(core); err != nil {
			t.Fatalf("ForceBLASCore(%s): %v", core, err)
		}
		if got := BLASCore(); got != core {
			t.Fatalf("asked for %s, OpenBLAS uses %s", core, got)
		}
		out, err := exec.Command("sh", "-c", "echo $"+BLASCoreEnv).Output()
		if err != nil || strings.TrimSpace(string(out)) != core {
			t.Errorf("a child process sees %s=%q (%v), want %s", BLASCoreEnv, out, err, core)
		}
		for i, x := range product() {
			if d := math.Abs(float64(x - ref[i])); d > 1e-4*(1+math.Abs(float64(ref[i]))) {
				t.Fatalf("%s: product element %d is %v, %s gave %v", core, i, x, start, ref[i])
			}
		}
	}
	before, env := BLASCore(), os.Getenv(BLASCoreEnv)
	err := ForceBLASCore("NoSuchCore")
	if err == nil || !strings.Contains(err.Error(), "NoSuchCore") {
		t.Errorf("an unknown kernel name: error %v", err)
	}
	if got := BLASCore(); got != before {
		t.Errorf("after a failed switch OpenBLAS uses %s, had %s", got, before)
	}
	if got := os.Getenv(BLASCoreEnv); got != env {
		t.Errorf("after a failed switch %s=%q, was %q", BLASCoreEnv, got, env)
	}
}

package prov

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHash(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	got, err := HashFile(p)
	if err != nil || got != want || HashBytes([]byte("abc")) != want {
		t.Fatalf("hash %s, %v; want %s", got, err, want)
	}
	pr := New("x", []string{"x", "-a"}, 3, 2)
	if err := pr.AddInput(p); err != nil || pr.Inputs[0].SHA256 != want || pr.Seed != 3 {
		t.Fatalf("%+v %v", pr, err)
	}
	if err := pr.AddInput(p + ".missing"); err == nil {
		t.Fatal("missing input: want an error")
	}
}

// TestRuntime: a binary without libtorch records no kernels; one that
// registers its runtime (torchx does at init) records them in every New.
func TestRuntime(t *testing.T) {
	defer SetRuntime(nil)
	SetRuntime(nil)
	if got := New("x", nil, 0, 0).BLAS; got != "" {
		t.Fatalf("BLAS %q without a registered runtime", got)
	}
	core := "Haswell"
	SetRuntime(func() Runtime { return Runtime{Libtorch: "1.13.0", BLAS: core} })
	if got := New("x", nil, 0, 0).BLAS; got != "Haswell" {
		t.Fatalf("BLAS %q, want Haswell", got)
	}
	core = "SkylakeX" // the kernels in use at New, not at registration
	if got := New("x", nil, 0, 0).BLAS; got != "SkylakeX" {
		t.Fatalf("BLAS %q, want SkylakeX", got)
	}
}

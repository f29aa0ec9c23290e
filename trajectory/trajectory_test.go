package trajectory

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/safetensors"
)

func TestPolarClosedForms(t *testing.T) {
	for _, c := range []struct {
		name      string
		w0, w     []float32
		dist, ang float64
	}{
		{"same", []float32{1, 2, 2}, []float32{1, 2, 2}, 0, 0},
		{"scaled outwards", []float32{1, 2, 2}, []float32{2, 4, 4}, 3, 0},
		{"quarter turn", []float32{3, 0}, []float32{0, 3}, 3 * math.Sqrt2, math.Pi / 2},
		{"opposite", []float32{1, 0}, []float32{-2, 0}, 3, math.Pi},
		{"60 degrees", []float32{1, 0}, []float32{0.5, float32(math.Sqrt(3) / 2)}, 1, math.Pi / 3},
		{"from zero", []float32{0, 0}, []float32{3, 4}, 5, 0},
	} {
		d, a := Polar(c.w0, c.w)
		if math.Abs(d-c.dist) > 1e-6 || math.Abs(a-c.ang) > 1e-6 {
			t.Errorf("%s: distance %g, angle %g; want %g, %g", c.name, d, a, c.dist, c.ang)
		}
	}
}

func writeSnap(t *testing.T, dir string, step int64, w []float32) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "snapshots", "step-"+pad(step)+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := safetensors.Encode(f, []safetensors.Tensor{safetensors.FromFloat32s(Tensor, []int64{int64(len(w))}, w)}, nil); err != nil {
		t.Fatal(err)
	}
}

func pad(s int64) string {
	out := []byte("0000000")
	for i := 6; i >= 0 && s > 0; i-- {
		out[i] = byte('0' + s%10)
		s /= 10
	}
	return string(out)
}

// TestReadRun: a run folder's snapshots, written out of order, come back
// in step order with the distances and angles of a rotation at constant
// norm (θ = step·10°, r = 2 sin(θ/2) for unit vectors).
func TestReadRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int64{30, 0, 10, 20} {
		th := float64(s) / 10 * math.Pi / 18
		writeSnap(t, dir, s, []float32{float32(math.Cos(th)), float32(math.Sin(th)), 0})
	}
	if err := os.WriteFile(filepath.Join(dir, "snapshots", "notes.txt"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	pts, err := ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4", len(pts))
	}
	for i, p := range pts {
		th := float64(i) * math.Pi / 18
		if p.Step != int64(10*i) || math.Abs(p.Angle-th) > 1e-6 || math.Abs(p.Distance-2*math.Sin(th/2)) > 1e-6 ||
			math.Abs(p.RelDistance-p.Distance) > 1e-6 || math.Abs(p.Norm-1) > 1e-6 {
			t.Errorf("point %d = %+v, want step %d, angle %g, distance %g", i, p, 10*i, th, 2*math.Sin(th/2))
		}
	}
}

func TestReadRunErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), "snapshots") {
		t.Errorf("no snapshots folder: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSnap(t, dir, 5, []float32{1})
	if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), "step 0") {
		t.Errorf("no initial snapshot: %v", err)
	}
	writeSnap(t, dir, 0, []float32{1, 2})
	if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), "has 1 weights, the first 2") {
		t.Errorf("snapshots of different sizes: %v", err)
	}
}

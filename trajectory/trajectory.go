package trajectory

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/vitprobe/vitprobe/safetensors"
)

// Point is one snapshot's place relative to the initial weights.
type Point struct {
	// Step is the number of optimisation steps done at the snapshot.
	Step int64 `json:"step"`
	// Distance is ‖w_t − w_0‖, RelDistance the same over ‖w_0‖.
	Distance    float64 `json:"distance"`
	RelDistance float64 `json:"rel_distance"`
	// Angle is the angle between w_t and w_0 in radians, in [0, π].
	Angle float64 `json:"angle"`
	// Norm is ‖w_t‖.
	Norm float64 `json:"norm"`
}

// Polar returns the distance ‖w − w0‖ and the angle between w and w0 (in
// radians; 0 when either vector is zero). It panics when the lengths
// differ.
func Polar(w0, w []float32) (distance, angle float64) {
	if len(w0) != len(w) {
		panic(fmt.Sprintf("trajectory: vectors of lengths %d and %d", len(w0), len(w)))
	}
	var d2, dot, n0, n1 float64
	for i, a := range w0 {
		x, y := float64(a), float64(w[i])
		d2 += (y - x) * (y - x)
		dot += x * y
		n0 += x * x
		n1 += y * y
	}
	if n0 == 0 || n1 == 0 {
		return math.Sqrt(d2), 0
	}
	c := dot / math.Sqrt(n0*n1)
	c = math.Max(-1, math.Min(1, c))
	return math.Sqrt(d2), math.Acos(c)
}

func norm(w []float32) float64 {
	var s float64
	for _, x := range w {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Points places snapshots (each a flat weight vector, in step order) in
// polar coordinates around the first one, which must be the initial
// weights. steps gives each snapshot's step.
func Points(steps []int64, snaps [][]float32) ([]Point, error) {
	if len(steps) != len(snaps) {
		return nil, fmt.Errorf("trajectory: %d steps for %d snapshots", len(steps), len(snaps))
	}
	if len(snaps) == 0 {
		return nil, errors.New("trajectory: no snapshots")
	}
	w0 := snaps[0]
	n0 := norm(w0)
	out := make([]Point, len(snaps))
	for i, w := range snaps {
		if len(w) != len(w0) {
			return nil, fmt.Errorf("trajectory: snapshot of step %d has %d weights, the first %d", steps[i], len(w), len(w0))
		}
		d, a := Polar(w0, w)
		p := Point{Step: steps[i], Distance: d, Angle: a, Norm: norm(w)}
		if n0 > 0 {
			p.RelDistance = d / n0
		}
		out[i] = p
	}
	return out, nil
}

var snapName = regexp.MustCompile(`^step-(\d+)\.safetensors$`)

// Tensor is the name of the flat weight vector in a snapshot file
// (train.SnapshotTensor).
const Tensor = "weights"

// ReadRun reads the snapshots of a training run folder (its snapshots/
// subfolder, as train writes them) in step order and returns their polar
// coordinates around the snapshot of step 0. It fails when there is none
// of step 0.
func ReadRun(dir string) ([]Point, error) {
	folder := filepath.Join(dir, "snapshots")
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, fmt.Errorf("trajectory: %w (was the run trained with snapshots?)", err)
	}
	var steps []int64
	for _, e := range entries {
		m := snapName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		s, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("trajectory: %s: %w", e.Name(), err)
		}
		steps = append(steps, s)
	}
	slices.Sort(steps)
	if len(steps) == 0 || steps[0] != 0 {
		return nil, fmt.Errorf("trajectory: %s has no snapshot of step 0 (the initial weights)", folder)
	}
	snaps := make([][]float32, len(steps))
	for i, s := range steps {
		path := filepath.Join(folder, fmt.Sprintf("step-%07d.safetensors", s))
		f, err := safetensors.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("trajectory: %w", err)
		}
		t, ok := f.Lookup(Tensor)
		if !ok {
			return nil, fmt.Errorf("trajectory: %s holds no %q tensor", path, Tensor)
		}
		if snaps[i], err = t.Float32s(); err != nil {
			return nil, fmt.Errorf("trajectory: %s: %w", path, err)
		}
	}
	return Points(steps, snaps)
}

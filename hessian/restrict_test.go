package hessian

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestRestrictPrincipalSubmatrix: the restriction of a dense operator to
// two spans is its principal submatrix on those coordinates, and Lanczos
// on it returns that submatrix's eigenvalues (gonum's EigenSym).
func TestRestrictPrincipalSubmatrix(t *testing.T) {
	a := withSpectrum(decaying(120), newRand(81))
	spans := []Span{{Start: 3, End: 40}, {Start: 70, End: 101}}
	r, err := Restrict(NewDense(a), spans)
	if err != nil {
		t.Fatal(err)
	}
	var coords []int
	for _, s := range spans {
		for i := s.Start; i < s.End; i++ {
			coords = append(coords, i)
		}
	}
	d := len(coords)
	if r.Dim() != d {
		t.Fatalf("Dim %d, want %d", r.Dim(), d)
	}
	sub := mat.NewSymDense(d, nil)
	for i, ci := range coords {
		for j := i; j < d; j++ {
			sub.SetSym(i, j, a.At(ci, coords[j]))
		}
	}
	e := make([]float64, d)
	col := make([]float64, d)
	for j := range d {
		e[j] = 1
		if err := r.MulVec(col, e); err != nil {
			t.Fatal(err)
		}
		e[j] = 0
		for i := range d {
			if col[i] != sub.At(i, j) {
				t.Fatalf("entry (%d, %d) = %v, want %v", i, j, col[i], sub.At(i, j))
			}
		}
	}
	var es mat.EigenSym
	if !es.Factorize(sub, false) {
		t.Fatal("EigenSym failed")
	}
	want := topBy(es.Values(nil), 5, LargestMagnitude)
	got, err := Lanczos(r, 5, &LanczosSettings{Tol: 1e-10})
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelErr(got.Values, want); e > 1e-9 {
		t.Errorf("top 5 %v, want %v (%.1e)", got.Values, want, e)
	}
	v := []float64{1, 2, 3}
	full := make([]float64, 10)
	Embed(full, v, []Span{{1, 2}, {5, 7}})
	if !slices.Equal(full, []float64{0, 1, 0, 0, 0, 2, 3, 0, 0, 0}) {
		t.Errorf("Embed: %v", full)
	}
	back := make([]float64, 3)
	Extract(back, full, []Span{{1, 2}, {5, 7}})
	if !slices.Equal(back, v) {
		t.Errorf("Extract: %v", back)
	}
}

func TestRestrictErrors(t *testing.T) {
	op := NewDense(withSpectrum(decaying(10), newRand(82)))
	for _, spans := range [][]Span{nil, {{0, 0}}, {{3, 2}}, {{0, 11}}, {{0, 5}, {4, 8}}, {{5, 8}, {0, 2}}, {{-1, 2}}} {
		if _, err := Restrict(op, spans); err == nil {
			t.Errorf("spans %v accepted", spans)
		}
	}
	if _, err := Restrict(nil, []Span{{0, 1}}); err == nil {
		t.Error("nil operator accepted")
	}
}

// diagOp is a cheap operator of large dimension: a diagonal matrix.
type diagOp []float64

func (d diagOp) Dim() int { return len(d) }
func (d diagOp) MulVec(dst, v []float64) error {
	for i, x := range v {
		dst[i] = d[i] * x
	}
	return nil
}

// allocated returns the bytes f allocates on the Go heap.
func allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestMemoryEstimates runs every algorithm on an operator of dimension
// 50,000, where the vectors dominate every other allocation, until it
// uses all the vectors its estimate counts (Lanczos and SLQ to their step
// cap), and compares the bytes it allocated with the estimate: within 10%
// plus 1 MB for the small terms the estimate leaves out (the tridiagonal
// matrices, 0.5-0.7 MB here). A basis kept in float64 when float32 is
// asked (8 MB more), or in memory as well as on disk (16 MB), or a
// Krylov method holding a second copy of its basis, fails; a few stray
// vectors (0.4 MB each) would not.
func TestMemoryEstimates(t *testing.T) {
	const n = 50000
	op := make(diagOp, n)
	for i := range op {
		op[i] = math.Sin(float64(i)) * math.Pow(float64(i+1), -0.3)
	}
	dir := t.TempDir()
	// Tol 1e-300: never met, so Lanczos runs to MaxSteps.
	lz := func(b Basis) *LanczosSettings { return &LanczosSettings{MaxSteps: 40, Tol: 1e-300, Basis: b} }
	sq := func(b Basis) *SLQSettings { return &SLQSettings{Steps: 40, Basis: b} }
	cases := []struct {
		name string
		est  Memory
		run  func() error
	}{
		{"power", (*PowerSettings)(nil).Memory(n, 5), func() error {
			_, err := PowerIteration(op, 5, &PowerSettings{MaxIter: 3})
			return err
		}},
		{"lanczos", lz(Basis{}).Memory(n, 5), func() error { _, err := Lanczos(op, 5, lz(Basis{})); return err }},
		{"lanczos float32", lz(Basis{Float32: true}).Memory(n, 5), func() error {
			_, err := Lanczos(op, 5, lz(Basis{Float32: true}))
			return err
		}},
		{"lanczos on disk", lz(Basis{Dir: dir}).Memory(n, 5), func() error {
			_, err := Lanczos(op, 5, lz(Basis{Dir: dir}))
			return err
		}},
		{"slq", sq(Basis{}).Memory(n), func() error { _, err := SLQ(op, sq(Basis{})); return err }},
		{"slq float32", sq(Basis{Float32: true}).Memory(n), func() error {
			_, err := SLQ(op, sq(Basis{Float32: true}))
			return err
		}},
		{"hutchinson", (*TraceSettings)(nil).Memory(n), func() error {
			_, err := Hutchinson(op, &TraceSettings{Samples: 3})
			return err
		}},
		{"hutch++", (&HutchPPSettings{Products: 30}).Memory(n), func() error {
			_, err := HutchPlusPlus(op, &HutchPPSettings{Products: 30})
			return err
		}},
		{"diagonal", (*DiagonalSettings)(nil).Memory(n), func() error {
			_, err := HutchinsonDiagonal(op, &DiagonalSettings{Samples: 3})
			return err
		}},
	}
	for _, tc := range cases {
		var err error
		got := allocated(func() { err = tc.run() })
		if err != nil {
			t.Fatal(tc.name, err)
		}
		t.Logf("%-16s estimate %s; allocated %.1f MB", tc.name, tc.est, float64(got)/1e6)
		if d := math.Abs(float64(got - tc.est.RAM())); d > 0.1*float64(tc.est.RAM())+1e6 {
			t.Errorf("%s: allocated %d bytes, estimate %d", tc.name, got, tc.est.RAM())
		}
	}
	est := lz(Basis{Float32: true, Dir: dir}).Memory(n, 5)
	if est.Disk() != 40*n*4 || !strings.Contains(est.String(), "on disk") {
		t.Errorf("float32 basis on disk: %s", est)
	}
}

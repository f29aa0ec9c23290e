package hessian

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// batchOps builds a small operator per batch, some with a dominant negative
// eigenvalue, and counts builds and releases.
type batchOps struct {
	built, released map[int]int
	fail            map[int]error // operatorFor fails
	nan             map[int]bool  // products are NaN
}

func newBatchOps() *batchOps {
	return &batchOps{built: map[int]int{}, released: map[int]int{}, fail: map[int]error{}, nan: map[int]bool{}}
}

func batchSpectrum(b int) []float64 {
	l := decaying(40)
	for i := range l {
		l[i] *= 1 + float64(b)/10
	}
	if b%3 == 0 {
		l[0] = -1.5 * l[0] // negative curvature dominates
	}
	return l
}

func (o *batchOps) operatorFor(b int) (Operator, func(), error) {
	if err := o.fail[b]; err != nil {
		return nil, nil, err
	}
	o.built[b]++
	var op Operator = NewDense(withSpectrum(batchSpectrum(b), newRand(uint64(1000+b))))
	if o.nan[b] {
		op = funcOp{n: 40, f: func(dst, _ []float64) error { dst[0] = math.NaN(); return nil }}
	}
	return op, func() { o.released[b]++ }, nil
}

// run collects the results of Spectrum.
func run(t *testing.T, ctx context.Context, batches []int, o *batchOps, s *SpectrumSettings) ([]BatchEigen, error) {
	t.Helper()
	var got []BatchEigen
	err := Spectrum(ctx, batches, o.operatorFor, func(r BatchEigen) error {
		got = append(got, r)
		return nil
	}, s)
	return got, err
}

func TestSpectrumDefaults(t *testing.T) {
	o := newBatchOps()
	got, err := run(t, context.Background(), []int{0, 1}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		want := topBy(batchSpectrum(r.Batch), 5, LargestMagnitude)
		// Power iteration at PyHessian's defaults: about 1e-3 relative
		// (see TestPowerIterationPyHessianDefaults).
		if len(r.Values) != 5 || maxRelErr(r.Values, want) > 1e-2 {
			t.Errorf("batch %d: %v, want about %v", r.Batch, r.Values, want)
		}
		if r.Values[0] >= 0 && r.Batch%3 == 0 {
			t.Errorf("batch %d: dominant eigenvalue %v, want negative", r.Batch, r.Values[0])
		}
	}
	if !reflect.DeepEqual(o.built, o.released) || len(o.built) != 2 {
		t.Errorf("built %v, released %v", o.built, o.released)
	}
}

// TestSpectrumSharding: a batch's numbers depend on its index alone, so
// shards, a resumed run and a single run agree exactly.
func TestSpectrumSharding(t *testing.T) {
	batches := []int{0, 1, 2, 3, 4, 5, 6}
	for name, solver := range map[string]Solver{"power": nil, "lanczos": &LanczosSettings{Tol: 1e-8}} {
		t.Run(name, func(t *testing.T) {
			s := SpectrumSettings{K: 3, Solver: solver, Seed: 99}
			single, err := run(t, context.Background(), batches, newBatchOps(), &s)
			if err != nil {
				t.Fatal(err)
			}
			byBatch := map[int]BatchEigen{}
			for shard := range 3 {
				sh := s
				sh.Skip = func(b int) bool { return b%3 != shard }
				rev := slices.Clone(batches)
				slices.Reverse(rev) // order must not matter either
				part, err := run(t, context.Background(), rev, newBatchOps(), &sh)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range part {
					byBatch[r.Batch] = r
				}
			}
			for _, r := range single {
				if !reflect.DeepEqual(r, byBatch[r.Batch]) {
					t.Errorf("batch %d: single run %+v, sharded %+v", r.Batch, r, byBatch[r.Batch])
				}
			}
			other, err := run(t, context.Background(), []int{2}, newBatchOps(), &SpectrumSettings{K: 3, Solver: solver, Seed: 100})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Equal(other[0].Values, single[2].Values) {
				t.Errorf("batch 2 gave identical values %v with another base seed", other[0].Values)
			}
		})
	}
}

func TestSpectrumSkip(t *testing.T) {
	o := newBatchOps()
	done := map[int]bool{1: true, 3: true}
	got, err := run(t, context.Background(), []int{0, 1, 2, 3, 4}, o, &SpectrumSettings{K: 1, Skip: func(b int) bool { return done[b] }})
	if err != nil {
		t.Fatal(err)
	}
	var ran []int
	for _, r := range got {
		ran = append(ran, r.Batch)
	}
	if !slices.Equal(ran, []int{0, 2, 4}) || o.built[1]+o.built[3] != 0 {
		t.Errorf("ran %v, built %v; want 0, 2, 4 only", ran, o.built)
	}
}

func TestSpectrumErrorsNameTheBatch(t *testing.T) {
	o := newBatchOps()
	o.fail[17] = errBoom
	got, err := run(t, context.Background(), []int{16, 17, 18}, o, &SpectrumSettings{K: 2})
	if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "hessian: batch 17: ") || len(got) != 1 {
		t.Errorf("error %v after %d results, want batch 17's error after 1", err, len(got))
	}

	o = newBatchOps()
	o.nan[5] = true
	_, err = run(t, context.Background(), []int{4, 5}, o, &SpectrumSettings{K: 2, Solver: &LanczosSettings{}})
	if !errors.Is(err, ErrNonFinite) || !strings.HasPrefix(err.Error(), "hessian: batch 5: ") {
		t.Errorf("NaN products: error %v", err)
	}
	if o.released[5] != 1 {
		t.Errorf("operator of the failing batch released %d times, want 1", o.released[5])
	}

	err = Spectrum(context.Background(), []int{8}, newBatchOps().operatorFor, func(BatchEigen) error { return errBoom }, nil)
	if !errors.Is(err, errBoom) || !strings.HasPrefix(err.Error(), "hessian: batch 8: ") {
		t.Errorf("done error: %v", err)
	}
	if err := Spectrum(context.Background(), []int{0}, nil, nil, nil); err == nil {
		t.Error("nil functions: no error")
	}
}

func TestSpectrumCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newBatchOps()
	var got []int
	err := Spectrum(ctx, []int{0, 1, 2, 3}, o.operatorFor, func(r BatchEigen) error {
		got = append(got, r.Batch)
		if len(got) == 2 {
			cancel()
		}
		return nil
	}, &SpectrumSettings{K: 1})
	if !errors.Is(err, context.Canceled) || !slices.Equal(got, []int{0, 1}) || o.built[2] != 0 {
		t.Errorf("error %v after batches %v (built %v), want context.Canceled after 0 and 1", err, got, o.built)
	}
}

func TestBatchSeed(t *testing.T) {
	seen := map[uint64]bool{}
	for base := range uint64(4) {
		for b := -2; b < 100; b++ {
			s := BatchSeed(base, b)
			if seen[s] {
				t.Fatalf("BatchSeed(%d, %d) repeats a seed", base, b)
			}
			seen[s] = true
		}
	}
}

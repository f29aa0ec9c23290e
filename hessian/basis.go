package hessian

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"gonum.org/v1/gonum/floats"
)

// Basis selects where Lanczos and SLQ keep their Krylov basis, the one
// memory cost that grows with the number of steps. The zero value keeps it
// in memory in float64, as before this option existed, with bit-identical
// results.
type Basis struct {
	// Float32 stores the basis vectors in single precision: half the
	// memory, and orthogonality (hence the Ritz values) to about 1e-7
	// relative instead of 1e-15, well below the accuracy asked of
	// eigenvalues of a float32 model's Hessian.
	Float32 bool
	// Dir, when not empty, keeps the basis in a temporary file in that
	// directory (removed when the algorithm returns) instead of memory;
	// every step then reads the file two to six times (the
	// reorthogonalisation passes), which the page cache usually serves.
	Dir string
}

// bytesPerValue returns the size of one stored basis value.
func (b Basis) bytesPerValue() int {
	if b.Float32 {
		return 4
	}
	return 8
}

// String names the storage, e.g. "float32 on disk".
func (b Basis) String() string {
	s := "float64"
	if b.Float32 {
		s = "float32"
	}
	if b.Dir != "" {
		return s + " on disk"
	}
	return s + " in memory"
}

// basisStore holds the orthonormal vectors of a Krylov basis. All
// operations visit the vectors in order, so a store on disk reads them
// sequentially.
type basisStore interface {
	// len returns the number of stored vectors.
	len() int
	// add appends v. The float64 memory store keeps v itself (the caller
	// hands over a slice it no longer writes to); the others copy it.
	add(v []float64) error
	// dots stores <w, q_p> in dst[p] for every stored q_p.
	dots(dst, w []float64) error
	// subtract computes w -= Σ_p coef[p]·q_p, in order of p.
	subtract(w, coef []float64) error
	// combine stores Σ_p coef(p)·q_p in dst (which it clears first).
	combine(dst []float64, coef func(p int) float64) error
	// close releases the storage.
	close() error
}

// owns reports whether the store keeps the slices handed to add.
func (b Basis) owns() bool { return !b.Float32 && b.Dir == "" }

// newBasisStore returns the store b asks for, for vectors of length n.
func newBasisStore(b Basis, n int) (basisStore, error) {
	if b.Dir != "" {
		return newDiskStore(b.Dir, n, b.Float32)
	}
	if b.Float32 {
		return &mem32Store{}, nil
	}
	return &mem64Store{}, nil
}

// mem64Store keeps float64 vectors in memory: the default, whose
// arithmetic is exactly that of the original implementation.
type mem64Store struct{ q [][]float64 }

func (s *mem64Store) len() int { return len(s.q) }

func (s *mem64Store) add(v []float64) error {
	s.q = append(s.q, v)
	return nil
}

func (s *mem64Store) dots(dst, w []float64) error {
	for p, q := range s.q {
		dst[p] = floats.Dot(w, q)
	}
	return nil
}

func (s *mem64Store) subtract(w, coef []float64) error {
	for p, q := range s.q {
		floats.AddScaled(w, -coef[p], q)
	}
	return nil
}

func (s *mem64Store) combine(dst []float64, coef func(int) float64) error {
	clear(dst)
	for p, q := range s.q {
		floats.AddScaled(dst, coef(p), q)
	}
	return nil
}

func (s *mem64Store) close() error { s.q = nil; return nil }

// mem32Store keeps float32 vectors in memory; arithmetic is in float64.
type mem32Store struct{ q [][]float32 }

func (s *mem32Store) len() int { return len(s.q) }

func (s *mem32Store) add(v []float64) error {
	q := make([]float32, len(v))
	for i, x := range v {
		q[i] = float32(x)
	}
	s.q = append(s.q, q)
	return nil
}

func (s *mem32Store) dots(dst, w []float64) error {
	for p, q := range s.q {
		dst[p] = dot32(w, q)
	}
	return nil
}

func (s *mem32Store) subtract(w, coef []float64) error {
	for p, q := range s.q {
		axpy32(w, -coef[p], q)
	}
	return nil
}

func (s *mem32Store) combine(dst []float64, coef func(int) float64) error {
	clear(dst)
	for p, q := range s.q {
		axpy32(dst, coef(p), q)
	}
	return nil
}

func (s *mem32Store) close() error { s.q = nil; return nil }

func dot32(w []float64, q []float32) float64 {
	var s float64
	for i, x := range q {
		s += w[i] * float64(x)
	}
	return s
}

func axpy32(w []float64, a float64, q []float32) {
	for i, x := range q {
		w[i] += a * float64(x)
	}
}

// diskStore keeps the vectors in a temporary file, little-endian, one after
// the other, and reads them back one at a time into buf.
type diskStore struct {
	f      *os.File
	n      int
	single bool
	count  int
	raw    []byte    // one encoded vector
	buf    []float64 // one decoded vector
	rd     *bufio.Reader
}

func newDiskStore(dir string, n int, single bool) (*diskStore, error) {
	f, err := os.CreateTemp(dir, "vitprobe-krylov-*.basis")
	if err != nil {
		return nil, fmt.Errorf("basis on disk: %w", err)
	}
	size := 8
	if single {
		size = 4
	}
	return &diskStore{f: f, n: n, single: single, raw: make([]byte, n*size), buf: make([]float64, n)}, nil
}

func (s *diskStore) len() int { return s.count }

func (s *diskStore) add(v []float64) error {
	if s.single {
		for i, x := range v {
			binary.LittleEndian.PutUint32(s.raw[4*i:], math.Float32bits(float32(x)))
		}
	} else {
		for i, x := range v {
			binary.LittleEndian.PutUint64(s.raw[8*i:], math.Float64bits(x))
		}
	}
	if _, err := s.f.WriteAt(s.raw, int64(s.count)*int64(len(s.raw))); err != nil {
		return fmt.Errorf("basis on disk: write vector %d: %w", s.count+1, err)
	}
	s.count++
	return nil
}

// each decodes the stored vectors in order and calls f with each.
func (s *diskStore) each(f func(p int, q []float64)) error {
	sec := io.NewSectionReader(s.f, 0, int64(s.count)*int64(len(s.raw)))
	if s.rd == nil {
		s.rd = bufio.NewReaderSize(sec, diskReadBuffer)
	} else {
		s.rd.Reset(sec)
	}
	r := s.rd
	for p := range s.count {
		if _, err := io.ReadFull(r, s.raw); err != nil {
			return fmt.Errorf("basis on disk: read vector %d: %w", p+1, err)
		}
		if s.single {
			for i := range s.buf {
				s.buf[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(s.raw[4*i:])))
			}
		} else {
			for i := range s.buf {
				s.buf[i] = math.Float64frombits(binary.LittleEndian.Uint64(s.raw[8*i:]))
			}
		}
		f(p, s.buf)
	}
	return nil
}

func (s *diskStore) dots(dst, w []float64) error {
	return s.each(func(p int, q []float64) { dst[p] = floats.Dot(w, q) })
}

func (s *diskStore) subtract(w, coef []float64) error {
	return s.each(func(p int, q []float64) { floats.AddScaled(w, -coef[p], q) })
}

func (s *diskStore) combine(dst []float64, coef func(int) float64) error {
	clear(dst)
	return s.each(func(p int, q []float64) { floats.AddScaled(dst, coef(p), q) })
}

func (s *diskStore) close() error {
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := errors.Join(s.f.Close(), os.Remove(name))
	s.f = nil
	if err != nil {
		return fmt.Errorf("basis on disk: %w", err)
	}
	return nil
}

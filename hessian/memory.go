package hessian

import (
	"fmt"
	"strconv"
)

// Memory is what an algorithm keeps while it runs, stated before it runs:
// float64 working vectors of the operator's dimension, and for the Krylov
// methods a basis stored as the Basis option says. Every number is an
// upper bound reached by a run that uses all its steps. Small terms are
// left out: the tridiagonal matrix and its eigenvectors (O(steps²)
// values) and the eigenvalues.
type Memory struct {
	// Dim is the length of every vector: the operator's dimension (the
	// parameter count, for a Hessian).
	Dim int
	// Vectors is the number of float64 vectors of length Dim held in
	// memory at once, the returned eigenvectors included.
	Vectors int
	// Basis is the number of Krylov basis vectors stored (Lanczos, SLQ,
	// and the sketch of Hutch++), and BasisBytes the bytes per stored value
	// (8, or 4 with Basis.Float32).
	Basis, BasisBytes int
	// BasisOnDisk reports that the basis is in a temporary file.
	BasisOnDisk bool
}

// diskReadBuffer is the read buffer of a basis on disk.
const diskReadBuffer = 1 << 20

// RAM returns the bytes held in memory (with a basis on disk, its read
// buffer of 1 MiB included).
func (m Memory) RAM() int64 {
	b := int64(m.Vectors) * int64(m.Dim) * 8
	if m.BasisOnDisk {
		b += diskReadBuffer
	} else {
		b += int64(m.Basis) * int64(m.Dim) * int64(m.BasisBytes)
	}
	return b
}

// Disk returns the bytes written to a temporary file.
func (m Memory) Disk() int64 {
	if !m.BasisOnDisk {
		return 0
	}
	return int64(m.Basis) * int64(m.Dim) * int64(m.BasisBytes)
}

// String states the memory in words, for a log line before a run, e.g.
// "105 vectors × 268,650 values × 8 B = 225.7 MB in memory".
func (m Memory) String() string {
	s := fmt.Sprintf("%d vectors × %s values × 8 B", m.Vectors, group(m.Dim))
	if m.Basis > 0 {
		where := ""
		if m.BasisOnDisk {
			where = " on disk"
		}
		s += fmt.Sprintf(" + basis of %d × %s × %d B%s", m.Basis, group(m.Dim), m.BasisBytes, where)
	}
	s += " = " + bytesText(m.RAM()) + " in memory"
	if d := m.Disk(); d > 0 {
		s += ", " + bytesText(d) + " on disk"
	}
	return s
}

// group writes n with thousands separators.
func group(n int) string {
	s := strconv.Itoa(n)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}

// bytesText writes a byte count in decimal units.
func bytesText(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(b)/1e3)
	}
	return fmt.Sprintf("%d B", b)
}

// krylovMemory is the memory of a Krylov run of up to steps basis vectors,
// plus extra float64 vectors.
func krylovMemory(n, steps, extra int, b Basis) Memory {
	m := Memory{Dim: n, Vectors: extra, Basis: steps, BasisBytes: b.bytesPerValue(), BasisOnDisk: b.Dir != ""}
	if !b.owns() {
		m.Vectors += 2 // float64 copies of the two newest basis vectors
	}
	if b.Dir != "" {
		m.Vectors += 2 // a decoded vector and its encoded bytes
	}
	return m
}

// Memory states the memory PowerIteration keeps for k eigenpairs of an
// operator of dimension n: the k eigenvectors, the iterate and its
// product.
func (s *PowerSettings) Memory(n, k int) Memory {
	return Memory{Dim: n, Vectors: k + 2}
}

// Memory states the memory Lanczos keeps for k eigenpairs of an operator of
// dimension n with these settings: the basis (MaxSteps vectors, stored as
// Basis says), the start vector, the new direction and the k Ritz vectors
// returned, and with a float32 or disk basis float64 copies of its two
// newest vectors (and a read buffer on disk).
func (s *LanczosSettings) Memory(n, k int) Memory {
	var set LanczosSettings
	if s != nil {
		set = *s
	}
	steps, err := lanczosSteps(&set, n, k)
	if err != nil {
		steps = min(n, max(100, 4*k))
	}
	return krylovMemory(n, steps, k+2, set.Basis)
}

// Memory states the memory Hutchinson keeps for an operator of dimension
// n: the probe vector and its product.
func (s *TraceSettings) Memory(n int) Memory {
	return Memory{Dim: n, Vectors: 2}
}

// Memory states the memory SLQ keeps for an operator of dimension n: the
// basis of one start vector at a time (Steps vectors, stored as Basis
// says), the start vector and the new direction.
func (s *SLQSettings) Memory(n int) Memory {
	var set SLQSettings
	if s != nil {
		set = *s
	}
	steps := set.Steps
	if steps <= 0 {
		steps = 100
	}
	return krylovMemory(n, min(steps, n), 2, set.Basis)
}

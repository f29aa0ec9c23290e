package landscape

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Norm is how a random direction is scaled to the weights.
type Norm string

const (
	// NormFilter is Li et al. (2018) filter normalisation: for every
	// output filter or unit k of a tensor (every slice along dimension 0),
	// d_k is scaled so that ||d_k|| = ||w_k||. A rank-1 tensor that is
	// allowed to move has one filter per element; a rank-0 tensor is one
	// filter.
	NormFilter Norm = "filter"
	// NormDim0 is the official how-do-vits-work code's variant: norms are
	// taken along dimension 0, so for every position j of the remaining
	// dimensions (input channel and kernel position of a conv weight) the
	// column d[:, j] is scaled so that ||d[:, j]|| = ||w[:, j]||. A rank-1
	// tensor is scaled as a whole (one column). The official code divides
	// by ||d[:, j]|| + 1e-7; this one divides exactly and leaves a
	// zero-norm column at zero, a relative difference below 1e-7 for any
	// realistic column.
	NormDim0 Norm = "dim0"
	// NormNone leaves the direction as drawn.
	NormNone Norm = "none"
)

// Norms lists the normalisation modes, for flag help.
var Norms = []Norm{NormFilter, NormDim0, NormNone}

// ParseNorm reads a normalisation mode by name.
func ParseNorm(s string) (Norm, error) {
	for _, n := range Norms {
		if strings.EqualFold(s, string(n)) {
			return n, nil
		}
	}
	return "", fmt.Errorf("landscape: unknown normalisation %q (want filter, dim0 or none)", s)
}

// Random returns the random direction number k (0 for the x axis, 1 for
// y, and so on) made from seed: independent standard normal values for
// every tensor that may move, zeros for Zero and Buffer tensors, then
// scaled to params by mode. Each tensor draws from its own stream keyed by
// (seed, k, name), so its values depend on nothing else: not on the other
// tensors, their order, or on what was drawn before. Directions with
// different k differ.
func Random(params []Param, seed uint64, k int, mode Norm) (Direction, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	if _, err := ParseNorm(string(mode)); err != nil {
		return nil, err
	}
	d := make(Direction, len(params))
	for i := range params {
		p := &params[i]
		d[i] = make([]float64, len(p.Data))
		if p.still() {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, streamKey(k, p.Name)))
		for j := range d[i] {
			d[i][j] = rng.NormFloat64()
		}
	}
	if err := Normalize(d, params, mode); err != nil {
		return nil, err
	}
	return d, nil
}

// streamKey hashes a direction number and a tensor name into the second
// word of a PCG seed.
func streamKey(k int, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.Itoa(k)))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return h.Sum64()
}

// Normalize scales d in place to params by mode (see Norm) and sets the
// tensors marked Zero or Buffer to zero. A filter or column whose
// direction has zero norm stays zero; one whose weights have zero norm
// becomes zero. No NaN can come out of finite input.
func Normalize(d Direction, params []Param, mode Norm) error {
	if err := checkParams(params); err != nil {
		return err
	}
	if err := d.check(params, "direction"); err != nil {
		return err
	}
	if _, err := ParseNorm(string(mode)); err != nil {
		return err
	}
	for i := range params {
		p := &params[i]
		if p.still() {
			clear(d[i])
			continue
		}
		if len(p.Data) == 0 {
			continue
		}
		rows := 1
		if len(p.Shape) > 0 {
			rows = p.Shape[0]
		}
		cols := len(p.Data) / rows
		switch mode {
		case NormFilter:
			for r := range rows {
				lo, hi := r*cols, (r+1)*cols
				scaleTo(d[i][lo:hi:hi], p.Data[lo:hi:hi], 1)
			}
		case NormDim0:
			if len(p.Shape) < 2 {
				scaleTo(d[i], p.Data, 1)
				continue
			}
			for c := range cols {
				scaleTo(d[i][c:], p.Data[c:], cols)
			}
		}
	}
	return nil
}

// scaleTo scales the strided vector d[0], d[stride], ... so that its norm
// equals that of w[0], w[stride], ...; a zero vector stays zero.
func scaleTo(d, w []float64, stride int) {
	var dn, wn float64
	for j := 0; j < len(d); j += stride {
		dn += d[j] * d[j]
		wn += w[j] * w[j]
	}
	if dn == 0 {
		return
	}
	s := math.Sqrt(wn) / math.Sqrt(dn)
	for j := 0; j < len(d); j += stride {
		d[j] *= s
	}
}

// Between returns the direction from a to b, d = b - a, unnormalised, so
// that origin a plus 1 times d is b exactly up to rounding: the line from an
// initial to a final checkpoint, say. Every tensor moves, Zero and Buffer
// ones included, so that both ends are the real checkpoints; call Mask to
// keep some still. a and b must list the same names with the same shapes,
// in the same order.
func Between(a, b []Param) (Direction, error) {
	if err := checkParamsIn(a, "landscape: between: first set"); err != nil {
		return nil, err
	}
	if err := checkParamsIn(b, "landscape: between: second set"); err != nil {
		return nil, err
	}
	inB := make(map[string]bool, len(b))
	for i := range b {
		inB[b[i].Name] = true
	}
	for i := range a {
		if !inB[a[i].Name] {
			return nil, fmt.Errorf("landscape: between: %q is in the first set of parameters but not in the second", a[i].Name)
		}
	}
	if len(a) != len(b) {
		inA := make(map[string]bool, len(a))
		for i := range a {
			inA[a[i].Name] = true
		}
		for i := range b {
			if !inA[b[i].Name] {
				return nil, fmt.Errorf("landscape: between: %q is in the second set of parameters but not in the first", b[i].Name)
			}
		}
	}
	d := make(Direction, len(a))
	for i := range a {
		pa, pb := &a[i], &b[i]
		if pa.Name != pb.Name {
			return nil, fmt.Errorf("landscape: between: parameter %d is %q in the first set and %q in the second; list both in the same order", i, pa.Name, pb.Name)
		}
		if !equalShape(pa.Shape, pb.Shape) {
			return nil, fmt.Errorf("landscape: between: %q has shape %v in the first set and %v in the second", pa.Name, pa.Shape, pb.Shape)
		}
		d[i] = make([]float64, len(pa.Data))
		for j := range d[i] {
			d[i][j] = pb.Data[j] - pa.Data[j]
		}
	}
	return d, nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Mask sets to zero the tensors of d whose parameters are marked Zero or
// Buffer.
func (d Direction) Mask(params []Param) error {
	if err := d.check(params, "direction"); err != nil {
		return err
	}
	for i := range params {
		if params[i].still() {
			clear(d[i])
		}
	}
	return nil
}

// FromVector splits a flat vector over all trainable parameters (a Hessian
// eigenvector, say) into a direction: v is the concatenation, in list
// order, of the data of every parameter that is not a Buffer; buffers get
// zeros. Zero marks are ignored (call Mask to apply them) and v is not
// normalised (call Normalize to scale it to the weights).
func FromVector(params []Param, v []float64) (Direction, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	n, count := 0, 0
	for i := range params {
		if !params[i].Buffer {
			n += len(params[i].Data)
			count++
		}
	}
	if len(v) != n {
		return nil, fmt.Errorf("landscape: vector has %d values, the %d trainable parameters hold %d", len(v), count, n)
	}
	d := make(Direction, len(params))
	off := 0
	for i := range params {
		d[i] = make([]float64, len(params[i].Data))
		if params[i].Buffer {
			continue
		}
		off += copy(d[i], v[off:off+len(d[i])])
	}
	return d, nil
}

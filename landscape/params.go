package landscape

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// Param is one named tensor of a model given as plain data: its shape and
// its values in row-major order (float64 copies of the model's weights).
// Dimension 0 is the output dimension: a conv weight is (out, in, kh, kw),
// a linear weight (out, in), as in PyTorch.
type Param struct {
	Name  string
	Shape []int
	Data  []float64
	// Zero marks a tensor whose direction must be zero, so that it keeps
	// its origin value over the whole grid: biases, normalisation scales
	// and shifts, position embeddings, relative-position tables, class
	// tokens. ZeroRule sets it.
	Zero bool
	// Buffer marks a tensor that is not a trainable parameter (batch-norm
	// running statistics, counters). Random directions are zero on it, and
	// l1 and l2 leave it out, as the official code sums its norms over
	// model.parameters(), which holds no buffers.
	Buffer bool
}

// still reports whether random directions are zero on p.
func (p *Param) still() bool { return p.Zero || p.Buffer }

// size returns the number of values p's shape holds.
func size(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// checkParams checks that every parameter has a name seen once and that its
// data has as many values as its shape holds.
func checkParams(params []Param) error { return checkParamsIn(params, "landscape") }

// checkParamsIn is checkParams with the errors' prefix.
func checkParamsIn(params []Param, prefix string) error {
	seen := make(map[string]bool, len(params))
	for i := range params {
		p := &params[i]
		if p.Name == "" {
			return fmt.Errorf("%s: parameter %d has no name", prefix, i)
		}
		if seen[p.Name] {
			return fmt.Errorf("%s: parameter %q is listed twice", prefix, p.Name)
		}
		seen[p.Name] = true
		n, ok := size(p.Shape)
		if !ok {
			return fmt.Errorf("%s: parameter %q: invalid shape %v", prefix, p.Name, p.Shape)
		}
		if n != len(p.Data) {
			return fmt.Errorf("%s: parameter %q: shape %v holds %d values, data has %d", prefix, p.Name, p.Shape, n, len(p.Data))
		}
	}
	return nil
}

// Direction is a direction in parameter space: one slice of values per
// parameter, in the order of the parameter list it was made for, each as
// long as that parameter's data.
type Direction [][]float64

// check checks that d fits params and holds only finite values.
func (d Direction) check(params []Param, what string) error {
	if len(d) != len(params) {
		return fmt.Errorf("landscape: %s has %d tensors, the parameters %d", what, len(d), len(params))
	}
	for i := range params {
		if len(d[i]) != len(params[i].Data) {
			return fmt.Errorf("landscape: %s: tensor %q has %d values, the parameter %d", what, params[i].Name, len(d[i]), len(params[i].Data))
		}
		for j, v := range d[i] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("landscape: %s: tensor %q has a non-finite value %g at %d", what, params[i].Name, v, j)
			}
		}
	}
	return nil
}

// Norm returns the Euclidean norm of d over all its tensors.
func (d Direction) Norm() float64 {
	var s float64
	for _, t := range d {
		for _, v := range t {
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// Fingerprint returns the hex SHA-256 of the directions' values (their
// tensor lengths and float64 bits, in order). Put it in the journal header
// (DirSpec.SHA256): it pins at once everything that made the directions,
// seed, normalisation, zero mask and the weights they were scaled to.
func Fingerprint(dirs ...Direction) string {
	h := sha256.New()
	buf := make([]byte, 0, 8*1024)
	flush := func() {
		h.Write(buf)
		buf = buf[:0]
	}
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(dirs)))
	for _, d := range dirs {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(len(d)))
		for _, t := range d {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(len(t)))
			for _, v := range t {
				if len(buf) == cap(buf) {
					flush()
				}
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			}
		}
	}
	flush()
	return hex.EncodeToString(h.Sum(nil))
}

// L1 returns the official code's l1: the sum over the trainable tensors
// (Buffer false) of their L1 norms, sum |w|.
func L1(params []Param) float64 {
	return sumPerTensor(params, func(d []float64) float64 {
		var s float64
		for _, v := range d {
			s += math.Abs(v)
		}
		return s
	})
}

// L2 returns the official code's l2: the sum over the trainable tensors
// (Buffer false) of their Frobenius norms, each unsquared; it is not the
// norm of all weights together, nor the usual squared weight-decay term.
func L2(params []Param) float64 {
	return sumPerTensor(params, func(d []float64) float64 { return math.Sqrt(sqSum(d)) })
}

// sumPerTensor adds f over the trainable tensors (Buffer false), in order:
// each tensor's value first, then their sum (the order NormsSq adds them).
func sumPerTensor(params []Param, f func([]float64) float64) float64 {
	var total float64
	for i := range params {
		if !params[i].Buffer {
			total += f(params[i].Data)
		}
	}
	return total
}

// sqSum returns Σ v² over d, in order.
func sqSum(d []float64) float64 {
	var q float64
	for _, v := range d {
		q += v * v
	}
	return q
}

// DefaultZeroPatterns are the name patterns whose tensors get zero
// directions by default: position embeddings, relative-position bias
// tables and class tokens (the official code passes "pos_embed" and
// "relative_position").
var DefaultZeroPatterns = []string{
	"pos_embed", "pos_emb", "position_embedding", "relative_position", "rel_pos", "cls_token", "class_token",
}

// ZeroRule decides which parameters get zero directions. The zero value is
// the paper's rule: tensors of rank below 2 and the DefaultZeroPatterns.
type ZeroRule struct {
	// Move1D lets tensors of rank 0 and 1 (biases, norm scales and shifts,
	// running statistics) move; by default their directions are zero.
	Move1D bool
	// Patterns are regular expressions (Go syntax, unanchored) matched
	// against parameter names; a match gets a zero direction. nil means
	// DefaultZeroPatterns, an empty non-nil slice none.
	Patterns []string
}

// Apply sets Zero on the parameters the rule selects. It never clears a
// Zero that is already set.
func (r ZeroRule) Apply(params []Param) error {
	pats := r.Patterns
	if pats == nil {
		pats = DefaultZeroPatterns
	}
	res := make([]*regexp.Regexp, len(pats))
	for i, p := range pats {
		re, err := regexp.Compile(p)
		if err != nil {
			return fmt.Errorf("landscape: zero pattern %q: %w", p, err)
		}
		res[i] = re
	}
	for i := range params {
		p := &params[i]
		if !r.Move1D && len(p.Shape) < 2 {
			p.Zero = true
			continue
		}
		if slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(p.Name) }) {
			p.Zero = true
		}
	}
	return nil
}

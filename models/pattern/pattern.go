package pattern

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Block letters.
const (
	Conv = 'C'
	MSA  = 'M'
)

// Stages is a block pattern: one string of C and M letters per stage, in
// depth order.
type Stages []string

// Parse reads a pattern such as "C,CM,CM,CM" and validates it.
func Parse(s string) (Stages, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("pattern: empty block pattern")
	}
	p := Stages(strings.Split(s, ","))
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks that every stage has at least one block, that blocks
// are C or M, and that every stage starts with a C block (the first block
// of a stage changes the width or the resolution, which an MSA block, a
// residual around an attention, cannot).
func (p Stages) Validate() error {
	if len(p) == 0 {
		return errors.New("pattern: no stages")
	}
	for i, s := range p {
		if s == "" {
			return fmt.Errorf("pattern: stage %d has no blocks", i+1)
		}
		for j, c := range s {
			if c != Conv && c != MSA {
				return fmt.Errorf("pattern: stage %d, block %d: %q is not C (convolution) or M (MSA)", i+1, j+1, string(c))
			}
		}
		if s[0] != Conv {
			return fmt.Errorf("pattern: stage %d starts with an MSA block; the first block of a stage must be C (it changes the width or resolution)", i+1)
		}
	}
	return nil
}

// String writes the stages joined by commas.
func (p Stages) String() string { return strings.Join(p, ",") }

// Clone returns a copy.
func (p Stages) Clone() Stages { return append(Stages(nil), p...) }

// Blocks returns the number of blocks per stage.
func (p Stages) Blocks() []int {
	out := make([]int, len(p))
	for i, s := range p {
		out[i] = len(s)
	}
	return out
}

// MSAs returns the number of MSA blocks.
func (p Stages) MSAs() int {
	n := 0
	for _, s := range p {
		n += strings.Count(s, string(MSA))
	}
	return n
}

// StageMSAs returns the number of MSA blocks of each stage.
func (p Stages) StageMSAs() []int {
	out := make([]int, len(p))
	for i, s := range p {
		out[i] = strings.Count(s, string(MSA))
	}
	return out
}

// Replace returns a copy of p with block b of stage s made an MSA block.
// It fails when that block is not a C block or is the first of its stage.
func (p Stages) Replace(s, b int) (Stages, error) {
	if s < 0 || s >= len(p) || b < 0 || b >= len(p[s]) {
		return nil, fmt.Errorf("pattern: no block %d in stage %d of %s", b+1, s+1, p)
	}
	if b == 0 {
		return nil, fmt.Errorf("pattern: block 1 of stage %d cannot be an MSA block", s+1)
	}
	if p[s][b] != Conv {
		return nil, fmt.Errorf("pattern: block %d of stage %d is already an MSA block", b+1, s+1)
	}
	q := p.Clone()
	r := []byte(q[s])
	r[b] = MSA
	q[s] = string(r)
	return q, nil
}

// AllConv returns p with every MSA block made a C block: the convolutional
// baseline of the same depth.
func (p Stages) AllConv() Stages {
	q := p.Clone()
	for i := range q {
		q[i] = strings.ReplaceAll(q[i], string(MSA), string(Conv))
	}
	return q
}

// Name is a preset string: a base preset, a pattern of its stages and
// optionally the heads of the MSA blocks of each stage (nil: the base's).
type Name struct {
	Base   string
	Stages Stages
	Heads  []int
}

const headsKey = "heads="

// IsName reports whether s has the form of a preset string with a pattern
// (a base name followed by a colon), without validating it.
func IsName(s string) bool { return strings.Contains(s, ":") }

// ParseName reads "BASE:PATTERN" or "BASE:PATTERN:heads=H1,H2,...", with
// one head count per stage (at least 1 where the stage has MSA blocks, 0
// allowed elsewhere).
func ParseName(s string) (Name, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Name{}, fmt.Errorf("pattern: %q is not BASE:PATTERN[:heads=H1,H2,...] (e.g. alternet-mini:C,CM,CM,CM)", s)
	}
	st, err := Parse(parts[1])
	if err != nil {
		return Name{}, fmt.Errorf("%w (in %q)", err, s)
	}
	n := Name{Base: parts[0], Stages: st}
	if len(parts) == 3 {
		if !strings.HasPrefix(parts[2], headsKey) {
			return Name{}, fmt.Errorf("pattern: %q: the third part must be heads=H1,H2,... (one count per stage)", s)
		}
		for _, f := range strings.Split(strings.TrimPrefix(parts[2], headsKey), ",") {
			h, err := strconv.Atoi(f)
			if err != nil || h < 0 {
				return Name{}, fmt.Errorf("pattern: %q: head count %q is not a non-negative integer", s, f)
			}
			n.Heads = append(n.Heads, h)
		}
		if err := n.checkHeads(); err != nil {
			return Name{}, fmt.Errorf("%w (in %q)", err, s)
		}
	}
	return n, nil
}

func (n Name) checkHeads() error {
	if n.Heads == nil {
		return nil
	}
	if len(n.Heads) != len(n.Stages) {
		return fmt.Errorf("pattern: %d head counts for %d stages", len(n.Heads), len(n.Stages))
	}
	for i, m := range n.Stages.StageMSAs() {
		if m > 0 && n.Heads[i] < 1 {
			return fmt.Errorf("pattern: stage %d has MSA blocks and %d heads", i+1, n.Heads[i])
		}
	}
	return nil
}

// String writes the preset string; ParseName(n.String()) gives n back.
func (n Name) String() string {
	s := n.Base + ":" + n.Stages.String()
	if n.Heads != nil {
		hs := make([]string, len(n.Heads))
		for i, h := range n.Heads {
			hs[i] = strconv.Itoa(h)
		}
		s += ":" + headsKey + strings.Join(hs, ",")
	}
	return s
}

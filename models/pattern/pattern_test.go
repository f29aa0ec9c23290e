package pattern

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    Stages
		msas    int
		blocks  []int
		errPart string
	}{
		{in: "C,CM,CM,CM", want: Stages{"C", "CM", "CM", "CM"}, msas: 3, blocks: []int{1, 2, 2, 2}},
		{in: "CCC,CCCM,CCCCCM,CMCM", want: Stages{"CCC", "CCCM", "CCCCCM", "CMCM"}, msas: 4, blocks: []int{3, 4, 6, 4}},
		{in: "C", want: Stages{"C"}, msas: 0, blocks: []int{1}},
		{in: "", errPart: "empty"},
		{in: "C,,C", errPart: "stage 2 has no blocks"},
		{in: "C,MC", errPart: "stage 2 starts with an MSA"},
		{in: "C,CX", errPart: `"X" is not C`},
		{in: "c,cm", errPart: `"c" is not C`},
	} {
		got, err := Parse(c.in)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("Parse(%q) error %v, want one saying %q", c.in, err, c.errPart)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if !slices.Equal(got, c.want) || got.String() != c.in || got.MSAs() != c.msas || !slices.Equal(got.Blocks(), c.blocks) {
			t.Errorf("Parse(%q) = %v (%q, %d MSAs, blocks %v), want %v (%d MSAs, blocks %v)",
				c.in, got, got.String(), got.MSAs(), got.Blocks(), c.want, c.msas, c.blocks)
		}
	}
}

func TestReplace(t *testing.T) {
	p := Stages{"C", "CC", "CC", "CCCC"}
	q, err := p.Replace(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	if q.String() != "C,CC,CC,CCCM" || p.String() != "C,CC,CC,CCCC" {
		t.Errorf("Replace(3, 3) = %s and left %s; want C,CC,CC,CCCM and the original untouched", q, p)
	}
	if _, err := q.Replace(3, 3); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("replacing an MSA block: %v", err)
	}
	if _, err := q.Replace(1, 0); err == nil || !strings.Contains(err.Error(), "block 1") {
		t.Errorf("replacing a stage's first block: %v", err)
	}
	if _, err := q.Replace(4, 1); err == nil {
		t.Error("replacing a block of a fifth stage of four: no error")
	}
	if got := q.AllConv().String(); got != "C,CC,CC,CCCC" {
		t.Errorf("AllConv = %s", got)
	}
}

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		in      string
		base    string
		heads   []int
		errPart string
	}{
		{in: "alternet-mini:C,CM,CM,CM", base: "alternet-mini"},
		{in: "alternet-mini:C,CC,CC,CMCM:heads=1,2,4,8", base: "alternet-mini", heads: []int{1, 2, 4, 8}},
		{in: "alternet-mini:C,CM,CM,CM:heads=0,2,4,8", base: "alternet-mini", heads: []int{0, 2, 4, 8}},
		{in: "alternet-mini:C,CM,CM,CM:heads=1,0,4,8", errPart: "stage 2 has MSA blocks and 0 heads"},
		{in: "alternet-mini:C,CM,CM,CM:heads=1,2,4", errPart: "3 head counts for 4 stages"},
		{in: "alternet-mini:C,CM,CM,CM:heads=1,2,x,8", errPart: `"x" is not`},
		{in: "alternet-mini:C,CM,CM,CM:h=1,2,4,8", errPart: "heads="},
		{in: ":C,CM", errPart: "BASE:PATTERN"},
		{in: "alternet-mini", errPart: "BASE:PATTERN"},
		{in: "a:b:c:d", errPart: "BASE:PATTERN"},
		{in: "alternet-mini:C,MC", errPart: "starts with an MSA"},
	} {
		n, err := ParseName(c.in)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("ParseName(%q) error %v, want one saying %q", c.in, err, c.errPart)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseName(%q): %v", c.in, err)
		}
		if n.Base != c.base || !slices.Equal(n.Heads, c.heads) || n.String() != c.in {
			t.Errorf("ParseName(%q) = %+v, String %q", c.in, n, n.String())
		}
	}
	if IsName("alternet-mini") || !IsName("alternet-mini:C") {
		t.Error("IsName does not tell a preset from a preset string")
	}
}

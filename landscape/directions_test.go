package landscape

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testParams returns a small model's tensors: a conv weight with one
// all-zero filter, a linear weight, a bias, a position embedding and a
// batch-norm running mean, with the paper's zero rule applied.
func testParams(t *testing.T, seed uint64) []Param {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	mk := func(name string, shape ...int) Param {
		n, _ := size(shape)
		p := Param{Name: name, Shape: shape, Data: make([]float64, n)}
		for i := range p.Data {
			p.Data[i] = rng.NormFloat64() * 0.1
		}
		return p
	}
	params := []Param{
		mk("blocks.0.bn.running_mean", 8),
		mk("blocks.0.conv.bias", 8),
		mk("blocks.0.conv.weight", 8, 3, 3, 3),
		mk("head.weight", 10, 16),
		mk("pos_embed", 1, 5, 16),
	}
	params[0].Buffer = true
	clear(params[2].Data[5*27 : 6*27]) // a dead filter: zero weights
	if err := (ZeroRule{}).Apply(params); err != nil {
		t.Fatal(err)
	}
	return params
}

func norm2(v []float64, start, stride, count int) float64 {
	var s float64
	for k := range count {
		x := v[start+k*stride]
		s += x * x
	}
	return math.Sqrt(s)
}

func checkFinite(t *testing.T, d Direction) {
	t.Helper()
	for i, ten := range d {
		for j, v := range ten {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("tensor %d value %d is %g", i, j, v)
			}
		}
	}
}

func checkStill(t *testing.T, params []Param, d Direction) {
	t.Helper()
	for i := range params {
		if !params[i].Zero && !params[i].Buffer {
			continue
		}
		for j, v := range d[i] {
			if v != 0 {
				t.Fatalf("%s (zero=%v buffer=%v): direction[%d] = %g, want 0", params[i].Name, params[i].Zero, params[i].Buffer, j, v)
			}
		}
	}
}

func TestZeroRuleMarksPaperTensors(t *testing.T) {
	params := testParams(t, 1)
	want := map[string]bool{"blocks.0.bn.running_mean": true, "blocks.0.conv.bias": true,
		"blocks.0.conv.weight": false, "head.weight": false, "pos_embed": true}
	for _, p := range params {
		if p.Zero != want[p.Name] {
			t.Errorf("%s: Zero = %v, want %v", p.Name, p.Zero, want[p.Name])
		}
	}
	moving := []Param{{Name: "b", Shape: []int{2}, Data: []float64{1, 2}}, {Name: "attn.rel_pos_table", Shape: []int{3, 3}, Data: make([]float64, 9)}}
	if err := (ZeroRule{Move1D: true, Patterns: []string{}}).Apply(moving); err != nil {
		t.Fatal(err)
	}
	if moving[0].Zero || moving[1].Zero {
		t.Errorf("Move1D and no patterns: zero marks %v %v, want none", moving[0].Zero, moving[1].Zero)
	}
	if err := (ZeroRule{Patterns: []string{"("}}).Apply(moving); err == nil || !strings.Contains(err.Error(), "zero pattern") {
		t.Errorf("bad pattern: err = %v", err)
	}
}

// Filter normalisation: every filter of every moving tensor has the norm of
// the weights' filter. 1e-6 relative is far above float64 rounding over a
// few dozen values (~1e-15) and far below any real mismatch.
func TestFilterNormalization(t *testing.T) {
	params := testParams(t, 2)
	d, err := Random(params, 7, 0, NormFilter)
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, d)
	checkStill(t, params, d)
	for i, p := range params {
		if p.Zero || p.Buffer {
			continue
		}
		rows := p.Shape[0]
		cols := len(p.Data) / rows
		for k := range rows {
			dn, wn := norm2(d[i], k*cols, 1, cols), norm2(p.Data, k*cols, 1, cols)
			if math.Abs(dn-wn) > 1e-6*wn {
				t.Errorf("%s filter %d: direction norm %g, weight norm %g", p.Name, k, dn, wn)
			}
			if wn == 0 && dn != 0 {
				t.Errorf("%s filter %d: dead filter got direction norm %g", p.Name, k, dn)
			}
		}
	}
}

// dim0 normalisation (the official code): every column d[:, j] across
// filters has the norm of w[:, j]; filters themselves are not matched.
func TestDim0Normalization(t *testing.T) {
	params := testParams(t, 3)
	d, err := Random(params, 7, 0, NormDim0)
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, d)
	checkStill(t, params, d)
	mismatched := 0
	for i, p := range params {
		if p.Zero || p.Buffer {
			continue
		}
		rows := p.Shape[0]
		cols := len(p.Data) / rows
		for c := range cols {
			dn, wn := norm2(d[i], c, cols, rows), norm2(p.Data, c, cols, rows)
			if math.Abs(dn-wn) > 1e-6*wn {
				t.Errorf("%s column %d: direction norm %g, weight norm %g", p.Name, c, dn, wn)
			}
		}
		for k := range rows {
			dn, wn := norm2(d[i], k*cols, 1, cols), norm2(p.Data, k*cols, 1, cols)
			if math.Abs(dn-wn) > 1e-6*wn {
				mismatched++
			}
		}
	}
	if mismatched == 0 {
		t.Error("dim0 matched every filter norm too: it should differ from filter normalisation")
	}
	// A rank-1 tensor allowed to move is scaled as a whole.
	one := []Param{{Name: "v", Shape: []int{4}, Data: []float64{1, 2, 2, 0}}}
	d1, err := Random(one, 1, 0, NormDim0)
	if err != nil {
		t.Fatal(err)
	}
	if n := norm2(d1[0], 0, 1, 4); math.Abs(n-3) > 1e-12 {
		t.Errorf("rank-1 dim0: norm %g, want 3", n)
	}
}

// Without normalisation the values are standard normal draws: mean and
// variance within 5 standard errors of 0 and 1 over 20000 values.
func TestNormNoneIsStandardNormal(t *testing.T) {
	p := []Param{{Name: "w", Shape: []int{100, 200}, Data: make([]float64, 20000)}}
	d, err := Random(p, 11, 0, NormNone)
	if err != nil {
		t.Fatal(err)
	}
	var m, v float64
	for _, x := range d[0] {
		m += x
	}
	m /= 20000
	for _, x := range d[0] {
		v += (x - m) * (x - m)
	}
	v /= 19999
	se := 1 / math.Sqrt(20000)
	if math.Abs(m) > 5*se || math.Abs(v-1) > 5*math.Sqrt2*se {
		t.Errorf("mean %g, variance %g: not standard normal", m, v)
	}
}

func TestZeroNormFiltersGiveNoNaN(t *testing.T) {
	p := []Param{{Name: "w", Shape: []int{3, 2}, Data: []float64{0, 0, 1, 1, 3, 4}}}
	d := Direction{{0, 0, 0, 0, 2, 0}}
	for _, mode := range Norms {
		dd := Direction{append([]float64(nil), d[0]...)}
		if err := Normalize(dd, p, mode); err != nil {
			t.Fatal(err)
		}
		checkFinite(t, dd)
		if mode == NormFilter && (dd[0][0] != 0 || dd[0][2] != 0 || dd[0][4] != 5) {
			t.Errorf("filter: got %v, want [0 0 0 0 5 0]", dd[0])
		}
	}
	// A zero weight filter with a non-zero direction becomes zero.
	dd := Direction{{1, 1, 0, 0, 0, 0}}
	if err := Normalize(dd, p, NormFilter); err != nil {
		t.Fatal(err)
	}
	if dd[0][0] != 0 || dd[0][1] != 0 {
		t.Errorf("dead filter: got %v", dd[0][:2])
	}
}

func TestRandomSeeds(t *testing.T) {
	params := testParams(t, 4)
	a, _ := Random(params, 5, 0, NormFilter)
	b, _ := Random(params, 5, 0, NormFilter)
	c, _ := Random(params, 5, 1, NormFilter)
	e, _ := Random(params, 6, 0, NormFilter)
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("same seed and index gave different directions")
	}
	if Fingerprint(a) == Fingerprint(c) {
		t.Error("directions 0 and 1 of one seed are equal")
	}
	if Fingerprint(a) == Fingerprint(e) {
		t.Error("seeds 5 and 6 gave equal directions")
	}
	// A tensor's direction does not depend on the other tensors.
	sub := []Param{params[3]}
	s, _ := Random(sub, 5, 0, NormFilter)
	for j := range s[0] {
		if s[0][j] != a[3][j] {
			t.Fatalf("head.weight alone differs from head.weight among others at %d: %g vs %g", j, s[0][j], a[3][j])
		}
	}
}

func TestRandomRejectsBadInput(t *testing.T) {
	cases := []struct {
		params []Param
		mode   Norm
		want   string
	}{
		{[]Param{{Name: "w", Shape: []int{2, 2}, Data: make([]float64, 3)}}, NormFilter, "shape [2 2] holds 4 values, data has 3"},
		{[]Param{{Name: "w", Shape: []int{1}, Data: make([]float64, 1)}, {Name: "w", Shape: []int{1}, Data: make([]float64, 1)}}, NormFilter, "listed twice"},
		{[]Param{{Shape: []int{1}, Data: make([]float64, 1)}}, NormFilter, "no name"},
		{[]Param{{Name: "w", Shape: []int{1}, Data: make([]float64, 1)}}, "layer", "unknown normalisation"},
	}
	for _, c := range cases {
		_, err := Random(c.params, 1, 0, c.mode)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to contain %q", err, c.want)
		}
	}
	if _, err := ParseNorm("DIM0"); err != nil {
		t.Errorf("ParseNorm(DIM0): %v", err)
	}
}

func TestBetween(t *testing.T) {
	a := testParams(t, 5)
	b := testParams(t, 6)
	d, err := Between(a, b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSurface(a, d)
	if err != nil {
		t.Fatal(err)
	}
	w := s.At(nil, 1, 0)
	for i := range b {
		for j := range b[i].Data {
			if math.Abs(w[i][j]-b[i].Data[j]) > 1e-15 {
				t.Fatalf("%s[%d]: a + 1*(b-a) = %g, want %g", b[i].Name, j, w[i][j], b[i].Data[j])
			}
		}
	}
	if err := d.Mask(a); err != nil {
		t.Fatal(err)
	}
	checkStill(t, a, d)

	bad := func(mod func(b []Param) []Param, want string) {
		t.Helper()
		b := mod(testParams(t, 6))
		if _, err := Between(a, b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	bad(func(b []Param) []Param { b[3].Shape = []int{16, 10}; return b }, `"head.weight" has shape [10 16] in the first set and [16 10] in the second`)
	bad(func(b []Param) []Param { return b[:4] }, `"pos_embed" is in the first set of parameters but not in the second`)
	bad(func(b []Param) []Param { b[4].Name = "cls_token"; return b }, `"pos_embed" is in the first set`)
	bad(func(b []Param) []Param { b[3], b[4] = b[4], b[3]; return b }, "list both in the same order")
	bad(func(b []Param) []Param { b[2].Data = b[2].Data[:3]; return b }, "second set: parameter \"blocks.0.conv.weight\"")
	bad(func(b []Param) []Param { return append(b, Param{Name: "extra", Shape: []int{1}, Data: []float64{1}}) }, `"extra" is in the second set`)
}

func TestFromVector(t *testing.T) {
	params := testParams(t, 7)
	n := 0
	for _, p := range params {
		if !p.Buffer {
			n += len(p.Data)
		}
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i + 1)
	}
	d, err := FromVector(params, v)
	if err != nil {
		t.Fatal(err)
	}
	if d[0][0] != 0 || d[1][0] != 1 || d[1][7] != 8 || d[2][0] != 9 || d[4][len(d[4])-1] != float64(n) {
		t.Errorf("split wrong: buffer %g, bias %g..%g, conv %g, last %g", d[0][0], d[1][0], d[1][7], d[2][0], d[4][len(d[4])-1])
	}
	if _, err := FromVector(params, v[1:]); err == nil || !strings.Contains(err.Error(), "trainable parameters hold") {
		t.Errorf("short vector: err = %v", err)
	}
}

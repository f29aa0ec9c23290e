package torchx_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/vitprobe/vitprobe/torchx"
)

// TestErrorsInsteadOfExit: where gotch's Copy_ and DType would log.Fatal
// (end the test binary), torchx.Copy and torchx.Kind return an error.
func TestErrorsInsteadOfExit(t *testing.T) {
	var s torchx.Scope
	defer s.Close()
	a := s.Add(must(torchx.FromSlice([]float32{1, 2, 3}, []int64{3}, gotch.Float)))
	b := s.Add(must(torchx.FromSlice([]float32{1, 2}, []int64{2}, gotch.Float)))
	if err := torchx.Copy(a, b); err == nil {
		t.Error("copy of 2 elements into 3: no error")
	}
	if err := torchx.Copy(b, s.Add(must(torchx.FromSlice([]float64{7, 8}, []int64{2}, gotch.Double)))); err != nil {
		t.Fatalf("copy with conversion: %v", err)
	}
	if v := must(torchx.Values[float32](b)); v[0] != 7 || v[1] != 8 {
		t.Errorf("after copy %v, want [7 8]", v)
	}
	pairs := s.Add(must(torchx.FromSlice([]float64{1, 0, 2, 0}, []int64{2, 2}, gotch.Double)))
	c := s.Add(must(pairs.ViewAsComplex(false)))
	if _, err := torchx.Kind(c); err == nil || !strings.Contains(err.Error(), "no gotch name") {
		t.Errorf("torchx.Kind of a complex tensor: %v", err)
	}
	if _, err := torchx.Kind(s.Add(ts.NewTensor())); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("torchx.Kind of an undefined tensor: %v", err)
	}
	if k, err := torchx.Kind(a); err != nil || k != gotch.Float {
		t.Errorf("torchx.Kind of float32: %v, %v", k, err)
	}
}

type failDrop struct{}

func (failDrop) Drop() error { return errFake }

var errFake = fakeErr("lost")

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

func TestDropTo(t *testing.T) {
	var err error
	torchx.DropTo(&err, failDrop{})
	if err == nil || !strings.Contains(err.Error(), "lost") {
		t.Errorf("a failed drop: %v", err)
	}
	first := fakeErr("first")
	err = first
	torchx.DropTo(&err, failDrop{})
	if !errors.Is(err, first) || err.Error() != "first" {
		t.Errorf("torchx.DropTo replaced the function's own error: %v", err)
	}
}

// TestInPlaceFreesTheReplacedHandle shows the leak of gotch's in-place
// methods (after t.Relu_() two handles share t's tensor, one of them
// unreachable) and that InPlace leaves one: t's alone, so that dropping t
// frees the storage.
func TestInPlaceFreesTheReplacedHandle(t *testing.T) {
	x := must(torchx.FromSlice([]float32{-1, 2, -3, 4}, []int64{4}, gotch.Float))
	defer x.MustDrop()
	if n := torchx.UseCount(x); n != 1 {
		t.Fatalf("a new tensor has %d handles", n)
	}
	if err := torchx.InPlace(x, x.Relu_); err != nil {
		t.Fatal(err)
	}
	if n := torchx.UseCount(x); n != 1 {
		t.Errorf("after InPlace(Relu_): %d handles share the tensor, want 1", n)
	}
	if got := must(torchx.Values[float32](x)); fmt.Sprint(got) != "[0 2 0 4]" {
		t.Errorf("after InPlace(Relu_): %v, want [0 2 0 4]", got)
	}
	y := must(torchx.FromSlice([]float32{1, 2}, []int64{2}, gotch.Float))
	defer y.MustDrop()
	old := y.Ctensor()
	if err := y.Relu_(); err != nil { // gotch alone: the old handle is lost
		t.Fatal(err)
	}
	if n := torchx.UseCount(y); n != 2 {
		t.Logf("gotch's Relu_ left %d handles (2 expected: the leak InPlace avoids)", n)
	}
	if y.Ctensor() != old {
		lib.AtFree(lib.Ctensor(old)) // this test's own leak, freed
	}
	if err := torchx.InPlace(nil, nil); err == nil {
		t.Error("InPlace on a nil tensor: no error")
	}
}

// TestVersionMovesWithInPlaceWrites: reads leave a tensor's version alone;
// CopyIn, an in-place operator and a write through a view move it, and the
// view and its base share it.
func TestVersionMovesWithInPlaceWrites(t *testing.T) {
	base := ts.MustZeros([]int64{2, 3}, gotch.Float, gotch.CPU)
	defer base.MustDrop()
	v0 := torchx.Version(base)
	if _, err := torchx.Values[float32](base); err != nil {
		t.Fatal(err)
	}
	if torchx.Version(base) != v0 {
		t.Fatal("reading the values moved the version")
	}
	if err := torchx.CopyIn(base, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	v1 := torchx.Version(base)
	if v1 == v0 {
		t.Fatal("CopyIn left the version")
	}
	row := base.MustSelect(0, 1, false)
	defer row.MustDrop()
	if torchx.Version(row) != v1 {
		t.Fatalf("a view's version %d, its base's %d", torchx.Version(row), v1)
	}
	sc := ts.FloatScalar(2)
	defer sc.MustDrop()
	if err := torchx.InPlace(row, func() error { return row.MulScalar_(sc) }); err != nil {
		t.Fatal(err)
	}
	if torchx.Version(base) == v1 {
		t.Fatal("a write through a view left the base's version")
	}
}

// TestPackSharesTheVersion: tensors packed into one buffer (an optimiser's
// parameters) see a write through the buffer as a write to themselves.
func TestPackSharesTheVersion(t *testing.T) {
	a := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	b := ts.MustOnes([]int64{2, 2}, gotch.Float, gotch.CPU)
	defer torchx.DropAll([]*ts.Tensor{a, b})
	flat, err := torchx.Pack([]*ts.Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	defer flat.MustDrop()
	va, vb := torchx.Version(a), torchx.Version(b)
	sc := ts.FloatScalar(3)
	defer sc.MustDrop()
	if err := torchx.InPlace(flat, func() error { return flat.MulScalar_(sc) }); err != nil {
		t.Fatal(err)
	}
	if torchx.Version(a) == va || torchx.Version(b) == vb {
		t.Fatalf("versions %d, %d after a write through the buffer, %d, %d before", torchx.Version(a), torchx.Version(b), va, vb)
	}
	if v := must(torchx.Values[float32](b)); v[3] != 3 {
		t.Fatalf("b = %v after the buffer was tripled", v)
	}
}

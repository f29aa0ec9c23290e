package torchx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
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

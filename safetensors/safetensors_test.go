package safetensors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func sample() []Tensor {
	return []Tensor{
		FromFloat32s("b.weight", []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		FromFloat32s("a.bias", []int64{2}, []float32{-1, 0.5}),
		{Name: "step", DType: I64, Shape: []int64{}, Data: []byte{7, 0, 0, 0, 0, 0, 0, 0}},
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	h, err := Encode(&buf, sample(), map[string]string{"model": "vit-mini"})
	if err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
		t.Errorf("data section starts at %d, not 8-byte aligned", 8+n)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.DataSHA256 != h || f.Metadata["model"] != "vit-mini" || len(f.Tensors) != 3 {
		t.Fatalf("decoded %+v, hash %s want %s", f, f.DataSHA256, h)
	}
	w, ok := f.Lookup("b.weight")
	v, _ := w.Float32s()
	if !ok || len(v) != 6 || v[5] != 6 || w.Shape[1] != 3 {
		t.Fatalf("b.weight = %v %v", w, v)
	}
	// The weights hash ignores metadata.
	var buf2 bytes.Buffer
	h2, _ := Encode(&buf2, sample(), map[string]string{"epoch": "3"})
	if h2 != h {
		t.Error("data hash changed with metadata")
	}
}

func TestReadErrors(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Encode(&buf, sample(), nil); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":     {nil, "too short"},
		"truncated": {full[:len(full)-5], "outside"},
		"header":    {full[:20], "exceeds"},
		"garbage":   {append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "{{{{"...), "header"},
		"extra":     {append(append([]byte(nil), full...), 1, 2, 3), "cover"},
	} {
		if _, err := Decode(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error containing %q", name, err, c.want)
		}
	}
	if _, err := ReadFile("/nonexistent/x.safetensors"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Encode(&buf, []Tensor{{Name: "x", DType: F32, Shape: []int64{3}, Data: []byte{1}}}, nil); err == nil {
		t.Error("wrong data length: want an error")
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	if _, err := Encode(&buf, sample(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to a file that decodes the same.
		var out bytes.Buffer
		h, err := Encode(&out, file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Decode(out.Bytes())
		if err != nil || again.DataSHA256 != h || len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

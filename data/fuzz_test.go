package data

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// The fuzz targets check that the parsers never panic, and that whatever
// they accept is exactly what a well-formed file holds: encoding the result
// again gives the input back. `go test` runs the seeds; `go test
// -fuzz=FuzzIDXImages ./data` explores.

func FuzzIDXImages(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	good := idxFile(idxImagesMagic, []uint32{3, 28, 28}, randomBytes(r, 3*784, 256))
	f.Add(good)
	f.Add(idxFile(idxImagesMagic, []uint32{2, 1, 32}, randomBytes(r, 64, 256)))
	f.Add(good[:100])                                                        // truncated body
	f.Add(good[:7])                                                          // truncated header
	f.Add(append(slices.Clone(good), 0))                                     // trailing byte
	f.Add(idxFile(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3}))             // a label file
	f.Add(idxFile(idxImagesMagic, []uint32{0xffffffff, 32, 32}, nil))        // huge count
	f.Add(idxFile(idxImagesMagic, []uint32{1, 0xffffffff, 0xffffffff}, nil)) // huge size
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, n, rows, cols, err := parseIDXImages(bytes.NewReader(b))
		if err != nil {
			return
		}
		if n < 1 || rows < 1 || rows > Size || cols < 1 || cols > Size || len(raw) != n*rows*cols {
			t.Fatalf("accepted %d images of %dx%d in %d bytes", n, rows, cols, len(raw))
		}
		if again := idxFile(idxImagesMagic, []uint32{uint32(n), uint32(rows), uint32(cols)}, raw); !bytes.Equal(again, b) {
			t.Fatal("accepted a file that is not its own re-encoding")
		}
		if p := padImages(raw, n, rows, cols); len(p) != n*Size*Size {
			t.Fatalf("padded to %d bytes", len(p))
		}
	})
}

func FuzzIDXLabels(f *testing.F) {
	good := idxFile(idxLabelsMagic, []uint32{5}, []byte{0, 9, 3, 4, 5})
	f.Add(good)
	f.Add(good[:9])
	f.Add(good[:3])
	f.Add(append(slices.Clone(good), 1))
	f.Add(idxFile(idxLabelsMagic, []uint32{2}, []byte{1, 10}))      // label out of range
	f.Add(idxFile(idxLabelsMagic, []uint32{0xffffffff}, []byte{1})) // huge count
	f.Add(idxFile(idxImagesMagic, []uint32{1, 1, 1}, []byte{1}))    // an image file
	f.Fuzz(func(t *testing.T, b []byte) {
		labels, err := parseIDXLabels(bytes.NewReader(b), 10)
		if err != nil {
			return
		}
		for i, l := range labels {
			if l > 9 {
				t.Fatalf("accepted label %d at %d", l, i)
			}
		}
		if again := idxFile(idxLabelsMagic, []uint32{uint32(len(labels))}, labels); !bytes.Equal(again, b) {
			t.Fatal("accepted a file that is not its own re-encoding")
		}
	})
}

// fuzzCIFAR checks appendRecords of format f keeping label pick.
func fuzzCIFAR(t *testing.T, f *cifarFormat, pick int, b []byte) {
	prefix := []byte{7} // appending must keep what was there
	images, labels, err := f.appendRecords(slices.Clone(prefix), slices.Clone(prefix), b, pick)
	if err != nil {
		return
	}
	rl, nl := f.recordLen(), len(f.labelLimits)
	n := len(b) / rl
	if n == 0 || n*rl != len(b) || len(labels) != 1+n || len(images) != 1+n*cifarPixels {
		t.Fatalf("accepted %d bytes as %d labels and %d pixels", len(b), len(labels)-1, len(images)-1)
	}
	if images[0] != 7 || labels[0] != 7 {
		t.Fatal("overwrote what the slices held")
	}
	var again []byte
	for i := 0; i < n; i++ {
		rec := b[i*rl : (i+1)*rl]
		for j, lim := range f.labelLimits {
			if int(rec[j]) >= lim {
				t.Fatalf("record %d: accepted label %d of limit %d", i, rec[j], lim)
			}
		}
		if labels[1+i] != rec[pick] {
			t.Fatalf("record %d: label %d, want %d", i, labels[1+i], rec[pick])
		}
		again = append(again, rec[:nl]...)
		again = append(again, images[1+i*cifarPixels:1+(i+1)*cifarPixels]...)
	}
	if !bytes.Equal(again, b) {
		t.Fatal("images differ from the records")
	}
}

func FuzzCIFAR10Records(f *testing.F) {
	r := rand.New(rand.NewPCG(2, 2))
	file, _, _ := cifarRecords(r, &cifar10Format, 2)
	f.Add(file)
	f.Add(file[:3073])
	f.Add(file[:3072])
	f.Add(append([]byte{10}, file[1:3073]...)) // label out of range
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCIFAR(t, &cifar10Format, 0, b) })
}

func FuzzCIFAR100Records(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 3))
	file, _, _ := cifarRecords(r, &cifar100Format, 2)
	for _, pick := range []uint8{0, 1} {
		f.Add(file, pick)
		f.Add(file[:3074], pick)
		f.Add(file[:3075], pick)
		f.Add(append([]byte{19, 100}, file[2:3074]...), pick) // fine out of range
		f.Add(append([]byte{20, 99}, file[2:3074]...), pick)  // coarse out of range
	}
	f.Fuzz(func(t *testing.T, b []byte, pick uint8) { fuzzCIFAR(t, &cifar100Format, int(pick%2), b) })
}

package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// mnist caches the two MNIST splits: reading them takes about a second.
var mnist struct {
	once        sync.Once
	train, test *Dataset
	err         error
}

// loadMNIST returns the MNIST splits from the default folder. They are
// shared by the tests: do not modify them.
func loadMNIST(t testing.TB) (train, test *Dataset) {
	t.Helper()
	mnist.once.Do(func() {
		if mnist.train, mnist.err = LoadMNIST("", Train); mnist.err == nil {
			mnist.test, mnist.err = LoadMNIST("", Test)
		}
	})
	if mnist.err != nil {
		t.Fatalf("%v (run `make setup` to copy MNIST into datasets/mnist)", mnist.err)
	}
	return mnist.train, mnist.test
}

// idxFile returns an idx file: magic, big-endian dimensions, body.
func idxFile(magic uint32, dims []uint32, body []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, magic)
	_ = binary.Write(&b, binary.BigEndian, dims)
	b.Write(body)
	return b.Bytes()
}

// gz returns b gzip-compressed.
func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// writeFile writes b to dir/name, creating dir.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// randomBytes returns n seeded random bytes, each below limit.
func randomBytes(r *rand.Rand, n, limit int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(limit))
	}
	return b
}

// checkErr fails unless err is a one-line error containing every part.
func checkErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not contain %q", msg, p)
		}
	}
}

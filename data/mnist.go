package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MNISTEnv is the environment variable naming the folder of the four MNIST
// idx .gz files; it overrides every other place MNISTDir looks.
const MNISTEnv = "VITPROBE_MNIST"

// gomnistData is the folder of the GoMNIST Go module, relative to the module
// cache, that ships the original MNIST files.
const gomnistData = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data"

// The four MNIST files, by split.
var mnistFiles = [2]struct{ images, labels string }{
	Train: {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
	Test:  {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
}

// MNISTDir returns the folder MNIST is read from by default: $VITPROBE_MNIST
// if set (used as given), else the first datasets/mnist found in the working
// directory or one of its parents (scripts/setup.sh puts the files there),
// else the data folder of the GoMNIST module in the Go module cache. A
// folder counts as found when it holds train-images-idx3-ubyte.gz.
func MNISTDir() (string, error) {
	if d := os.Getenv(MNISTEnv); d != "" {
		return d, nil
	}
	probe := mnistFiles[Train].images
	has := func(dir string) bool {
		st, err := os.Stat(filepath.Join(dir, probe))
		return err == nil && st.Mode().IsRegular()
	}
	var looked []string
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; {
			if c := filepath.Join(d, "datasets", "mnist"); has(c) {
				return c, nil
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
		looked = append(looked, "datasets/mnist in "+wd+" and its parents")
	}
	// The module cache the environment implies first; `go env` (a process
	// start) only when that fails, and only if it names another folder.
	prev := ""
	for _, cacheDir := range []func() string{envModCache, goEnvModCache} {
		cache := cacheDir()
		if cache == "" || cache == prev {
			continue
		}
		prev = cache
		c := filepath.Join(cache, filepath.FromSlash(gomnistData))
		if has(c) {
			return c, nil
		}
		looked = append(looked, c)
	}
	return "", fmt.Errorf("data: mnist: no folder with %s: looked for %s; set %s to the folder",
		probe, strings.Join(looked, ", "), MNISTEnv)
}

// envModCache returns the Go module cache as the environment implies it:
// $GOMODCACHE, else $GOPATH's first entry + /pkg/mod, else ~/go/pkg/mod.
func envModCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if p := filepath.SplitList(os.Getenv("GOPATH")); len(p) > 0 && p[0] != "" {
		return filepath.Join(p[0], "pkg", "mod")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, "go", "pkg", "mod")
	}
	return ""
}

// goEnvModCache returns `go env GOMODCACHE` (which also reads the settings
// of `go env -w`), or "" when the go command is not installed or fails.
func goEnvModCache() string {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	b, err := exec.Command(goCmd, "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LoadMNIST reads one MNIST split from the idx .gz files in dir (an empty
// dir means MNISTDir) and pads every 28x28 digit with zeros to Size x Size,
// one channel. Images of other sizes up to Size x Size (files in the same
// format) are centred likewise. Any file problem is a one-line error naming
// the file.
func LoadMNIST(dir string, split Split) (*Dataset, error) {
	if split != Train && split != Test {
		return nil, fmt.Errorf("data: mnist: unknown split %v", split)
	}
	if dir == "" {
		var err error
		if dir, err = MNISTDir(); err != nil {
			return nil, err
		}
	}
	f := mnistFiles[split]
	imgPath := filepath.Join(dir, f.images)
	lblPath := filepath.Join(dir, f.labels)
	var raw []byte
	var n, rows, cols int
	err := readGzip(imgPath, func(r io.Reader) error {
		var err error
		raw, n, rows, cols, err = parseIDXImages(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	var labels []uint8
	err = readGzip(lblPath, func(r io.Reader) error {
		var err error
		labels, err = parseIDXLabels(r, mnistInfo.Classes)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(labels) != n {
		return nil, fmt.Errorf("data: mnist: %s holds %d labels but %s holds %d images", lblPath, len(labels), imgPath, n)
	}
	return &Dataset{Info: mnistInfo, Split: split, Images: padImages(raw, n, rows, cols), Labels: labels}, nil
}

// readGzip opens the gzip file path and hands its decompressed stream to
// parse; every error comes back as "data: mnist: path: ...".
func readGzip(path string, parse func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: mnist: %w", err) // *PathError names the file
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err == nil {
		err = parse(zr)
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF { //nolint:errorlint // only the bare sentinels, not wrapped ones
		err = errors.New("truncated: unexpected end of the gzip stream")
	}
	if err != nil {
		return fmt.Errorf("data: mnist: %s: %w", path, err)
	}
	return nil
}

// idx magic numbers: two zero bytes, element type 0x08 (unsigned byte),
// number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// readIDXHeader reads an idx header with the given magic and returns its
// dimensions.
func readIDXHeader(r io.Reader, magic uint32) ([]uint32, error) {
	var m uint32
	if err := binary.Read(r, binary.BigEndian, &m); err != nil {
		return nil, headerErr(err)
	}
	if m != magic {
		return nil, fmt.Errorf("magic number %#08x is not %#08x (an idx file of %d-D unsigned bytes)", m, magic, magic&0xff)
	}
	dims := make([]uint32, magic&0xff)
	if err := binary.Read(r, binary.BigEndian, dims); err != nil {
		return nil, headerErr(err)
	}
	return dims, nil
}

// headerErr describes a failure to read an idx header.
func headerErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated inside the idx header")
	}
	return fmt.Errorf("reading the idx header: %w", err)
}

// readBody reads exactly size bytes, the rest of the file, and fails if fewer
// or more follow. Memory grows with the bytes that really arrive, not with
// what a (possibly corrupt) header promises.
func readBody(r io.Reader, size uint64, what string) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(size+1, 1<<16)))
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(size)+1)); err != nil {
		return nil, err
	}
	switch got := uint64(buf.Len()); {
	case got < size:
		return nil, fmt.Errorf("truncated: the header declares %s (%d bytes) but %d bytes follow", what, size, got)
	case got > size:
		return nil, fmt.Errorf("more bytes follow the %s the header declares", what)
	}
	return buf.Bytes(), nil
}

// parseIDXImages reads an idx3 image file (decompressed): n images of
// rows x cols bytes, rows and cols in 1..Size so that they can be padded.
func parseIDXImages(r io.Reader) (raw []byte, n, rows, cols int, err error) {
	dims, err := readIDXHeader(r, idxImagesMagic)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	if dims[0] == 0 {
		return nil, 0, 0, 0, errors.New("the header declares 0 images")
	}
	if dims[1] < 1 || dims[1] > Size || dims[2] < 1 || dims[2] > Size {
		return nil, 0, 0, 0, fmt.Errorf("image size %dx%d is outside 1x1..%dx%d", dims[1], dims[2], Size, Size)
	}
	n, rows, cols = int(dims[0]), int(dims[1]), int(dims[2])
	raw, err = readBody(r, uint64(n)*uint64(rows*cols), fmt.Sprintf("%d images of %dx%d", n, rows, cols))
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return raw, n, rows, cols, nil
}

// parseIDXLabels reads an idx1 label file (decompressed) whose labels must
// lie in 0..classes-1.
func parseIDXLabels(r io.Reader, classes int) ([]uint8, error) {
	dims, err := readIDXHeader(r, idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	if dims[0] == 0 {
		return nil, errors.New("the header declares 0 labels")
	}
	labels, err := readBody(r, uint64(dims[0]), fmt.Sprintf("%d labels", dims[0]))
	if err != nil {
		return nil, err
	}
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("label %d of item %d is outside 0..%d", l, i, classes-1)
		}
	}
	return labels, nil
}

// padImages centres n rows x cols images in Size x Size frames of zeros.
func padImages(raw []byte, n, rows, cols int) []uint8 {
	out := make([]uint8, n*Size*Size)
	top, left := (Size-rows)/2, (Size-cols)/2
	for i := 0; i < n; i++ {
		src := raw[i*rows*cols:]
		dst := out[i*Size*Size:]
		for y := 0; y < rows; y++ {
			copy(dst[(top+y)*Size+left:(top+y)*Size+left+cols], src[y*cols:(y+1)*cols])
		}
	}
	return out
}

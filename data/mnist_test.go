package data

import (
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

func TestMNIST(t *testing.T) {
	train, test := loadMNIST(t)
	for _, c := range []struct {
		d      *Dataset
		n      int
		counts []int // the well-known class counts of MNIST
	}{
		{train, 60000, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{test, 10000, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		d := c.d
		if d.Len() != c.n || len(d.Images) != c.n*Size*Size {
			t.Fatalf("%v: %d labels, %d pixels; want %d images of %d", d.Split, d.Len(), len(d.Images), c.n, Size*Size)
		}
		if info, _ := Describe("mnist"); d.Info != info || d.Info.Channels != 1 || d.Info.Classes != 10 || d.Info.Flip {
			t.Errorf("%v: info %+v, Describe says %+v", d.Split, d.Info, info)
		}
		if got := d.ClassCounts(); !slices.Equal(got, c.counts) {
			t.Errorf("%v: class counts %v, want %v", d.Split, got, c.counts)
		}
		// The 2-pixel ring around each 28x28 digit is zero.
		for i := 0; i < d.Len(); i++ {
			img := d.Image(i)
			for y := 0; y < Size; y++ {
				for x := 0; x < Size; x++ {
					inside := y >= 2 && y < 30 && x >= 2 && x < 30
					if !inside && img[y*Size+x] != 0 {
						t.Fatalf("%v: image %d: padding pixel (%d,%d) = %d", d.Split, i, y, x, img[y*Size+x])
					}
				}
			}
		}
	}
	// The first training image is a 5 whose top stroke (raw row 5) starts
	// with a 3 at column 12 and reaches 255 at column 21 (read off the idx
	// file with a hex dump); padded, that is row 7, columns 14 and 23.
	if train.Labels[0] != 5 {
		t.Errorf("first training label %d, want 5", train.Labels[0])
	}
	img := train.Image(0)
	if img[7*Size+14] != 3 || img[7*Size+23] != 255 || img[7*Size+13] != 0 {
		t.Errorf("first image row 7, columns 13, 14, 23: %d %d %d, want 0 3 255",
			img[7*Size+13], img[7*Size+14], img[7*Size+23])
	}
	// Against the raw file, read without the package's parser: the first and
	// last images' 28x28 interiors.
	dir, err := MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 59999} {
		img := train.Image(i)
		for y := 0; y < 28; y++ {
			want := raw[16+i*784+y*28 : 16+i*784+(y+1)*28]
			if got := img[(y+2)*Size+2 : (y+2)*Size+30]; !slices.Equal(got, want) {
				t.Fatalf("image %d row %d: %v, want %v", i, y, got, want)
			}
		}
	}
}

// TestMNISTStatistics checks the normalisation constants against the data:
// 0.1307 and 0.3081 are the mean and standard deviation of the unpadded
// training pixels rounded to 4 digits, so they agree to 5e-5.
func TestMNISTStatistics(t *testing.T) {
	train, _ := loadMNIST(t)
	var s, ss float64
	n := 0
	for i := 0; i < train.Len(); i++ {
		img := train.Image(i)
		for y := 2; y < 30; y++ {
			for _, v := range img[y*Size+2 : y*Size+30] {
				f := float64(v) / 255
				s += f
				ss += f * f
				n++
			}
		}
	}
	mean := s / float64(n)
	std := math.Sqrt(ss/float64(n) - mean*mean)
	if math.Abs(mean-train.Info.Mean[0]) > 5e-5 || math.Abs(std-train.Info.Std[0]) > 5e-5 {
		t.Errorf("measured mean %.5f std %.5f, constants %v %v", mean, std, train.Info.Mean[0], train.Info.Std[0])
	}
}

func TestMNISTDir(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv(MNISTEnv, "/somewhere/else")
		if d, err := MNISTDir(); err != nil || d != "/somewhere/else" {
			t.Errorf("MNISTDir() = %q, %v; want $%s", d, err, MNISTEnv)
		}
	})
	t.Run("parents", func(t *testing.T) {
		// From data/, the repository's datasets/mnist is one level up.
		t.Setenv(MNISTEnv, "")
		want, err := filepath.Abs("../datasets/mnist")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(want, "train-images-idx3-ubyte.gz")); err != nil {
			testdep.Missing(t, "no datasets/mnist in the repository (make setup copies it)")
		}
		if d, err := MNISTDir(); err != nil || d != want {
			t.Errorf("MNISTDir() = %q, %v; want %q", d, err, want)
		}
	})
	t.Run("module cache", func(t *testing.T) {
		cache := t.TempDir()
		want := filepath.Join(cache, filepath.FromSlash(gomnistData))
		writeFile(t, want, "train-images-idx3-ubyte.gz", nil)
		t.Chdir(t.TempDir())
		t.Setenv(MNISTEnv, "")
		t.Setenv("GOMODCACHE", cache)
		if d, err := MNISTDir(); err != nil || d != want {
			t.Errorf("MNISTDir() = %q, %v; want %q", d, err, want)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		wd := t.TempDir()
		t.Chdir(wd)
		t.Setenv(MNISTEnv, "")
		t.Setenv("GOMODCACHE", filepath.Join(wd, "cache"))
		t.Setenv("PATH", "") // no go command to ask
		_, err := MNISTDir()
		checkErr(t, err, "data: mnist:", wd, filepath.Join(wd, "cache"), MNISTEnv)
		_, err = LoadMNIST("", Train)
		checkErr(t, err, "data: mnist:", MNISTEnv)
	})
}

// mnistDir writes a tiny MNIST-format folder: n images of rows x cols and
// their labels, for both splits, and returns it.
func mnistDir(t *testing.T, n, rows, cols int) string {
	t.Helper()
	dir := t.TempDir()
	body := make([]byte, n*rows*cols)
	labels := make([]byte, n)
	for i := range body {
		body[i] = byte(i%251 + 1)
	}
	for i := range labels {
		labels[i] = byte(i % 10)
	}
	for _, p := range []string{"train", "t10k"} {
		writeFile(t, dir, p+"-images-idx3-ubyte.gz", gz(idxFile(idxImagesMagic, []uint32{uint32(n), uint32(rows), uint32(cols)}, body)))
		writeFile(t, dir, p+"-labels-idx1-ubyte.gz", gz(idxFile(idxLabelsMagic, []uint32{uint32(n)}, labels)))
	}
	return dir
}

func TestMNISTSmall(t *testing.T) {
	// A 3x5 image is centred: top (32-3)/2 = 14, left (32-5)/2 = 13.
	dir := mnistDir(t, 4, 3, 5)
	d, err := LoadMNIST(dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Split != Test || d.Labels[3] != 3 {
		t.Fatalf("%d images, split %v, labels %v", d.Len(), d.Split, d.Labels)
	}
	img := d.Image(1) // bytes 16..30 of the body: values 16..30
	var sum int
	for _, v := range img {
		sum += int(v)
	}
	if img[14*Size+13] != 16 || img[16*Size+17] != 30 || sum != (16+30)*15/2 {
		t.Errorf("image 1: corners %d %d, sum %d", img[14*Size+13], img[16*Size+17], sum)
	}
}

func TestMNISTErrors(t *testing.T) {
	const img, lbl = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
	good := idxFile(idxImagesMagic, []uint32{2, 28, 28}, make([]byte, 2*784))
	goodGz := gz(good)
	goodLabels := idxFile(idxLabelsMagic, []uint32{2}, []byte{1, 2})
	for _, c := range []struct {
		name        string
		file        string // the file to replace (with data) or remove (data nil)
		data        []byte
		wantMessage string
	}{
		{"missing images", img, nil, "no such file"},
		{"missing labels", lbl, nil, "no such file"},
		{"not gzip", img, good, "gzip: invalid header"},
		{"empty", img, []byte{}, "truncated"},
		{"truncated gzip", img, goodGz[:len(goodGz)-10], "truncated"},
		{"bad checksum", img, append(goodGz[:len(goodGz)-8:len(goodGz)-8], 1, 2, 3, 4, 0x20, 6, 0, 0), "gzip: invalid checksum"},
		{"truncated body", img, gz(good[:1000]), "truncated: the header declares 2 images of 28x28 (1568 bytes) but 984 bytes follow"},
		{"truncated header", img, gz(good[:10]), "truncated inside the idx header"},
		{"trailing bytes", img, gz(append(good, 0)), "more bytes follow the 2 images of 28x28"},
		{"labels magic", img, gz(goodLabels), "magic number 0x00000801 is not 0x00000803"},
		{"images magic", lbl, gz(good), "magic number 0x00000803 is not 0x00000801"},
		{"image size", img, gz(idxFile(idxImagesMagic, []uint32{2, 33, 28}, make([]byte, 2*33*28))), "image size 33x28 is outside 1x1..32x32"},
		{"no images", img, gz(idxFile(idxImagesMagic, []uint32{0, 28, 28}, nil)), "declares 0 images"},
		{"label range", lbl, gz(idxFile(idxLabelsMagic, []uint32{2}, []byte{1, 10})), "label 10 of item 1 is outside 0..9"},
		{"count mismatch", lbl, gz(idxFile(idxLabelsMagic, []uint32{3}, []byte{1, 2, 3})), "holds 3 labels but"},
		{"huge header", img, gz(idxFile(idxImagesMagic, []uint32{1 << 31, 32, 32}, make([]byte, 10))), "but 10 bytes follow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, img, gz(good))
			writeFile(t, dir, lbl, gz(goodLabels))
			p := filepath.Join(dir, c.file)
			if c.data == nil {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, dir, c.file, c.data)
			}
			_, err := LoadMNIST(dir, Train)
			checkErr(t, err, "data: mnist:", p, c.wantMessage)
		})
	}
}

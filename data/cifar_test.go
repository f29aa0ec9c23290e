package data

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// cifarRecords returns n random records of format f, with labels below the
// format's limits, and the images and each label byte column.
func cifarRecords(r *rand.Rand, f *cifarFormat, n int) (file, images []byte, labels [][]byte) {
	labels = make([][]byte, len(f.labelLimits))
	for i := 0; i < n; i++ {
		for j, lim := range f.labelLimits {
			l := byte(r.IntN(lim))
			labels[j] = append(labels[j], l)
			file = append(file, l)
		}
		img := randomBytes(r, cifarPixels, 256)
		images = append(images, img...)
		file = append(file, img...)
	}
	return file, images, labels
}

// cifar10Dir writes a tiny CIFAR-10 folder (counts[i] records in batch i,
// the test batch last) under dir/sub and returns the expected splits.
func cifar10Dir(t *testing.T, dir, sub string, counts []int) (train, test *Dataset) {
	t.Helper()
	r := rand.New(rand.NewPCG(10, uint64(len(counts))))
	train, test = &Dataset{}, &Dataset{}
	for i, n := range counts {
		file, img, lbl := cifarRecords(r, &cifar10Format, n)
		name, d := fmt.Sprintf("data_batch_%d.bin", i+1), train
		if i == len(counts)-1 {
			name, d = "test_batch.bin", test
		}
		writeFile(t, filepath.Join(dir, sub), name, file)
		d.Images = append(d.Images, img...)
		d.Labels = append(d.Labels, lbl[0]...)
	}
	return train, test
}

func sameData(t *testing.T, got, want *Dataset) {
	t.Helper()
	if !slices.Equal(got.Labels, want.Labels) || !slices.Equal(got.Images, want.Images) {
		t.Errorf("%s %v: %d images read differ from the %d written", got.Info.Name, got.Split, got.Len(), want.Len())
	}
}

func TestCIFAR10(t *testing.T) {
	for _, sub := range []string{"", "cifar-10-batches-bin"} {
		t.Run("sub="+sub, func(t *testing.T) {
			dir := t.TempDir()
			wantTrain, wantTest := cifar10Dir(t, dir, sub, []int{3, 1, 4, 1, 5, 2})
			train, err := LoadCIFAR10(dir, Train)
			if err != nil {
				t.Fatal(err)
			}
			test, err := LoadCIFAR10(dir, Test)
			if err != nil {
				t.Fatal(err)
			}
			if train.Len() != 14 || test.Len() != 2 || train.Split != Train || test.Split != Test {
				t.Fatalf("train %d (%v), test %d (%v): want 14 and 2", train.Len(), train.Split, test.Len(), test.Split)
			}
			sameData(t, train, wantTrain)
			sameData(t, test, wantTest)
			if info, _ := Describe("cifar10"); train.Info != info || len(train.ClassCounts()) != 10 {
				t.Errorf("info %+v, Describe says %+v", train.Info, info)
			}
			if d, err := Load("cifar10", dir, Test); err != nil || !slices.Equal(d.Labels, test.Labels) {
				t.Errorf("Load(cifar10): %v", err)
			}
		})
	}
}

func TestCIFAR100(t *testing.T) {
	for _, sub := range []string{"", "cifar-100-binary"} {
		t.Run("sub="+sub, func(t *testing.T) {
			dir := t.TempDir()
			r := rand.New(rand.NewPCG(100, 1))
			trainFile, trainImg, trainLbl := cifarRecords(r, &cifar100Format, 7)
			testFile, testImg, testLbl := cifarRecords(r, &cifar100Format, 3)
			writeFile(t, filepath.Join(dir, sub), "train.bin", trainFile)
			writeFile(t, filepath.Join(dir, sub), "test.bin", testFile)
			for _, c := range []struct {
				labels  CIFAR100Labels
				name    string
				classes int
				col     int // label byte: 0 coarse, 1 fine
			}{{FineLabels, "cifar100", 100, 1}, {CoarseLabels, "cifar100-coarse", 20, 0}} {
				for _, s := range []struct {
					split Split
					img   []byte
					lbl   [][]byte
				}{{Train, trainImg, trainLbl}, {Test, testImg, testLbl}} {
					d, err := LoadCIFAR100(dir, s.split, c.labels)
					if err != nil {
						t.Fatal(err)
					}
					sameData(t, d, &Dataset{Images: s.img, Labels: s.lbl[c.col]})
					if d.Info.Name != c.name || d.Info.Classes != c.classes || d.Info.Mean != cifar100Info.Mean {
						t.Errorf("%v: info %+v", c.labels, d.Info)
					}
					if info, err := Describe(c.name); err != nil || info != d.Info {
						t.Errorf("Describe(%s) = %+v, %v; loaded %+v", c.name, info, err, d.Info)
					}
					if d2, err := Load(c.name, dir, s.split); err != nil || !slices.Equal(d2.Labels, d.Labels) {
						t.Errorf("Load(%s): %v", c.name, err)
					}
				}
			}
		})
	}
}

func TestCIFARErrors(t *testing.T) {
	counts := []int{2, 2, 2, 2, 2, 1}
	t.Run("missing batch", func(t *testing.T) {
		dir := t.TempDir()
		cifar10Dir(t, dir, "", counts)
		p := filepath.Join(dir, "data_batch_4.bin")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCIFAR10(dir, Train)
		checkErr(t, err, "data: cifar10:", p, "no such file")
	})
	t.Run("truncated", func(t *testing.T) {
		dir := t.TempDir()
		cifar10Dir(t, dir, "cifar-10-batches-bin", counts)
		p := filepath.Join(dir, "cifar-10-batches-bin", "data_batch_3.bin")
		// Ten records, the last one byte short (30730 bytes would be ten
		// whole records).
		writeFile(t, filepath.Dir(p), "data_batch_3.bin", make([]byte, 10*3073-1))
		_, err := LoadCIFAR10(dir, Train)
		checkErr(t, err, "data: cifar10: "+p+": 30729 bytes is not a whole number of 3073-byte records")
	})
	t.Run("empty", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "test.bin", nil)
		_, err := LoadCIFAR100(dir, Test, FineLabels)
		checkErr(t, err, "data: cifar100: "+p+": empty file")
	})
	t.Run("label range", func(t *testing.T) {
		dir := t.TempDir()
		rec := make([]byte, 2*3074)
		rec[3074], rec[3075] = 19, 100 // record 1: coarse fine, fine out of range
		p := writeFile(t, dir, "train.bin", rec)
		_, err := LoadCIFAR100(dir, Train, CoarseLabels)
		checkErr(t, err, "data: cifar100: "+p+": record 1: label 100 is outside 0..99")
	})
	t.Run("wrong folder", func(t *testing.T) {
		// CIFAR-100 files where CIFAR-10 is expected.
		dir := t.TempDir()
		writeFile(t, dir, "train.bin", make([]byte, 3074))
		writeFile(t, dir, "test.bin", make([]byte, 3074))
		_, err := LoadCIFAR10(dir, Train)
		checkErr(t, err, "data: cifar10:", dir, "data_batch_1.bin", "cifar-10-batches-bin", "holds test.bin, train.bin")
		_, err = LoadCIFAR100(filepath.Join(dir, "train.bin"), Train, FineLabels)
		checkErr(t, err, "data: cifar100:", "train.bin is not a folder")
	})
	t.Run("no folder", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "absent")
		_, err := LoadCIFAR10(dir, Test)
		checkErr(t, err, "data: cifar10:", dir, "no such file")
		_, err = LoadCIFAR10("", Test)
		checkErr(t, err, "data: cifar10: no folder given")
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := Load("imagenet", t.TempDir(), Train)
		checkErr(t, err, `unknown dataset "imagenet"`, "cifar100-coarse")
		_, err = Describe("imagenet")
		checkErr(t, err, `unknown dataset "imagenet"`, "cifar100-coarse")
		_, err = LoadCIFAR100(t.TempDir(), Train, CIFAR100Labels(7))
		checkErr(t, err, "data: cifar100: unknown label set 7")
		_, err = ParseSplit("val")
		checkErr(t, err, `split "val"`)
	})
}

func TestSplit(t *testing.T) {
	for _, s := range []Split{Train, Test} {
		if got, err := ParseSplit(s.String()); err != nil || got != s {
			t.Errorf("ParseSplit(%q) = %v, %v", s, got, err)
		}
	}
}

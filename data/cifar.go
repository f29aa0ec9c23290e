package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CIFAR100Labels selects which of CIFAR-100's two labels a Dataset keeps.
type CIFAR100Labels int

const (
	// FineLabels are the 100 classes (the paper's setting).
	FineLabels CIFAR100Labels = iota
	// CoarseLabels are the 20 superclasses.
	CoarseLabels
)

// cifarPixels is the size of one CIFAR image: 3 channels of 32x32 bytes,
// red plane, then green, then blue (the layout Dataset keeps).
const cifarPixels = 3 * Size * Size

// cifarFormat describes one of the official binary distributions.
type cifarFormat struct {
	name        string      // dataset name in errors
	sub         string      // folder the official archive unpacks into
	files       [2][]string // by Split
	labelLimits []int       // label bytes per record and their class counts
}

var (
	cifar10Format = cifarFormat{
		name: "cifar10",
		sub:  "cifar-10-batches-bin",
		files: [2][]string{
			Train: {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
			Test:  {"test_batch.bin"},
		},
		labelLimits: []int{10},
	}
	cifar100Format = cifarFormat{
		name:        "cifar100",
		sub:         "cifar-100-binary",
		files:       [2][]string{Train: {"train.bin"}, Test: {"test.bin"}},
		labelLimits: []int{20, 100}, // coarse, then fine
	}
)

// recordLen returns the bytes of one record: labels, then pixels.
func (f *cifarFormat) recordLen() int { return len(f.labelLimits) + cifarPixels }

// LoadCIFAR10 reads one CIFAR-10 split from the official binary files
// (data_batch_1.bin .. data_batch_5.bin, test_batch.bin) in dir or in its
// cifar-10-batches-bin subfolder.
func LoadCIFAR10(dir string, split Split) (*Dataset, error) {
	return loadCIFAR(&cifar10Format, 0, cifar10Info, dir, split)
}

// LoadCIFAR100 reads one CIFAR-100 split from the official binary files
// (train.bin, test.bin) in dir or in its cifar-100-binary subfolder, keeping
// the fine (100 classes) or coarse (20 superclasses) labels. Both labels of
// every record are validated either way.
func LoadCIFAR100(dir string, split Split, labels CIFAR100Labels) (*Dataset, error) {
	switch labels {
	case FineLabels:
		return loadCIFAR(&cifar100Format, 1, cifar100Info, dir, split)
	case CoarseLabels:
		return loadCIFAR(&cifar100Format, 0, cifar100CoarseInfo, dir, split)
	}
	return nil, fmt.Errorf("data: cifar100: unknown label set %d", int(labels))
}

// loadCIFAR reads the files of a split; pick is the index of the label byte
// kept.
func loadCIFAR(f *cifarFormat, pick int, info Info, dir string, split Split) (*Dataset, error) {
	if split != Train && split != Test {
		return nil, fmt.Errorf("data: %s: unknown split %v", f.name, split)
	}
	if dir == "" {
		return nil, fmt.Errorf("data: %s: no folder given", f.name)
	}
	names := f.files[split]
	folder, err := f.resolve(dir, names[0])
	if err != nil {
		return nil, err
	}
	// Check every file's size before reading any, so a missing or truncated
	// last file fails at once and the images are allocated exactly.
	paths := make([]string, len(names))
	records := 0
	for i, n := range names {
		paths[i] = filepath.Join(folder, n)
		st, err := os.Stat(paths[i])
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", f.name, err)
		}
		if err := f.checkSize(st.Size()); err != nil {
			return nil, fmt.Errorf("data: %s: %s: %w", f.name, paths[i], err)
		}
		records += int(st.Size()) / f.recordLen()
	}
	images := make([]uint8, 0, records*cifarPixels)
	labels := make([]uint8, 0, records)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", f.name, err)
		}
		if images, labels, err = f.appendRecords(images, labels, b, pick); err != nil {
			return nil, fmt.Errorf("data: %s: %s: %w", f.name, p, err)
		}
	}
	return &Dataset{Info: info, Split: split, Images: images, Labels: labels}, nil
}

// resolve returns dir or its official subfolder, whichever holds the file
// first; otherwise an error saying what the folder does hold.
func (f *cifarFormat) resolve(dir, first string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("data: %s: %w", f.name, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("data: %s: %s is not a folder", f.name, dir)
	}
	sub := filepath.Join(dir, f.sub)
	for _, d := range []string{dir, sub} {
		if _, err := os.Stat(filepath.Join(d, first)); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("data: %s: %w", f.name, err)
		}
	}
	return "", fmt.Errorf("data: %s: neither %s nor %s holds %s (the official binary version); %s holds %s",
		f.name, dir, sub, first, dir, listing(dir))
}

// listing summarises a folder's entries for an error message.
func listing(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return "nothing"
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	const most = 6
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// checkSize rejects a file size that is not a positive whole number of
// records.
func (f *cifarFormat) checkSize(size int64) error {
	rl := int64(f.recordLen())
	if size == 0 {
		return errors.New("empty file")
	}
	if size%rl != 0 {
		return fmt.Errorf("%d bytes is not a whole number of %d-byte records", size, rl)
	}
	return nil
}

// appendRecords parses a whole record file b, validating every label, and
// appends its images and its label number pick to images and labels.
func (f *cifarFormat) appendRecords(images, labels []uint8, b []byte, pick int) ([]uint8, []uint8, error) {
	if err := f.checkSize(int64(len(b))); err != nil {
		return images, labels, err
	}
	rl := f.recordLen()
	nl := len(f.labelLimits)
	for r := 0; r < len(b); r += rl {
		rec := b[r : r+rl]
		for j, lim := range f.labelLimits {
			if int(rec[j]) >= lim {
				return images, labels, fmt.Errorf("record %d: label %d is outside 0..%d", r/rl, rec[j], lim-1)
			}
		}
		labels = append(labels, rec[pick])
		images = append(images, rec[nl:]...)
	}
	return images, labels, nil
}

package data

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders of ImageFolder's formats
	_ "image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	_ "golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/math/f64"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// FolderOptions says how LoadImageFolder turns images into a model's input.
type FolderOptions struct {
	// Side is the model's input height and width: each image's central
	// square is resized to Side x Side (bilinear, smoothing when it shrinks),
	// as torchvision's Resize(Side) followed by CenterCrop(Side) does.
	Side int
	// Channels is 1 (grayscale) or 3 (RGB). An image with the other number
	// of channels is an error naming it.
	Channels int
	// Mean and Std normalise each channel: (v/255 - Mean[c]) / Std[c].
	Mean, Std []float64
	// Workers is the number of images decoded at once; 0 means GOMAXPROCS.
	Workers int
}

func (o FolderOptions) validate() error {
	switch {
	case o.Side < 1:
		return fmt.Errorf("data: image side %d: want at least 1 pixel", o.Side)
	case o.Channels != 1 && o.Channels != 3:
		return fmt.Errorf("data: %d channels: image folders give 1 (grayscale) or 3 (RGB)", o.Channels)
	case len(o.Mean) != o.Channels || len(o.Std) != o.Channels:
		return fmt.Errorf("data: %d mean and %d std values for %d channels", len(o.Mean), len(o.Std), o.Channels)
	}
	for _, s := range o.Std {
		if !(s > 0) {
			return fmt.Errorf("data: std %v: want positive values", o.Std)
		}
	}
	return nil
}

// imageExts are the file extensions LoadImageFolder reads (torchvision's
// ImageFolder list, less .ppm and .pgm).
var imageExts = []string{".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}

// splitRoot returns the folder of split's class folders: dir/train for
// Train and dir/val or dir/test for Test when dir has both a train folder
// and one of those, else dir itself (the same images for both splits).
func splitRoot(dir string, split Split) string {
	isDir := func(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }
	train := filepath.Join(dir, "train")
	var test string
	for _, n := range []string{"val", "test"} {
		if isDir(filepath.Join(dir, n)) {
			test = filepath.Join(dir, n)
			break
		}
	}
	if !isDir(train) || test == "" {
		return dir
	}
	if split == Train {
		return train
	}
	return test
}

// folderKey identifies a decoded folder in the cache: the same files
// (names, sizes, times) decoded to the same side and channels.
type folderKey struct {
	root           string
	side, channels int
	files          string
}

var (
	folderMu    sync.Mutex
	folderCache = map[folderKey]*Dataset{}
)

// LoadImageFolder reads an image-classification folder in torchvision's
// ImageFolder layout: one sub-folder per class, named freely, the classes
// numbered in the sorted order of the names, each holding PNG, JPEG (or
// BMP, TIFF, WebP) images, also in sub-folders, in ImageFolder's order. A folder with train/ and val/ (or test/)
// sub-folders of that layout gives the split asked for; otherwise both
// splits are the whole folder. Files with other extensions and hidden files
// are ignored.
//
// Images are decoded in parallel, their central square resized to
// opt.Side (FolderOptions), and kept as bytes; batches normalise them with
// opt.Mean and opt.Std. The decoded images are cached for the life of the
// process: loading the same unchanged folder again (another model of the
// same input size, the other split of a single folder) decodes nothing.
//
// Errors are one line naming the file or folder: an image that does not
// decode, a class folder without images, an image with the wrong number of
// channels (a grayscale image for a 3-channel model, a colour image for a
// 1-channel one), more than 256 classes.
func LoadImageFolder(dir string, split Split, opt FolderOptions) (*Dataset, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("data: image folder %s does not exist", dir)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data: %s is not a folder (want one sub-folder of images per class)", dir)
	}
	root := splitRoot(dir, split)
	classes, files, sig, err := listFolder(root)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	info := Info{Name: "folder:" + filepath.Base(filepath.Clean(dir)), Classes: len(classes), Channels: opt.Channels,
		Side: opt.Side, Source: abs}
	copy(info.Mean[:], opt.Mean)
	copy(info.Std[:], opt.Std)
	key := folderKey{root: abs, side: opt.Side, channels: opt.Channels, files: sig}
	folderMu.Lock()
	cached := folderCache[key]
	folderMu.Unlock()
	if cached == nil {
		d := &Dataset{Split: split}
		if d.Images, d.Labels, err = decodeAll(files, opt); err != nil {
			return nil, err
		}
		folderMu.Lock()
		folderCache[key] = d
		folderMu.Unlock()
		cached = d
	}
	return &Dataset{Info: info, Split: split, Images: cached.Images, Labels: cached.Labels}, nil
}

// folderFile is one image with its class.
type folderFile struct {
	path  string
	label uint8
}

// listFolder returns the class names, the images in class then name order,
// and a signature of the listing (names, sizes, modification times).
func listFolder(root string) (classes []string, files []folderFile, sig string, err error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, "", fmt.Errorf("data: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, nil, "", fmt.Errorf("data: %s has no class folders (want one sub-folder of images per class)", root)
	}
	if len(classes) > 256 {
		return nil, nil, "", fmt.Errorf("data: %s has %d class folders; vitprobe's datasets hold at most 256 classes", root, len(classes))
	}
	slices.Sort(classes)
	var b strings.Builder
	type listed struct {
		folderFile
		size, mtime int64
	}
	for ci, c := range classes {
		var class []listed
		dir := filepath.Join(root, c)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != dir {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(p))) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			class = append(class, listed{folderFile{path: p, label: uint8(ci)}, fi.Size(), fi.ModTime().UnixNano()})
			return nil
		})
		if err != nil {
			return nil, nil, "", fmt.Errorf("data: %w", err)
		}
		// torchvision's order: folder by folder in sorted order of their
		// paths (a class folder's own files before its sub-folders'), files
		// sorted by name.
		slices.SortFunc(class, func(a, b listed) int {
			if c := strings.Compare(filepath.Dir(a.path), filepath.Dir(b.path)); c != 0 {
				return c
			}
			return strings.Compare(a.path, b.path)
		})
		for _, f := range class {
			fmt.Fprintf(&b, "%s\x00%d\x00%d\n", f.path, f.size, f.mtime)
			files = append(files, f.folderFile)
		}
		n := len(class)
		if n == 0 {
			return nil, nil, "", fmt.Errorf("data: class folder %s holds no images (%s)", dir, strings.Join(imageExts, ", "))
		}
	}
	return classes, files, b.String(), nil
}

// decodeAll decodes files in parallel into (N, C, side, side) bytes.
func decodeAll(files []folderFile, opt FolderOptions) ([]uint8, []uint8, error) {
	per := opt.Channels * opt.Side * opt.Side
	images := make([]uint8, len(files)*per)
	labels := make([]uint8, len(files))
	errs := make([]error, len(files))
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(files)))
	var next sync.Mutex
	k := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				next.Lock()
				i := k
				k++
				next.Unlock()
				if i >= len(files) {
					return
				}
				labels[i] = files[i].label
				errs[i] = decodeInto(images[i*per:(i+1)*per], files[i].path, opt)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err // the first in file order
		}
	}
	return images, labels, nil
}

// decodeInto decodes the image at path and writes its central square,
// resized to opt.Side, as opt.Channels planes of bytes into dst.
func decodeInto(dst []uint8, path string, opt FolderOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("data: %s: not a readable image: %w", path, err)
	}
	c := imageChannels(img)
	if c != opt.Channels {
		return fmt.Errorf("data: %s: %s image, but the model takes %d channel%s", path, channelWord(c), opt.Channels, plural(opt.Channels))
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return fmt.Errorf("data: %s: empty image", path)
	}
	n := opt.Side
	plane := n * n
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, n, n))
		resizeCrop(g, img, n)
		copy(dst[:plane], g.Pix)
		return nil
	}
	rgba := image.NewRGBA(image.Rect(0, 0, n, n))
	resizeCrop(rgba, img, n)
	for i := 0; i < plane; i++ {
		dst[i] = rgba.Pix[4*i]
		dst[plane+i] = rgba.Pix[4*i+1]
		dst[2*plane+i] = rgba.Pix[4*i+2]
	}
	return nil
}

// resizeCrop draws onto the n x n dst what torchvision's Resize(n) then
// CenterCrop(n) make of img: the shorter side scaled to n and the longer
// to int(n·long/short), then the central n x n window at offsets
// round((side - n)/2) (half to even, as Python's round). The resampling
// is bilinear with the kernel widened by the shrink factor (x/image/draw's
// BiLinear), which is PIL's antialiased bilinear filter up to rounding;
// an image whose shorter side is n is cropped without resampling.
func resizeCrop(dst draw.Image, img image.Image, n int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rw, rh := n, n
	if w <= h {
		rh = int(float64(n) * float64(h) / float64(w))
	} else {
		rw = int(float64(n) * float64(w) / float64(h))
	}
	ox := int(math.RoundToEven(float64(rw-n) / 2))
	oy := int(math.RoundToEven(float64(rh-n) / 2))
	if rw == w && rh == h {
		draw.Draw(dst, dst.Bounds(), img, b.Min.Add(image.Pt(ox, oy)), draw.Src)
		return
	}
	// Source to destination: scale to (rw, rh), then shift by the crop.
	sx, sy := float64(rw)/float64(w), float64(rh)/float64(h)
	s2d := f64.Aff3{sx, 0, -float64(ox) - sx*float64(b.Min.X), 0, sy, -float64(oy) - sy*float64(b.Min.Y)}
	draw.BiLinear.Transform(dst, s2d, img, b, draw.Src, nil)
}

// imageChannels returns 1 for a grayscale image (a gray color model, or a
// palette of grays only) and 3 otherwise (alpha is not a channel here).
func imageChannels(img image.Image) int {
	switch m := img.ColorModel(); m {
	case color.GrayModel, color.Gray16Model:
		return 1
	default:
		if p, ok := m.(color.Palette); ok {
			for _, c := range p {
				r, g, b, _ := c.RGBA()
				if r != g || g != b {
					return 3
				}
			}
			return 1
		}
	}
	return 3
}

func channelWord(c int) string {
	if c == 1 {
		return "a grayscale (1-channel)"
	}
	return "a colour (3-channel)"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

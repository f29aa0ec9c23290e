package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vitprobe/vitprobe/internal/testdep"
	"github.com/vitprobe/vitprobe/safetensors"
)

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func solid(w, h int, c color.Color) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

var rgbOpt = FolderOptions{Side: 8, Channels: 3, Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.2, 0.25, 0.3}}

func TestLoadImageFolder(t *testing.T) {
	dir := t.TempDir()
	// Class folders in unsorted creation order: labels follow sorted names.
	// zebra: an 8x8 image with a pattern, copied exactly (no resampling).
	pattern := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			pattern.Set(x, y, color.NRGBA{uint8(10 * x), uint8(20 * y), uint8(x * y), 255})
		}
	}
	writeImage(t, filepath.Join(dir, "zebra", "a.png"), pattern)
	// ant: a 40x10 image, red | green | blue thirds (13, 14, 13 columns):
	// resized to 32x8 and cropped at column 12, it shows source columns
	// 15-24, with the resampling kernel reaching 1.25 columns further: all
	// green.
	thirds := image.NewNRGBA(image.Rect(0, 0, 40, 10))
	for y := 0; y < 10; y++ {
		for x := 0; x < 40; x++ {
			c := color.NRGBA{0, 255, 0, 255}
			if x < 13 {
				c = color.NRGBA{255, 0, 0, 255}
			} else if x >= 27 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			thirds.Set(x, y, c)
		}
	}
	writeImage(t, filepath.Join(dir, "ant", "thirds.png"), thirds)
	// ant also holds a large solid JPEG (shrunk) and files to ignore.
	writeImage(t, filepath.Join(dir, "ant", "sub", "big.jpg"), solid(50, 40, color.NRGBA{100, 150, 200, 255}))
	if err := os.WriteFile(filepath.Join(dir, "ant", "notes.txt"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeImage(t, filepath.Join(dir, "ant", ".hidden.png"), solid(3, 3, color.Black))
	writeImage(t, filepath.Join(dir, "mole", "m.png"), solid(8, 8, color.NRGBA{255, 255, 255, 255}))

	d, err := LoadImageFolder(dir, Test, rgbOpt)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || d.Info.Classes != 3 || d.Info.Channels != 3 || d.Info.ImageSide() != 8 {
		t.Fatalf("%d images, %d classes, %d channels, side %d", d.Len(), d.Info.Classes, d.Info.Channels, d.Info.ImageSide())
	}
	// Order (torchvision's): ant/thirds.png, ant/sub/big.jpg, mole, zebra.
	if !slices.Equal(d.Labels, []uint8{0, 0, 1, 2}) {
		t.Errorf("labels %v, want [0 0 1 2]", d.Labels)
	}
	plane := 64
	img := d.Image(3)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			got := []uint8{img[y*8+x], img[plane+y*8+x], img[2*plane+y*8+x]}
			if want := []uint8{uint8(10 * x), uint8(20 * y), uint8(x * y)}; !slices.Equal(got, want) {
				t.Fatalf("zebra pixel (%d, %d) = %v, want %v", x, y, got, want)
			}
		}
	}
	checkSolid := func(i int, want [3]uint8, tol int) {
		t.Helper()
		img := d.Image(i)
		for c := 0; c < 3; c++ {
			for p := 0; p < plane; p++ {
				if diff := int(img[c*plane+p]) - int(want[c]); diff < -tol || diff > tol {
					t.Fatalf("image %d channel %d pixel %d = %d, want %d ± %d", i, c, p, img[c*plane+p], want[c], tol)
				}
			}
		}
	}
	checkSolid(1, [3]uint8{100, 150, 200}, 2) // JPEG's rounding
	checkSolid(0, [3]uint8{0, 255, 0}, 0)     // the central square of thirds
	checkSolid(2, [3]uint8{255, 255, 255}, 0)

	// Batches normalise with the options' statistics.
	var hb HostBatch
	if err := d.Fill(&hb, []int{2, 0}, Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	if hb.Side != 8 || len(hb.Images) != 2*3*plane {
		t.Fatalf("batch side %d, %d values", hb.Side, len(hb.Images))
	}
	for c, v := range []float64{1, 1, 1} {
		want := (v - rgbOpt.Mean[c]) / rgbOpt.Std[c]
		if got := float64(hb.Images[c*plane+5]); math.Abs(got-want) > 1e-6 {
			t.Errorf("white, channel %d: %v, want %v", c, got, want)
		}
	}
	if got, want := float64(hb.Images[3*plane+plane+7]), (1-0.4)/0.25; math.Abs(got-want) > 1e-6 {
		t.Errorf("green channel of the second image: %v, want %v", got, want)
	}
	if !slices.Equal(hb.Labels, []int64{1, 0}) {
		t.Errorf("batch labels %v", hb.Labels)
	}

	// The same bytes with one worker; from the cache the second time.
	one := rgbOpt
	one.Workers = 1
	again, err := LoadImageFolder(dir, Train, one)
	if err != nil {
		t.Fatal(err)
	}
	if &again.Images[0] != &d.Images[0] || again.Split != Train {
		t.Error("the second load of an unchanged folder decoded it again")
	}
	// A changed file is decoded again.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "mole", "m.png"), later, later); err != nil {
		t.Fatal(err)
	}
	fresh, err := LoadImageFolder(dir, Test, one)
	if err != nil {
		t.Fatal(err)
	}
	if &fresh.Images[0] == &d.Images[0] || !slices.Equal(fresh.Images, d.Images) {
		t.Error("a folder with a changed file was not decoded again to the same bytes")
	}
}

// flipRand returns a generator whose first IntN(2) is 1 (a flip).
func flipRand() *rand.Rand {
	for s := uint64(0); ; s++ {
		if rand.New(rand.NewPCG(s, 0)).IntN(2) == 1 {
			return rand.New(rand.NewPCG(s, 0))
		}
	}
}

func TestLoadImageFolderSplitsAndGray(t *testing.T) {
	dir := t.TempDir()
	gray := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(16 * i)
	}
	writeImage(t, filepath.Join(dir, "train", "a", "1.png"), gray)
	writeImage(t, filepath.Join(dir, "train", "b", "1.png"), gray)
	writeImage(t, filepath.Join(dir, "train", "b", "2.png"), gray)
	writeImage(t, filepath.Join(dir, "val", "a", "1.png"), gray)
	writeImage(t, filepath.Join(dir, "val", "b", "1.png"), gray)
	opt := FolderOptions{Side: 4, Channels: 1, Mean: []float64{0.5}, Std: []float64{0.5}}
	tr, err := LoadImageFolder(dir, Train, opt)
	if err != nil {
		t.Fatal(err)
	}
	te, err := LoadImageFolder(dir, Test, opt)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 3 || te.Len() != 2 || !slices.Equal(te.Labels, []uint8{0, 1}) {
		t.Fatalf("train %d, test %d images (labels %v)", tr.Len(), te.Len(), te.Labels)
	}
	if !slices.Equal(te.Image(1), gray.Pix) {
		t.Errorf("gray image %v, want %v", te.Image(1), gray.Pix)
	}
}

// TestLoadImageFolderErrors checks the one-line errors naming the file.
func TestLoadImageFolderErrors(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, files map[string]image.Image, raw map[string]string) string {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for p, img := range files {
			writeImage(t, filepath.Join(dir, p), img)
		}
		for p, s := range raw {
			full := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	red := solid(5, 5, color.NRGBA{200, 10, 10, 255})
	gray := image.NewGray(image.Rect(0, 0, 5, 5))
	cases := []struct {
		name, dir string
		opt       FolderOptions
		want      []string
	}{
		{"unreadable", mk("bad", map[string]image.Image{"a/1.png": red}, map[string]string{"b/broken.jpg": "not a jpeg"}),
			rgbOpt, []string{"broken.jpg", "not a readable image"}},
		{"empty class", mk("empty", map[string]image.Image{"a/1.png": red}, map[string]string{"b/readme.txt": "x"}),
			rgbOpt, []string{filepath.Join("empty", "b"), "holds no images"}},
		{"gray for RGB", mk("gray", map[string]image.Image{"a/1.png": red, "b/g.png": gray}, nil),
			rgbOpt, []string{filepath.Join("b", "g.png"), "grayscale (1-channel) image, but the model takes 3 channels"}},
		{"colour for gray", mk("colour", map[string]image.Image{"a/1.png": gray, "b/c.png": red}, nil),
			FolderOptions{Side: 4, Channels: 1, Mean: []float64{0}, Std: []float64{1}},
			[]string{filepath.Join("b", "c.png"), "colour (3-channel) image, but the model takes 1 channel"}},
		{"no classes", mk("flat", nil, map[string]string{"x.png": "x"}), rgbOpt, []string{"flat has no class folders"}},
		{"missing", filepath.Join(base, "nowhere"), rgbOpt, []string{"nowhere does not exist"}},
		{"a file", mk("file", nil, map[string]string{"f.txt": "x"}) + "/f.txt", rgbOpt, []string{"f.txt is not a folder"}},
	}
	for _, c := range cases {
		_, err := LoadImageFolder(c.dir, Test, c.opt)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error on several lines: %q", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not say %q", c.name, msg, w)
			}
		}
	}
}

func writeTensors(t *testing.T, path string, tensors ...safetensors.Tensor) {
	t.Helper()
	var b bytes.Buffer
	if _, err := safetensors.Encode(&b, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func i64s(v ...int64) safetensors.Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return safetensors.Tensor{Name: "y", DType: safetensors.I64, Shape: []int64{int64(len(v))}, Data: b}
}

func TestLoadTensorFile(t *testing.T) {
	dir := t.TempDir()
	// Float images are used as they are, with flips and crops working on
	// them like on bytes.
	x := make([]float32, 3*2*4*4)
	for i := range x {
		x[i] = float32(i) / 7
	}
	fpath := filepath.Join(dir, "f.safetensors")
	writeTensors(t, fpath, safetensors.FromFloat32s("x", []int64{3, 2, 4, 4}, x), i64s(2, 0, 1))
	d, err := LoadTensorFile(fpath, Test, TensorFileOptions{Side: 4, Channels: 2, Classes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Info.Classes != 5 || d.Values == nil || !slices.Equal(d.Labels, []uint8{2, 0, 1}) {
		t.Fatalf("%d images, %d classes, labels %v", d.Len(), d.Info.Classes, d.Labels)
	}
	var hb HostBatch
	if err := d.Fill(&hb, []int{1, 2}, Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hb.Images, x[32:]) || !slices.Equal(hb.Labels, []int64{0, 1}) || hb.Side != 4 {
		t.Errorf("float batch differs from the file's values")
	}
	// A flip mirrors the rows of floats.
	if err := d.Fill(&hb, []int{0}, Augment{Flip: true}, flipRand()); err != nil {
		t.Fatal(err)
	}
	if hb.Images[0] != x[3] || hb.Images[3] != x[0] {
		t.Errorf("flipped row %v, file row %v", hb.Images[:4], x[:4])
	}

	// Byte images are normalised; the class count defaults to max + 1.
	bpath := filepath.Join(dir, "b.safetensors")
	px := []byte{0, 51, 102, 255}
	writeTensors(t, bpath, safetensors.Tensor{Name: "x", DType: safetensors.U8, Shape: []int64{1, 1, 2, 2}, Data: px},
		safetensors.Tensor{Name: "y", DType: safetensors.U8, Shape: []int64{1}, Data: []byte{3}})
	d, err = LoadTensorFile(bpath, Train, TensorFileOptions{Side: 2, Channels: 1, Mean: []float64{0.2}, Std: []float64{0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Info.Classes != 4 {
		t.Errorf("classes %d, want 4", d.Info.Classes)
	}
	if err := d.Fill(&hb, []int{0}, Augment{}, nil); err != nil {
		t.Fatal(err)
	}
	for i, v := range px {
		if want := (float64(v)/255 - 0.2) / 0.5; math.Abs(float64(hb.Images[i])-want) > 1e-6 {
			t.Errorf("pixel %d: %v, want %v", i, hb.Images[i], want)
		}
	}

	for _, c := range []struct {
		name string
		file []safetensors.Tensor
		opt  TensorFileOptions
		want string
	}{
		{"no y", []safetensors.Tensor{safetensors.FromFloat32s("x", []int64{1, 1, 2, 2}, make([]float32, 4))},
			TensorFileOptions{Side: 2, Channels: 1}, "want tensors x (images, N x C x H x W) and y (labels, N); it has x"},
		{"shape", []safetensors.Tensor{safetensors.FromFloat32s("x", []int64{1, 1, 2, 2}, make([]float32, 4)), i64s(0)},
			TensorFileOptions{Side: 3, Channels: 1}, "images of 1 x 2 x 2 (channels x height x width), the model takes 1 x 3 x 3"},
		{"label", []safetensors.Tensor{safetensors.FromFloat32s("x", []int64{1, 1, 2, 2}, make([]float32, 4)), i64s(7)},
			TensorFileOptions{Side: 2, Channels: 1, Classes: 5}, "label 7, the model has 5 classes"},
		{"count", []safetensors.Tensor{safetensors.FromFloat32s("x", []int64{2, 1, 2, 2}, make([]float32, 8)), i64s(0)},
			TensorFileOptions{Side: 2, Channels: 1}, "x has shape [2 1 2 2] and y [1]"},
		{"nan", []safetensors.Tensor{safetensors.FromFloat32s("x", []int64{1, 1, 2, 2}, []float32{0, float32(math.NaN()), 0, 0}), i64s(0)},
			TensorFileOptions{Side: 2, Channels: 1}, "non-finite value (image 0)"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		writeTensors(t, p, c.file...)
		_, err := LoadTensorFile(p, Test, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, p, c.want)
		}
	}
}

func TestLoadUserData(t *testing.T) {
	dir := t.TempDir()
	red := solid(6, 6, color.NRGBA{200, 10, 10, 255})
	writeImage(t, filepath.Join(dir, "imgs", "a", "1.png"), red)
	writeImage(t, filepath.Join(dir, "imgs", "b", "1.png"), red)
	in := Input{Side: 6, Channels: 3, Classes: 2, Mean: []float64{0, 0, 0}, Std: []float64{1, 1, 1}}
	d, err := LoadUserData(filepath.Join(dir, "imgs"), Test, in)
	if err != nil || d.Len() != 2 {
		t.Fatalf("image folder: %v", err)
	}
	tf := filepath.Join(dir, "t.safetensors")
	writeTensors(t, tf, safetensors.FromFloat32s("x", []int64{1, 3, 6, 6}, make([]float32, 108)), i64s(1))
	if d, err := LoadUserData(tf, Train, in); err != nil || d.Len() != 1 || d.Values == nil {
		t.Fatalf("tensor file: %v", err)
	}
	in.Classes = 3
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "imgs"), "has 2 class folders, the model 3 classes"},
		{filepath.Join(dir, "imgs", "a", "1.png"), "is neither an image folder"},
		{filepath.Join(dir, "none"), "none does not exist"},
	} {
		if _, err := LoadUserData(c.path, Test, in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.path, err, c.want)
		}
	}
}

// TestImageFolderMatchesTorchvision compares LoadImageFolder with
// torchvision's ImageFolder + Resize + CenterCrop (PIL's antialiased
// bilinear resize) on images that shrink, grow, have odd sizes, or already
// have the input size on their shorter side: the same order and labels,
// and pixels within 1 of PIL's (PIL rounds to bytes between its horizontal
// and vertical passes; x/image/draw resamples both at once).
func TestImageFolderMatchesTorchvision(t *testing.T) {
	py := testdep.Python(t, "torchvision", "PIL")
	dir := t.TempDir()
	sizes := [][2]int{{300, 200}, {97, 61}, {20, 30}, {48, 48}, {48, 100}, {64, 90}, {51, 49}}
	for _, channels := range []int{3, 1} {
		root := filepath.Join(dir, fmt.Sprintf("c%d", channels))
		for k, cls := range []string{"b", "a"} {
			for i, sz := range sizes {
				w, h := sz[0], sz[1]
				var img image.Image
				if channels == 1 {
					g := image.NewGray(image.Rect(0, 0, w, h))
					for y := range h {
						for x := range w {
							g.SetGray(x, y, color.Gray{uint8(128 + 100*math.Sin(float64(x)/5+float64(i))*math.Cos(float64(y)/7))})
						}
					}
					img = g
				} else {
					c := image.NewRGBA(image.Rect(0, 0, w, h))
					for y := range h {
						for x := range w {
							c.Set(x, y, color.RGBA{uint8(128 + 100*math.Sin(float64(x)/4+float64(k))), uint8(128 + 90*math.Sin(float64(x+y)/9)),
								uint8(128 + 60*math.Cos(float64(y)/3+float64(i))), 255})
						}
					}
					img = c
				}
				sub := ""
				if i == 5 {
					sub = "sub" // a nested folder, after the class's own files
				}
				writeImage(t, filepath.Join(root, cls, sub, fmt.Sprintf("%d.png", i)), img)
			}
		}
		const side = 48
		mean := make([]float64, channels)
		std := make([]float64, channels)
		for c := range std {
			std[c] = 1
		}
		d, err := LoadImageFolder(root, Test, FolderOptions{Side: side, Channels: channels, Mean: mean, Std: std})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("ref%d.safetensors", channels))
		script, err := filepath.Abs(filepath.Join("..", "reference", "pytorch", "imagefolder_ref.py"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, "--root", root, "--size", fmt.Sprint(side), "--channels", fmt.Sprint(channels), "--out", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("imagefolder_ref.py: %v\n%s", err, b)
		}
		ref, err := safetensors.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := ref.Lookup("x")
		y, _ := ref.Lookup("y")
		if len(x.Data) != len(d.Images) || int(y.Numel()) != d.Len() {
			t.Fatalf("%d channels: torchvision has %d bytes and %d labels, vitprobe %d and %d", channels, len(x.Data), y.Numel(), len(d.Images), d.Len())
		}
		for i := range d.Len() {
			if want := binary.LittleEndian.Uint64(y.Data[8*i:]); uint64(d.Labels[i]) != want {
				t.Errorf("%d channels: image %d has label %d, torchvision's %d", channels, i, d.Labels[i], want)
			}
		}
		worst, sum := 0, 0
		for i, v := range d.Images {
			diff := int(v) - int(x.Data[i])
			if diff < 0 {
				diff = -diff
			}
			worst = max(worst, diff)
			sum += diff
		}
		t.Logf("%d channels: %d images, mean |difference| %.3f, largest %d (0-255)", channels, d.Len(), float64(sum)/float64(len(d.Images)), worst)
		if worst > 1 {
			t.Errorf("%d channels: a pixel differs from torchvision's by %d", channels, worst)
		}
	}
}

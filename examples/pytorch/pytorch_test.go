package pytorch_test

import (
	"bytes"
	"encoding/json"
	"errors"
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
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// root is the module's root, from this package's folder.
const root = "../.."

// makeImageFolder writes an ImageFolder of 10 classes of n colour images
// each: class k is a grating at angle k·18° and frequency growing with k,
// in a colour of its own, with a random phase and pixel noise; sizes vary
// (64x64, 72x64, 64x80) and PNG alternates with JPEG, so that loading
// resizes and centre-crops.
func makeImageFolder(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := [][2]int{{64, 64}, {72, 64}, {64, 80}}
	for k := range 10 {
		cls := filepath.Join(dir, fmt.Sprintf("class%d", k))
		if err := os.MkdirAll(cls, 0o755); err != nil {
			t.Fatal(err)
		}
		th := float64(k) * math.Pi / 10
		freq := 0.25 + 0.03*float64(k)
		for i := range n {
			w, h := sizes[i%3][0], sizes[i%3][1]
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			phase := rng.Float64() * 2 * math.Pi
			for y := range h {
				for x := range w {
					g := math.Sin((float64(x)*math.Cos(th)+float64(y)*math.Sin(th))*freq + phase)
					c := func(a float64) uint8 { return uint8(min(255, max(0, 128+a+rng.NormFloat64()*20))) }
					img.Set(x, y, color.RGBA{c(80 * g * math.Cos(float64(k))), c(80 * g * math.Sin(float64(k))), c(60 * g), 255})
				}
			}
			var b bytes.Buffer
			name := filepath.Join(cls, fmt.Sprintf("%03d", i))
			var err error
			if i%2 == 0 {
				name += ".jpg"
				err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
			} else {
				name += ".png"
				err = png.Encode(&b, img)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// command is a built vitprobe command.
type command struct {
	t   *testing.T
	bin string
}

// run runs the command in dir and returns its exit status, stdout and
// stderr; the libtorch thread count is 1 (the machine is shared).
func (c command) run(dir string, args ...string) (int, string, string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VITPROBE_THREADS=1", "OMP_NUM_THREADS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), errb.String()
	case err != nil:
		c.t.Fatalf("%s: %v", c.bin, err)
	}
	return 0, out.String(), errb.String()
}

// mustRun runs the command and fails the test unless it succeeds.
func (c command) mustRun(dir string, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(dir, args...)
	if code != 0 {
		c.t.Fatalf("%s %s: exit status %d\n%s", filepath.Base(c.bin), strings.Join(args, " "), code, errs)
	}
	return out
}

func python(t *testing.T, py, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(py, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", py, strings.Join(args, " "), err, out)
	}
}

// build compiles the commands into dir.
func build(t *testing.T, dir string, names ...string) map[string]command {
	t.Helper()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := map[string]command{}
	for _, n := range names {
		out[n] = command{t: t, bin: filepath.Join(dir, n)}
	}
	return out
}

// checkPNG fails unless path is a PNG of at least 200x200 pixels with
// more than a handful of colours (not blank).
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	b := img.Bounds()
	colours := map[color.RGBA]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	if b.Dx() < 200 || b.Dy() < 200 || len(colours) < 8 {
		t.Errorf("%s: %dx%d with %d colours: blank?", path, b.Dx(), b.Dy(), len(colours))
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestPyTorchModelsFromTheCommandLine is issue 15's end-to-end case: a
// torchvision ResNet-18 and a timm-layout ViT, trained briefly in PyTorch
// on an image folder made here (10 classes of 3-channel images) and saved
// with torch.save, exported with python/vitprobe_export.py, then analysed
// from the command line: hessian, landscape and fourier on the image
// folder, and report over their outputs. Then the bad inputs of the
// issue's items 2 and 4, each through a command: the error, exit status 1
// (2 for a missing --data), and nothing written.
func TestPyTorchModelsFromTheCommandLine(t *testing.T) {
	if testing.Short() {
		t.Skip("trains and exports two PyTorch models and runs four commands (about two minutes on two idle cores)")
	}
	py := testdep.Python(t, "torchvision", "PIL")
	dir := t.TempDir()
	imgs := filepath.Join(dir, "images")
	makeImageFolder(t, imgs, 10)
	cmds := build(t, filepath.Join(dir, "bin"), "hessian", "landscape", "fourier", "report")
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	export := abs(filepath.Join(root, "python", "vitprobe_export.py"))
	here := abs(".")

	// The user's side: train, torch.save, export.
	python(t, py, dir, nil, filepath.Join(here, "train_examples.py"), "--data", imgs, "--steps", "8", "--batch", "16", "--out", "weights")
	python(t, py, dir, nil, export, "--arch", "torchvision.models:resnet18", "--kwargs", `{"num_classes": 10}`,
		"--weights", "weights/resnet18.pth", "--size", "64", "--out", "resnet18.pt")
	python(t, py, dir, []string{"PYTHONPATH=" + here}, export, "--arch", "timm_layout_vit:vit_tiny_64",
		"--weights", "weights/vit.pth", "--size", "64", "--name", "vit-tiny", "--out", "vit.pt")

	// The analyses.
	out := filepath.Join(dir, "out")
	models := []string{"resnet18=resnet18.pt", "vit=vit.pt"}
	cmds["hessian"].mustRun(dir, append([]string{"--out", filepath.Join(out, "hessian"), "--data", imgs, "--batches", "1",
		"--batch-size", "8", "--method", "lanczos", "--max-iter", "10"}, models...)...)
	cmds["landscape"].mustRun(dir, append([]string{"--out", filepath.Join(out, "landscape"), "--data", imgs, "--grid", "-1:1:3",
		"--images", "40", "--batch", "20"}, models...)...)
	cmds["fourier"].mustRun(dir, append([]string{"--out", filepath.Join(out, "fourier"), "--data", imgs, "--images", "40",
		"--batch", "20"}, models...)...)
	cmds["report"].mustRun(dir, "--out", out)

	var hj struct {
		Models []struct {
			Label, Model, Dataset string
			Params                int64
			Batches               []struct{ Values []float64 }
		}
	}
	readJSON(t, filepath.Join(out, "hessian", "hessian.json"), &hj)
	if len(hj.Models) != 2 || hj.Models[0].Label != "resnet18" || hj.Models[1].Model != "vit-tiny" {
		t.Fatalf("hessian.json models %+v", hj.Models)
	}
	for _, m := range hj.Models {
		if m.Dataset != "folder:images" || len(m.Batches) != 1 || len(m.Batches[0].Values) != 5 {
			t.Errorf("hessian %s: dataset %q, %d batches", m.Label, m.Dataset, len(m.Batches))
			continue
		}
		for _, v := range m.Batches[0].Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("hessian %s: eigenvalue %v", m.Label, v)
			}
		}
	}
	if hj.Models[0].Params != 11181642 {
		t.Errorf("ResNet-18 with 10 classes has 11,181,642 parameters, hessian.json says %d", hj.Models[0].Params)
	}
	for _, m := range []string{"resnet18", "vit"} {
		var lj struct{ Points []struct{ NLL float64 } }
		readJSON(t, filepath.Join(out, "landscape", m, "landscape.json"), &lj)
		if len(lj.Points) != 9 {
			t.Errorf("landscape %s: %d points, want 9", m, len(lj.Points))
		}
		checkPNG(t, filepath.Join(out, "landscape", m, "nll-contour.png"))
	}
	var fj struct {
		Models []struct {
			Name    string
			Fourier struct {
				Layers []struct {
					Name, Kind string
					DLogAmp    []float64
				}
			}
		}
	}
	readJSON(t, filepath.Join(out, "fourier", "results.json"), &fj)
	want := map[string]string{
		"resnet18": "maxpool layer1.0 layer1.1 layer2.0 layer2.1 layer3.0 layer3.1 layer4.0 layer4.1",
		"vit": "patch_embed blocks.0.attn blocks.0.mlp blocks.1.attn blocks.1.mlp blocks.2.attn blocks.2.mlp " +
			"blocks.3.attn blocks.3.mlp",
	}
	for _, m := range fj.Models {
		var names []string
		for _, l := range m.Fourier.Layers {
			names = append(names, l.Name)
		}
		if got := strings.Join(names, " "); got != want[m.Name] {
			t.Errorf("fourier %s: layers %q, want %q", m.Name, got, want[m.Name])
		}
	}
	for _, f := range []string{"hessian/spectrum.png", "fourier/fig2a-dlogamp.png", "fourier/fig8-highfreq.png",
		"fourier/fig9-variance.png", "fourier/fig2b-noise.png"} {
		checkPNG(t, filepath.Join(out, f))
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}

	badInputs(t, py, cmds, dir, imgs)
}

// badInputs runs the commands on the bad inputs of the items 2 and
// 4 and checks each error: its text, on one line; the exit status; and that
// the --out folder was not created.
func badInputs(t *testing.T, py string, cmds map[string]command, dir, imgs string) {
	t.Helper()
	bad := filepath.Join(dir, "bad")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	ref, err := filepath.Abs(filepath.Join(root, "reference", "pytorch", "export_ref.py"))
	if err != nil {
		t.Fatal(err)
	}
	python(t, py, dir, nil, ref, "--testnets", bad)
	copyFile := func(dst, src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	side, err := os.ReadFile(filepath.Join(dir, "resnet18.json"))
	if err != nil {
		t.Fatal(err)
	}
	editSide := func(name string, f func(map[string]any)) {
		var s map[string]any
		if err := json.Unmarshal(side, &s); err != nil {
			t.Fatal(err)
		}
		s["module"] = name + ".pt"
		f(s)
		b, _ := json.Marshal(s)
		if err := os.WriteFile(filepath.Join(bad, name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not TorchScript: a torch.save'd state dict under a sidecar.
	copyFile(filepath.Join(bad, "statedict.pt"), filepath.Join(bad, "state_dict.pt"))
	editSide("statedict", func(map[string]any) {})
	// No sidecar.
	copyFile(filepath.Join(bad, "lonely.pt"), filepath.Join(dir, "resnet18.pt"))
	// A sidecar that does not match the module's outputs.
	copyFile(filepath.Join(bad, "shape.pt"), filepath.Join(dir, "resnet18.pt"))
	editSide("shape", func(s map[string]any) { s["layers"].([]any)[2].(map[string]any)["shape"] = []int{64, 9, 9} })
	// Image folders: an unreadable image, an empty class, a grayscale image.
	folder := func(name string, edit func(string)) string {
		d := filepath.Join(bad, name)
		if err := os.CopyFS(d, os.DirFS(imgs)); err != nil {
			t.Fatal(err)
		}
		edit(d)
		return d
	}
	unreadable := folder("unreadable", func(d string) {
		if err := os.WriteFile(filepath.Join(d, "class3", "broken.png"), []byte("not a png"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	empty := folder("empty", func(d string) {
		if err := os.RemoveAll(filepath.Join(d, "class7")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d, "class7"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	gray := folder("gray", func(d string) {
		var b bytes.Buffer
		if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "class1", "gray.png"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	// The cdist model's data: 3 classes of 8x8 grayscale images.
	cdistData := filepath.Join(bad, "cdist-images")
	for k := range 3 {
		for i := range 4 {
			img := image.NewGray(image.Rect(0, 0, 8, 8))
			for p := range img.Pix {
				img.Pix[p] = uint8(37*k + 11*i + p)
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(cdistData, fmt.Sprint(k), fmt.Sprintf("%d.png", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	r18 := filepath.Join(dir, "resnet18.pt")
	cases := []struct {
		name string
		cmd  string
		args []string
		code int
		want []string
	}{
		{"not TorchScript", "hessian", []string{"--data", imgs, filepath.Join(bad, "statedict.pt")}, 1,
			[]string{"statedict.pt is not a TorchScript file"}},
		{"no sidecar", "landscape", []string{"--data", imgs, filepath.Join(bad, "lonely.pt")}, 1,
			[]string{"lonely.pt has no sidecar", "lonely.json"}},
		{"sidecar mismatch", "fourier", []string{"--data", imgs, "--images", "40", filepath.Join(bad, "shape.pt")}, 1,
			[]string{"does not match its sidecar", "layer layer1.1 (output 2) has shape [2 64 16 16], the sidecar says (B, 64, 9, 9)"}},
		{"no second derivative", "hessian", []string{"--data", cdistData, "--batches", "1", "--batch-size", "4",
			filepath.Join(bad, "cdist.pt")}, 1, []string{"no second derivative", "_cdist_backward"}},
		{"no --data", "fourier", []string{r18}, 2, []string{"needs --data"}},
		{"unreadable image", "hessian", []string{"--data", unreadable, r18}, 1,
			[]string{filepath.Join("class3", "broken.png"), "not a readable image"}},
		{"empty class", "landscape", []string{"--data", empty, r18}, 1,
			[]string{filepath.Join("empty", "class7"), "holds no images"}},
		{"channel mismatch", "fourier", []string{"--data", gray, r18}, 1,
			[]string{filepath.Join("class1", "gray.png"), "grayscale (1-channel) image, but the model takes 3 channels"}},
	}
	for i, c := range cases {
		out := filepath.Join(dir, fmt.Sprintf("bad-out-%d", i))
		code, _, errs := cmds[c.cmd].run(dir, append([]string{"--out", out}, c.args...)...)
		msg := strings.TrimSpace(errs)
		if code != c.code {
			t.Errorf("%s (%s): exit status %d, want %d\n%s", c.name, c.cmd, code, c.code, errs)
		}
		// The error is the last line (usage errors print the usage first).
		last := msg[strings.LastIndexByte(msg, '\n')+1:]
		for _, w := range c.want {
			if !strings.Contains(last, w) {
				t.Errorf("%s (%s): error %q does not say %q", c.name, c.cmd, last, w)
			}
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(out)
			t.Errorf("%s (%s): the failed run left %s (%d entries)", c.name, c.cmd, out, len(entries))
		}
	}
}

package reports

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// htmlTestPNG writes a small valid PNG at path.
func htmlTestPNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.NRGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPageImages(t *testing.T) {
	doc := `<p><img src="a.png" alt="x"><IMG alt='y' SRC='sub/b%20c.png'>
<img
  class="z" src=d.png><img alt="no source"><img src="e&amp;f.png"></p>`
	got := PageImages([]byte(doc))
	want := []string{"a.png", "sub/b%20c.png", "d.png", "e&f.png"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PageImages = %q, want %q", got, want)
	}
}

func TestWritePageAndCheck(t *testing.T) {
	dir := t.TempDir()
	htmlTestPNG(t, filepath.Join(dir, "fig.png"))
	htmlTestPNG(t, filepath.Join(dir, "sub dir", "g.png"))
	p := Page{Title: "T <&>", Subtitle: "s", Footer: "f", Sections: []Section{
		{Heading: "One & two", Blocks: []Block{{Text: "a < b"}, {Image: &Image{Src: "fig.png", Alt: "a", Caption: "c"}},
			{List: []string{"i", "j"}}, {Pre: "cmd --x"}}},
		{Heading: "One & two", Blocks: []Block{{Image: &Image{Src: "sub%20dir/g.png"}},
			{Table: &Table{Caption: "t", Header: []string{"a", "b"}, Rows: [][]string{{"x", "−1.5"}, {"y", "2%"}}, Collapsed: true}},
			{Links: []Link{{Href: "r.json", Text: "r"}, {Href: "s.csv", Text: "s"}}}}},
	}}
	path := filepath.Join(dir, "page.html")
	if err := WritePage(path, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{"T &lt;&amp;&gt;", `id="one-two"`, `id="section-2"`, "a &lt; b", `<td class="num">−1.5</td>`,
		`<td class="num">2%</td>`, "<details><summary>t</summary>", "<pre>cmd --x</pre>", `<a href="s.csv">s</a>`} {
		if !strings.Contains(s, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(s, "<script") || strings.Contains(s, "http://") || strings.Contains(s, "https://") {
		t.Error("page is not self-contained")
	}
	n, err := CheckPageImages(path)
	if err != nil || n != 2 {
		t.Errorf("CheckPageImages = %d, %v; want 2 good images", n, err)
	}

	// Missing, absolute and remote figures are refused before writing.
	for _, src := range []string{"missing.png", filepath.Join(dir, "fig.png"), "http://example.com/x.png"} {
		q := Page{Title: "x", Sections: []Section{{Heading: "h", Blocks: []Block{{Image: &Image{Src: src}}}}}}
		if err := WritePage(filepath.Join(dir, "bad.html"), q); err == nil {
			t.Errorf("figure %q accepted", src)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.html")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused page was written")
	}
}

func TestCheckPageImagesBroken(t *testing.T) {
	dir := t.TempDir()
	htmlTestPNG(t, filepath.Join(dir, "ok.png"))
	if err := os.WriteFile(filepath.Join(dir, "corrupt.png"), []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.png"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := `<img src="ok.png"><img src="missing.png"><img src="corrupt.png"><img src="empty.png"><img src="/etc/x.png">` +
		`<img src="data:image/png;base64,AAAA">`
	path := filepath.Join(dir, "p.html")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := CheckPageImages(path)
	if n != 6 || err == nil {
		t.Fatalf("CheckPageImages = %d, %v; want 6 images and an error", n, err)
	}
	msg := err.Error()
	for _, w := range []string{"4 of 6 images broken", "missing.png", "corrupt.png", "empty.png", "/etc/x.png"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, `"ok.png"`) || strings.Contains(msg, "\n") {
		t.Errorf("error %q", msg)
	}
}

func TestWriteCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	if err := WriteCSV(path, Table{Header: []string{"a", "b"}, Rows: [][]string{{"1", `x,"y"`}}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), "a,b\n1,\"x,\"\"y\"\"\"\n"; got != want {
		t.Errorf("CSV %q, want %q", got, want)
	}
	if err := WriteCSV(path, Table{}); err == nil {
		t.Error("table without columns accepted")
	}
}

// TestScreenshotScript runs scripts/screenshot.sh on a page with a good
// and a broken image, then on a good page, when Chromium is installed.
func TestScreenshotScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	testdep.Chromium(t)
	script, err := filepath.Abs("../scripts/screenshot.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	htmlTestPNG(t, filepath.Join(dir, "ok.png"))
	bad := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(bad, []byte(`<html><body><img src="ok.png"><img src="gone.png"></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script, bad, filepath.Join(dir, "bad-shot.png"), "400").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "1 of 2 images did not load") ||
		!strings.Contains(string(out), "gone.png") {
		t.Errorf("broken page: %v\n%s", err, out)
	}
	good := filepath.Join(dir, "good.html")
	if err := os.WriteFile(good, []byte(`<html><body><h1>x</h1><img src="ok.png"></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("bash", script, good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 image(s), all loaded") {
		t.Errorf("good page: %v\n%s", err, out)
	}
	shot := filepath.Join(dir, "good.png")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 1400 {
		t.Errorf("screenshot %s: %+v, %v", shot, cfg, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".screenshot-check.*")); len(left) > 0 {
		t.Errorf("temporary pages left behind: %v", left)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/internal/cli"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	err := run(context.Background(), args, &out, &errw)
	return out.String() + errw.String(), err
}

// TestEmptyFolder: nothing computed yet gives a page that says what is
// missing, and every finding inconclusive with its reason, never a verdict
// from invented numbers.
func TestEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := runReport(t, "--out", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Missing from this run", "No training runs found", "No landscape plots found", "No stage times recorded",
		"CKA (cka/cka.json); lesion study (lesion/lesion.json); corruption robustness (corrupt/corrupt.json)",
		"No CKA heat maps found", "No lesion figure found", "No corruption figures found"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	var got struct {
		Findings []findings.Finding `json:"findings"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	c, err := findings.LoadCriteria()
	if err != nil {
		t.Fatal(err)
	}
	want := 2 // the lesion and corruption claims
	for _, cl := range c.Claims {
		want += 1 + len(cl.OtherProtocols)
	}
	if len(got.Findings) != want {
		t.Fatalf("%d findings, want %d: every claim of the criteria under each of its protocols, and the two representation claims", len(got.Findings), want)
	}
	for _, f := range got.Findings {
		if f.Verdict != findings.Inconclusive || f.Why == "" {
			t.Errorf("%q: verdict %q (%q) without data, want inconclusive with a reason", f.Claim, f.Verdict, f.Why)
		}
	}
}

// TestStageTimes: parts of a stage ("· " names) are listed but not added
// to the total; a rerun shows the first run's times beside its own.
func TestStageTimes(t *testing.T) {
	dir := t.TempDir()
	first := "build\t6\n· train a\t100\n· train b\t200\ntrain\t210\nhessian\t60\n"
	again := "build\t1\n· train a\t2\n· train b\t2\ntrain\t3\nhessian\t2\n"
	if err := os.WriteFile(filepath.Join(dir, "timings-first.tsv"), []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "timings.tsv"), []byte(again), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runReport(t, "--out", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	// First run: 6 + 210 + 60 = 276 s; this run: 1 + 3 + 2 = 6 s.
	for _, want := range []string{"<th>First run</th><th>This run</th>", `<th class="num">4m36s</th><th class="num">6 s</th>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

// TestBadInput: a missing --out and a stray argument are usage errors.
func TestBadInput(t *testing.T) {
	var ue *cli.UsageError
	if _, err := runReport(t); !errors.As(err, &ue) {
		t.Errorf("no --out: %v, want a usage error", err)
	}
	if _, err := runReport(t, "--out", t.TempDir(), "extra"); !errors.As(err, &ue) {
		t.Errorf("stray argument: %v, want a usage error", err)
	}
}

// writeJSON writes v as JSON at dir/rel, making the folders.
func writeJSON(t *testing.T, dir, rel string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, rel, b)
}

func writeFile(t *testing.T, dir, rel string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstWrong returns n outcomes with the first wrong ones false.
func firstWrong(n, wrong int) results.Outcomes {
	o := make(results.Outcomes, n)
	for i := wrong; i < n; i++ {
		o[i] = true
	}
	return o
}

// TestRepresentationSections: a demo folder with the representation
// probes' results shows their sections and figures, lists none of them as
// missing, and decides the lesion and corruption claims on them: removing
// the AlterNet's MSA block breaks 60 of 400 images against 2 for its Conv
// block (holds), and the AlterNet misses 20 corrupted images where the
// ResNet misses 80 (mCE 25%: holds). The results name checkpoints that
// moved away, so the families come from the folder's train/NAME sidecars.
func TestRepresentationSections(t *testing.T) {
	dir := t.TempDir()
	const n = 400
	for _, m := range []string{"resnet-mini", "alternet-mini"} {
		writeJSON(t, dir, "train/"+m+"/final.json", meta.Checkpoint{Spec: meta.Spec{Name: m}, Weights: "final.safetensors", Phase: "final"})
	}
	gone := func(m string) string { return filepath.Join(dir, "moved-away", m, "final.json") }
	block := func(name string, kind meta.LayerKind, wrong int) results.LesionBlock {
		return results.LesionBlock{LayerRef: results.LayerRef{Name: name, Kind: kind}, Identity: true, StageEnd: kind == meta.KindMSA,
			LesionScore: results.LesionScore{Correct: firstWrong(n, wrong)}}
	}
	writeJSON(t, dir, "lesion/lesion.json", results.Lesion{Models: []results.LesionEntry{
		{Name: "resnet-mini", Checkpoint: gone("resnet-mini"), LesionResult: &results.LesionResult{Model: "resnet-mini", Images: n,
			Intact: results.LesionScore{Correct: firstWrong(n, 0)}, Blocks: []results.LesionBlock{block("layer1.0", meta.KindConv, 100)}}},
		{Name: "alternet-mini", Checkpoint: gone("alternet-mini"), LesionResult: &results.LesionResult{Model: "alternet-mini", Images: n,
			Intact: results.LesionScore{Correct: firstWrong(n, 0)},
			Blocks: []results.LesionBlock{block("layer1.0", meta.KindConv, 2), block("layer1.1", meta.KindMSA, 60)}}},
	}})
	corr := func(m string, wrong int) results.CorruptionEntry {
		r := &results.CorruptionResult{Model: m, Images: n}
		for _, c := range []string{"gaussian_noise", "contrast"} {
			for s := 1; s <= 5; s++ {
				r.Conditions = append(r.Conditions, results.CorruptionScore{Corruption: data.Corruption{Name: c, Severity: s}, Correct: firstWrong(n, wrong)})
			}
		}
		return results.CorruptionEntry{Name: m, Checkpoint: gone(m), CorruptionResult: r}
	}
	mce := 0.25
	writeJSON(t, dir, "corrupt/corrupt.json", results.Corruption{
		Models:  []results.CorruptionEntry{corr("resnet-mini", 80), corr("alternet-mini", 20)},
		Summary: &results.CorruptionSummary{Baseline: "resnet-mini", Models: []results.CorruptionModelScore{{Name: "alternet-mini", MeanAccuracy: 0.95, MCE: &mce}}}})
	writeFile(t, dir, "cka/cka.json", []byte("{}"))
	for _, p := range []string{"cka/cka-alternet-mini-resnet-mini.png", "lesion/lesion.png", "corrupt/corrupt.png", "corrupt/sheet.png"} {
		writeFile(t, dir, p, []byte("not drawn: the page only links it"))
	}
	if _, err := runReport(t, "--out", dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>Representation similarity (CKA)</h2>", `src="cka/cka-alternet-mini-resnet-mini.png"`,
		"<h2>Lesion study</h2>", `<figure class="wide"><img src="lesion/lesion.png"`, "on 400 test images",
		"<h2>Robustness to common corruptions</h2>", `<figure class="wide"><img src="corrupt/corrupt.png"`, `<figure><img src="corrupt/sheet.png"`,
		`<td>alternet-mini</td><td class="num">100.00%</td><td class="num">95.00%</td><td class="num">25.0%</td>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, not := range []string{"cka/cka.json)", "lesion/lesion.json)", "corrupt/corrupt.json)", "No lesion figure found"} {
		if strings.Contains(string(page), not) {
			t.Errorf("index.html says %q", not)
		}
	}
	var got struct {
		Findings []findings.Finding `json:"findings"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "findings.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Removing an MSA block": "D = +14.50 pp", "AlterNet is more robust to common corruptions": "mCE(AlterNet) = 25.0%"}
	for _, f := range got.Findings {
		for claim, meas := range want {
			if strings.HasPrefix(f.Claim, claim) {
				delete(want, claim)
				if f.Verdict != findings.Holds || !strings.Contains(strings.Join(f.Measured, "; "), meas) {
					t.Errorf("%q: %s (%s), measured %q; want holds with %q", f.Claim, f.Verdict, f.Why, f.Measured, meas)
				}
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("findings.json lacks the claims %v", want)
	}
}

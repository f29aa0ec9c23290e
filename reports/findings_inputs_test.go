package reports

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// The fixture testdata/study is the output of a tiny study
// (STUDY_TINY=1 scripts/study.sh, see testdata/README-study.md): three seed
// folders holding the real JSON files of cmd/hessian (four runs: end of
// warm-up and final checkpoints, augmented and clean minibatches),
// cmd/fourier --per-image (the paper's noise and the equal-energy variant)
// and cmd/landscape (two direction pairs), trimmed of figures.

// fixture copies testdata/study into a temporary folder to be edited.
func fixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/study", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join("testdata", "study"), p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// editJSON rewrites a JSON file through f.
func editJSON(t *testing.T, path string, f func(doc map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// models returns a results file's "models" list.
func modelsOf(doc map[string]any) []any { return doc["models"].([]any) }

// decide decides the findings on a folder's results.
func decide(t *testing.T, dir string) (*findings.Report, error) {
	t.Helper()
	in, err := FindingsInputs(dir)
	if err != nil {
		return nil, err
	}
	return findings.Decide(in)
}

func findingOf(t *testing.T, r *findings.Report, id string) findings.Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding %s", id)
	return findings.Finding{}
}

// TestDecideStudyFixture: every result of the three seeds is read, with
// its phase and data, and every claim finds its inputs.
func TestDecideStudyFixture(t *testing.T) {
	in, err := FindingsInputs("testdata/study")
	if err != nil {
		t.Fatal(err)
	}
	// 3 seeds × 4 Hessian runs × 3 models; 3 × 3 profiles; 3 × 2 × 3
	// noise curves; 3 × 2 × 3 landscape slices.
	if len(in.Spectra) != 36 || len(in.Profiles) != 9 || len(in.Noise) != 18 || len(in.Landscapes) != 18 {
		t.Fatalf("%d spectra, %d profiles, %d noise curves, %d landscapes; want 36, 9, 18, 18",
			len(in.Spectra), len(in.Profiles), len(in.Noise), len(in.Landscapes))
	}
	kinds := map[string]int{}
	for _, s := range in.Spectra {
		kinds[s.Phase+"/"+s.Data]++
		if s.Data == "augmented" && !strings.Contains(s.Augmentation, "RandAugment") {
			t.Errorf("%s seed %s: augmentation %q, want the paper's with RandAugment", s.Model, s.Seed, s.Augmentation)
		}
	}
	for _, k := range []string{"warmup/augmented", "warmup/clean", "final/augmented", "final/clean"} {
		if kinds[k] != 9 {
			t.Errorf("%d spectra at %s, want 9", kinds[k], k)
		}
	}
	for _, p := range in.Profiles {
		if p.Phase != "final" || len(p.Layers) < 3 || len(p.Layers[1].HighFreq) != 120 || len(p.Layers[1].Variance) != 120 {
			t.Errorf("%s seed %s: phase %q, %d layers", p.Model, p.Seed, p.Phase, len(p.Layers))
		}
	}
	for _, l := range in.Landscapes {
		if l.Phase != "final" || len(l.Points) != 9 || l.WeightDecay != 0.05 {
			t.Errorf("%s seed %s pair %d: phase %q, %d points, wd %v", l.Model, l.Seed, l.Pair, l.Phase, len(l.Points), l.WeightDecay)
		}
	}
	r, err := findings.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Seeds, ",") != "0,1,2" || len(r.PerSeed) != 3 {
		t.Errorf("seeds %v", r.Seeds)
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Why, "no usable") || strings.HasPrefix(f.Why, "no seed") {
			t.Errorf("%s (%s): %s", f.ID, f.Protocol, f.Why)
		}
	}
	// The tiny study cuts Lanczos short: some minibatches do not converge,
	// and the findings count what they leave out.
	f := findingOf(t, r, "hessian-nep-vit-resnet")
	if !strings.Contains(strings.Join(f.Measured, "\n"), "unconverged eigenvalues excluded") {
		t.Errorf("no count of unconverged eigenvalues: %v", f.Measured)
	}
}

// TestDecideWrongPhase: when the Hessian folders hold only end-of-training
// spectra, the spectrum claims (end of warm-up) are inconclusive and say
// what was found; the other claims are unaffected.
func TestDecideWrongPhase(t *testing.T) {
	dir := fixture(t)
	for _, s := range []string{"0", "1", "2"} {
		sd := filepath.Join(dir, "seed-"+s)
		for _, h := range []string{"hessian", "hessian-warmup-clean"} {
			if err := os.RemoveAll(filepath.Join(sd, h)); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := decide(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := findingOf(t, r, "hessian-nep-vit-resnet")
	if f.Verdict != findings.Inconclusive || !strings.Contains(f.Why, "found: ") || !strings.Contains(f.Why, "final") {
		t.Errorf("spectrum claim: %s (%s)", f.Verdict, f.Why)
	}
	if g := findingOf(t, r, "fourier-msa-vit"); strings.HasPrefix(g.Why, "no usable") {
		t.Errorf("the Fourier claim lost its inputs: %s", g.Why)
	}
}

// TestDecideUnconverged: every minibatch of ViT's seed-0 spectrum marked
// unconverged: its eigenvalues are left out and counted, the seed drops
// out of the comparison and two seeds are too few for a pooled verdict.
func TestDecideUnconverged(t *testing.T) {
	dir := fixture(t)
	editJSON(t, filepath.Join(dir, "seed-0", "hessian", "hessian.json"), func(doc map[string]any) {
		for _, m := range modelsOf(doc) {
			m := m.(map[string]any)
			if m["model"] != "vit-mini" {
				continue
			}
			for _, b := range m["batches"].([]any) {
				b.(map[string]any)["converged"] = false
			}
		}
	})
	r, err := decide(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := findingOf(t, r, "hessian-nep-vit-resnet")
	meas := strings.Join(f.Measured, "\n")
	if f.Verdict != findings.Inconclusive || !strings.Contains(f.Why, "2 seed(s)") ||
		!strings.Contains(meas, "vit-mini seed 0: 0 usable minibatches") {
		t.Errorf("%s (%s)\n%s", f.Verdict, f.Why, meas)
	}
	// The spectra table counts them: 5 minibatches × 5 eigenvalues of
	// seed 0 plus whatever the other seeds left out.
	for _, tab := range r.Tables {
		if tab.Title != "Hessian max-eigenvalue spectra" {
			continue
		}
		for _, row := range tab.Rows {
			if row[0] == "vit-mini" && row[1] == "warmup" && row[2] == "augmented" && row[3] != "2" {
				t.Errorf("vit-mini warmup augmented: %s seeds with usable minibatches, want 2", row[3])
			}
		}
	}
}

// TestDecideMissingModel: without vit-mini's Fourier and noise results,
// its claims are inconclusive for want of input; ResNet's still find
// theirs.
func TestDecideMissingModel(t *testing.T) {
	dir := fixture(t)
	for _, s := range []string{"0", "1", "2"} {
		for _, f := range []string{"fourier", "fourier-equal-energy"} {
			editJSON(t, filepath.Join(dir, "seed-"+s, f, "results.json"), func(doc map[string]any) {
				var keep []any
				for _, m := range modelsOf(doc) {
					if m.(map[string]any)["model"].(map[string]any)["name"] != "vit-mini" {
						keep = append(keep, m)
					}
				}
				doc["models"] = keep
			})
		}
	}
	r, err := decide(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"fourier-msa-vit", "variance-mlp-vit", "noise-vit-low"} {
		if f := findingOf(t, r, id); f.Verdict != findings.Inconclusive || !strings.HasPrefix(f.Why, "no usable ViT input") {
			t.Errorf("%s: %s (%s)", id, f.Verdict, f.Why)
		}
	}
	for _, id := range []string{"fourier-conv-resnet", "noise-resnet-high"} {
		if f := findingOf(t, r, id); strings.HasPrefix(f.Why, "no usable") {
			t.Errorf("%s lost its input: %s", id, f.Why)
		}
	}
}

// TestStudyPage: the report of a study folder is the study's page, with
// the criteria's hash, the per-seed table and every interval table, and
// writes findings.md.
func TestStudyPage(t *testing.T) {
	dir := fixture(t)
	writePage(t, dir)
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := findings.LoadCriteria()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h1>vitprobe study</h1>", c.SHA256(), "<h3>Per seed</h3>", "<h3>Secondary analyses</h3>",
		"Hessian max-eigenvalue spectra", "Per layer: vit-mini", "Accuracy drop under band noise", "Loss landscapes", `href="seed-1/index.html"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "findings.md"))
	if err != nil || !strings.Contains(string(md), "### Per seed (primary claims)") {
		t.Errorf("findings.md: %v", err)
	}
	// A seed folder alone is that seed's page, labelled with its number.
	writePage(t, filepath.Join(dir, "seed-2"))
	b, err := os.ReadFile(filepath.Join(dir, "seed-2", "findings.json"))
	if err != nil || !strings.Contains(string(b), `"seeds": [
    "2"
  ]`) {
		t.Errorf("seed-2/findings.json does not name seed 2 (%v)", err)
	}
}

// writePage writes the report of the folder dir.
func writePage(t *testing.T, dir string) {
	t.Helper()
	d, err := CollectDemo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(); err != nil {
		t.Fatal(err)
	}
}

// TestFamilyAsRecorded: a model takes part in the findings under the
// family its checkpoint records, not a guess from its name: a model called
// "vit-lookalike" recorded as a ResNet is a ResNet, and a checkpoint of no
// recorded family takes no part.
func TestFamilyAsRecorded(t *testing.T) {
	dir := t.TempDir()
	sidecar := func(name, weights string, fam meta.Family) {
		ck := meta.Checkpoint{Spec: meta.Spec{Name: name, Family: fam}, Phase: "warmup", Weights: "warmup.safetensors", WeightsSHA256: weights}
		b, err := json.Marshal(ck)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "train", name, "warmup.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sidecar("vit-lookalike", "w1", meta.ResNet)
	sidecar("plain-net", "w2", meta.ViT)
	sidecar("unknown-net", "w0", "")
	model := func(name, weights string) results.HessianModel {
		m := results.HessianModel{HessianCheckpoint: results.HessianCheckpoint{Label: name, Model: name, Phase: "warmup", WeightsSHA256: weights}}
		for i := range 6 {
			m.Batches = append(m.Batches, results.HessianBatch{Batch: i, Values: []float64{1, -0.1}, Converged: true})
		}
		return m
	}
	h := results.Hessian{Settings: results.HessianSettings{Augment: true},
		Models: []results.HessianModel{model("unknown-net", "w0"), model("vit-lookalike", "w1"), model("plain-net", "w2")}}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "hessian"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hessian", "hessian.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A GGN spectrum of the same checkpoints is not a Hessian spectrum.
	h.Settings.Curvature = "ggn"
	if b, err = json.Marshal(h); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "hessian-ggn"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hessian-ggn", "hessian.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := FindingsInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range in.Spectra {
		got[s.Model] = s.Family
		if s.Seed != "demo" || s.Phase != "warmup" || s.Data != "augmented" {
			t.Errorf("%s: seed %q, phase %q, data %q", s.Model, s.Seed, s.Phase, s.Data)
		}
	}
	want := map[string]string{"vit-lookalike": "resnet", "plain-net": "vit"}
	if len(got) != len(want) || len(in.Spectra) != 2 || got["vit-lookalike"] != want["vit-lookalike"] || got["plain-net"] != want["plain-net"] {
		t.Errorf("families %v from %d spectra, want %v from 2 (no unknown-net, no GGN)", got, len(in.Spectra), want)
	}
}

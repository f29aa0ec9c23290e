package reports

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/findings"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// SeedDir is one training seed's output folder: a study's seed-N folder,
// or a demo's folder as its only seed.
type SeedDir struct {
	// Label is the seed's name in the findings: N for seed-N, "demo" for
	// a demo's folder.
	Label string
	Dir   string
}

// SeedDirs returns a study's seed-N folders in seed order, or out itself
// as the only seed when there are none: labelled N when out is a study's
// seed-N folder, else "demo".
func SeedDirs(out string) []SeedDir {
	ents, _ := os.ReadDir(out)
	var ds []SeedDir
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "seed-"); ok && e.IsDir() {
			ds = append(ds, SeedDir{Label: s, Dir: filepath.Join(out, e.Name())})
		}
	}
	if len(ds) == 0 {
		label := "demo"
		if s, ok := strings.CutPrefix(filepath.Base(filepath.Clean(out)), "seed-"); ok && s != "" {
			label = s
		}
		return []SeedDir{{Label: label, Dir: out}}
	}
	sort.Slice(ds, func(i, j int) bool {
		a, ea := strconv.Atoi(ds[i].Label)
		b, eb := strconv.Atoi(ds[j].Label)
		if ea == nil && eb == nil {
			return a < b
		}
		return ds[i].Label < ds[j].Label
	})
	return ds
}

// IsStudy reports whether out holds seed-N folders.
func IsStudy(out string) bool { return SeedDirs(out)[0].Dir != out }

// FindingsInputs reads every Hessian spectrum, per-image Fourier and noise
// result and landscape of every seed folder of out (SeedDirs) into the
// findings' inputs. A model takes part under the family its checkpoint
// records (never a guess from its name); results of models of no known
// family are left out. Results a folder does not have are simply absent
// (the findings say what is missing); a result file that exists but
// cannot be read is an error.
func FindingsInputs(out string) (findings.Inputs, error) {
	var in findings.Inputs
	for _, sd := range SeedDirs(out) {
		g := &gatherer{in: &in, sd: sd, fam: map[string]meta.Family{}}
		g.trainFamilies()
		for _, step := range []func() error{g.fourier, g.hessian, g.landscapes} {
			if err := step(); err != nil {
				return in, err
			}
		}
	}
	return in, nil
}

// gatherer reads one seed folder's results; fam maps weights hashes to
// the families their checkpoints record.
type gatherer struct {
	in  *findings.Inputs
	sd  SeedDir
	fam map[string]meta.Family
}

// glob returns the files matching the patterns under dir, sorted.
func glob(dir string, patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(filepath.Join(dir, p))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// trainFamilies records the family of every checkpoint of the folder's
// training runs (train/NAME/*.json sidecars).
func (g *gatherer) trainFamilies() {
	for _, p := range glob(g.sd.Dir, "train/*/*.json") {
		if ck, err := meta.ReadCheckpoint(p); err == nil && ck.Spec.Family != "" {
			g.fam[ck.WeightsSHA256] = ck.Spec.Family
		}
	}
}

// family returns the family of the checkpoint of weights hash w, reading
// the sidecar at path when the folder's training runs did not name it.
func (g *gatherer) family(w, path string) meta.Family {
	if f, ok := g.fam[w]; ok {
		return f
	}
	f := meta.Family("")
	if path != "" {
		if ck, err := meta.ReadCheckpoint(path); err == nil && ck.WeightsSHA256 == w {
			f = ck.Spec.Family
		}
	}
	g.fam[w] = f
	return f
}

// hessian reads every hessian*/hessian.json of the folder: the Hessian
// spectra of the whole model (not the GGN, the Fisher or a parameter
// subset), with their phase and whether the minibatches were augmented.
func (g *gatherer) hessian() error {
	for _, path := range glob(g.sd.Dir, "hessian*/hessian.json") {
		var h results.Hessian
		if err := readJSONFile(path, &h); err != nil {
			return err
		}
		if c := h.Settings.Curvature; c != "" && c != "hessian" || h.Settings.Params != "" {
			continue
		}
		for _, m := range h.Models {
			fam := g.family(m.WeightsSHA256, m.Path)
			if fam == "" {
				continue
			}
			s := findings.Spectrum{Family: string(fam), Model: m.Model, Seed: g.sd.Label, Phase: m.Phase, Data: "clean",
				WeightDecay: m.WeightDecay}
			if h.Settings.Augment {
				s.Data, s.Augmentation = "augmented", augmentText(m.Augment)
			}
			for _, b := range m.Batches {
				// The Hessian records convergence per minibatch: all its
				// eigenvalues count as converged or not.
				conv := make([]bool, len(b.Values))
				for i := range conv {
					conv[i] = b.Converged
				}
				s.Batches = append(s.Batches, findings.Batch{Values: b.Values, Converged: conv})
			}
			g.in.Spectra = append(g.in.Spectra, s)
		}
	}
	return nil
}

// augmentText describes the augmentation a Hessian's minibatches got.
func augmentText(a data.Augment) string {
	var parts []string
	if a.CropPad > 0 {
		parts = append(parts, fmt.Sprintf("crop pad %d", a.CropPad))
	}
	if a.Flip {
		parts = append(parts, "flips")
	}
	if ra := a.RandAugment; ra.Enabled() {
		parts = append(parts, fmt.Sprintf("RandAugment n%d m%g", ra.N, ra.M))
	}
	if a.MixupAlpha > 0 {
		parts = append(parts, fmt.Sprintf("mixup %g", a.MixupAlpha))
	}
	if a.CutMixAlpha > 0 {
		parts = append(parts, fmt.Sprintf("CutMix %g", a.CutMixAlpha))
	}
	if a.Smoothing > 0 {
		parts = append(parts, fmt.Sprintf("smoothing %g", a.Smoothing))
	}
	if len(parts) == 0 {
		return "the training augmentation: none"
	}
	return "the training augmentation: " + strings.Join(parts, ", ")
}

// fourier reads every fourier*/results.json of the folder: the per-image
// layer values and noise records (fourier --per-image).
func (g *gatherer) fourier() error {
	for _, path := range glob(g.sd.Dir, "fourier*/results.json") {
		var f results.Fourier
		if err := readJSONFile(path, &f); err != nil {
			return err
		}
		for _, m := range f.Models {
			fam := m.Model.Family
			if fam == "" {
				fam = g.family(m.Weights, m.Checkpoint)
			} else {
				g.fam[m.Weights] = fam
			}
			if fam == "" {
				continue
			}
			name := m.Model.Name
			if m.Fourier != nil && m.Variance != nil {
				p := findings.Profile{Family: string(fam), Model: name, Seed: g.sd.Label, Phase: m.Phase}
				variance := map[string][]float64{}
				for _, l := range m.Variance.Layers {
					variance[l.Name] = l.PerImage
				}
				for _, l := range m.Fourier.Layers {
					p.Layers = append(p.Layers, findings.Layer{Name: l.Name, Kind: l.Kind.String(), Depth: l.Depth,
						HighFreq: l.HighFreqPerImage, Variance: variance[l.Name]})
				}
				g.in.Profiles = append(g.in.Profiles, p)
			}
			if nz := m.Noise; nz != nil && nz.CleanCorrect != "" {
				n := findings.Noise{Family: string(fam), Model: name, Seed: g.sd.Label, Phase: m.Phase, Variant: "paper",
					Clean: bits(nz.CleanCorrect)}
				if nz.EqualEnergy {
					n.Variant = "equal-energy"
				}
				for _, b := range nz.Bands {
					n.Bands = append(n.Bands, findings.NoiseBand{Center: b.Center, Correct: bits(b.Correct)})
				}
				g.in.Noise = append(g.in.Noise, n)
			}
		}
	}
	return nil
}

func bits(s string) []bool {
	b := make([]bool, len(s))
	for i := range s {
		b[i] = s[i] == '1'
	}
	return b
}

// landscapes reads every landscape*/landscape.json and
// landscape*/NAME/landscape.json of the folder; each folder is one
// direction pair, numbered per model in folder order.
func (g *gatherer) landscapes() error {
	pairs := map[string]int{}
	for _, path := range glob(g.sd.Dir, "landscape*/landscape.json", "landscape*/*/landscape.json") {
		r, _, err := landscape.LoadJSON(path)
		if err != nil {
			return err
		}
		in := r.Spec.Inputs
		model := in["model"]
		fam := g.family(in["weights_sha256"], "")
		if fam == "" {
			continue
		}
		l := findings.Landscape{Family: string(fam), Model: model, Seed: g.sd.Label, Phase: in["phase"], Pair: pairs[model],
			WeightDecay: r.Spec.WeightDecay}
		pairs[model]++
		for _, p := range r.Points {
			sq := p.SqNorm
			if sq == 0 {
				// Results written before Σ‖w‖² was recorded read it as 0,
				// which no trained model has.
				sq = math.NaN()
			}
			l.Points = append(l.Points, findings.LandscapePoint{X: p.X, Y: p.Y, NLL: p.NLL, L2: p.L2, SqNorm: sq})
		}
		g.in.Landscapes = append(g.in.Landscapes, l)
	}
	return nil
}

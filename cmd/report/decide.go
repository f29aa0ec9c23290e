package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vitprobe/vitprobe/findings"
)

// decide gathers the findings' inputs from an output folder (one run, as
// the demo's, or a study's seed-N folders, one per training seed) and
// decides every claim (package findings holds the rules).
func decide(out string) (*findings.Report, error) {
	in, err := gather(out)
	if err != nil {
		return nil, err
	}
	return findings.Decide(in)
}

// seedDir is one training seed's folder.
type seedDir struct {
	label, dir string
}

// seedDirs returns the study's seed-N folders in seed order, or out itself
// as the only seed when there are none: labelled N when out is a study's
// seed-N folder, else "demo".
func seedDirs(out string) []seedDir {
	ents, _ := os.ReadDir(out)
	var ds []seedDir
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "seed-"); ok && e.IsDir() {
			ds = append(ds, seedDir{label: s, dir: filepath.Join(out, e.Name())})
		}
	}
	if len(ds) == 0 {
		label := "demo"
		if s, ok := strings.CutPrefix(filepath.Base(filepath.Clean(out)), "seed-"); ok && s != "" {
			label = s
		}
		return []seedDir{{label: label, dir: out}}
	}
	sort.Slice(ds, func(i, j int) bool {
		a, ea := strconv.Atoi(ds[i].label)
		b, eb := strconv.Atoi(ds[j].label)
		if ea == nil && eb == nil {
			return a < b
		}
		return ds[i].label < ds[j].label
	})
	return ds
}

// isStudy reports whether out holds seed-N folders.
func isStudy(out string) bool { return seedDirs(out)[0].dir != out }

// gather reads every Hessian, Fourier and landscape result of every seed
// folder into the findings' inputs. Results a folder does not have are
// simply absent (the findings say what is missing); a result file that
// exists but cannot be read is an error.
func gather(out string) (findings.Inputs, error) {
	var in findings.Inputs
	for _, sd := range seedDirs(out) {
		if err := gatherHessian(&in, sd); err != nil {
			return in, err
		}
		if err := gatherFourier(&in, sd); err != nil {
			return in, err
		}
		if err := gatherLandscapes(&in, sd); err != nil {
			return in, err
		}
	}
	return in, nil
}

// glob returns the files matching pattern under dir, sorted.
func glob(dir string, patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(filepath.Join(dir, p))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// hessianRun is what decide reads of a hessian.json.
type hessianRun struct {
	Settings struct {
		Augment bool `json:"augment"`
	} `json:"settings"`
	Models []struct {
		Model       string         `json:"model"`
		Phase       string         `json:"phase"`
		WeightDecay float64        `json:"weight_decay"`
		Augment     map[string]any `json:"augmentation"`
		Batches     []struct {
			Values    []float64 `json:"values"`
			Converged bool      `json:"converged"`
		} `json:"batches"`
	} `json:"models"`
}

// gatherHessian reads every hessian*/hessian.json of a seed folder: the
// spectra, with their phase and whether the minibatches were augmented.
func gatherHessian(in *findings.Inputs, sd seedDir) error {
	for _, path := range glob(sd.dir, "hessian*/hessian.json") {
		var h hessianRun
		if err := readJSON(path, &h); err != nil {
			return err
		}
		for _, m := range h.Models {
			s := findings.Spectrum{Family: family(m.Model), Model: m.Model, Seed: sd.label, Phase: m.Phase, Data: "clean",
				WeightDecay: m.WeightDecay}
			if s.Family == "" {
				continue
			}
			if h.Settings.Augment {
				s.Data, s.Augmentation = "augmented", augmentText(m.Augment)
			}
			for _, b := range m.Batches {
				// cmd/hessian records convergence per minibatch: all its
				// eigenvalues count as converged or not.
				conv := make([]bool, len(b.Values))
				for i := range conv {
					conv[i] = b.Converged
				}
				s.Batches = append(s.Batches, findings.Batch{Values: b.Values, Converged: conv})
			}
			in.Spectra = append(in.Spectra, s)
		}
	}
	return nil
}

// augmentText describes a data.Augment as the Hessian's JSON records it.
func augmentText(a map[string]any) string {
	var parts []string
	num := func(k string) float64 {
		if v, ok := a[k].(float64); ok {
			return v
		}
		return 0
	}
	if v := num("crop_pad"); v > 0 {
		parts = append(parts, fmt.Sprintf("crop pad %g", v))
	}
	if f, _ := a["flip"].(bool); f {
		parts = append(parts, "flips")
	}
	if ra, ok := a["rand_augment"].(map[string]any); ok {
		if n, _ := ra["n"].(float64); n > 0 {
			parts = append(parts, fmt.Sprintf("RandAugment n%g m%g", n, ra["m"]))
		}
	}
	if v := num("mixup_alpha"); v > 0 {
		parts = append(parts, fmt.Sprintf("mixup %g", v))
	}
	if v := num("cutmix_alpha"); v > 0 {
		parts = append(parts, fmt.Sprintf("CutMix %g", v))
	}
	if v := num("smoothing"); v > 0 {
		parts = append(parts, fmt.Sprintf("smoothing %g", v))
	}
	if len(parts) == 0 {
		return "the training augmentation: none"
	}
	return "the training augmentation: " + strings.Join(parts, ", ")
}

// fourierRun is what decide reads of a results.json of cmd/fourier.
type fourierRun struct {
	Models []struct {
		Model struct {
			Name string `json:"name"`
		} `json:"model"`
		Phase   string `json:"phase"`
		Fourier *struct {
			Layers []struct {
				Name     string    `json:"name"`
				Kind     string    `json:"kind"`
				Depth    float64   `json:"depth"`
				PerImage []float64 `json:"high_freq_per_image"`
			} `json:"layers"`
		} `json:"fourier"`
		Variance *struct {
			Layers []struct {
				Name     string    `json:"name"`
				PerImage []float64 `json:"per_image"`
			} `json:"layers"`
		} `json:"variance"`
		Noise *struct {
			EqualEnergy  bool   `json:"equal_energy"`
			CleanCorrect string `json:"clean_correct"`
			Bands        []struct {
				Center  float64 `json:"center"`
				Correct string  `json:"correct"`
			} `json:"bands"`
		} `json:"noise"`
	} `json:"models"`
}

// gatherFourier reads every fourier*/results.json of a seed folder: the
// per-image layer values and noise records (cmd/fourier --per-image).
func gatherFourier(in *findings.Inputs, sd seedDir) error {
	for _, path := range glob(sd.dir, "fourier*/results.json") {
		var f fourierRun
		if err := readJSON(path, &f); err != nil {
			return err
		}
		for _, m := range f.Models {
			fam := family(m.Model.Name)
			if fam == "" {
				continue
			}
			if m.Fourier != nil && m.Variance != nil {
				p := findings.Profile{Family: fam, Model: m.Model.Name, Seed: sd.label, Phase: m.Phase}
				variance := map[string][]float64{}
				for _, l := range m.Variance.Layers {
					variance[l.Name] = l.PerImage
				}
				for _, l := range m.Fourier.Layers {
					p.Layers = append(p.Layers, findings.Layer{Name: l.Name, Kind: l.Kind, Depth: l.Depth, HighFreq: l.PerImage, Variance: variance[l.Name]})
				}
				in.Profiles = append(in.Profiles, p)
			}
			if m.Noise != nil && m.Noise.CleanCorrect != "" {
				nz := findings.Noise{Family: fam, Model: m.Model.Name, Seed: sd.label, Phase: m.Phase, Variant: "paper", Clean: bits(m.Noise.CleanCorrect)}
				if m.Noise.EqualEnergy {
					nz.Variant = "equal-energy"
				}
				for _, b := range m.Noise.Bands {
					nz.Bands = append(nz.Bands, findings.NoiseBand{Center: b.Center, Correct: bits(b.Correct)})
				}
				in.Noise = append(in.Noise, nz)
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

// landscapeDoc is what decide reads of a landscape.json.
type landscapeDoc struct {
	Spec struct {
		WeightDecay float64           `json:"weight_decay"`
		Inputs      map[string]string `json:"inputs"`
	} `json:"spec"`
	Points []struct {
		X, Y   jnum
		NLL    jnum  `json:"NLL"`
		L2     jnum  `json:"l2"`
		SqNorm *jnum `json:"sqnorm"`
	} `json:"points"`
}

// jnum is a JSON number or one of the strings "NaN", "+Inf", "-Inf".
type jnum float64

func (j *jnum) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%s is not a number", b)
	}
	*j = jnum(v)
	return nil
}

// gatherLandscapes reads every landscape*/landscape.json and
// landscape*/NAME/landscape.json of a seed folder; each folder is one
// direction pair, numbered per model in folder order.
func gatherLandscapes(in *findings.Inputs, sd seedDir) error {
	pairs := map[string]int{}
	for _, path := range glob(sd.dir, "landscape*/landscape.json", "landscape*/*/landscape.json") {
		var doc landscapeDoc
		if err := readJSON(path, &doc); err != nil {
			return err
		}
		model := doc.Spec.Inputs["model"]
		fam := family(model)
		if fam == "" {
			continue
		}
		l := findings.Landscape{Family: fam, Model: model, Seed: sd.label, Phase: doc.Spec.Inputs["phase"], Pair: pairs[model],
			WeightDecay: doc.Spec.WeightDecay}
		pairs[model]++
		for _, p := range doc.Points {
			sq := math.NaN()
			if p.SqNorm != nil {
				sq = float64(*p.SqNorm)
			}
			l.Points = append(l.Points, findings.LandscapePoint{X: float64(p.X), Y: float64(p.Y), NLL: float64(p.NLL), L2: float64(p.L2), SqNorm: sq})
		}
		in.Landscapes = append(in.Landscapes, l)
	}
	return nil
}

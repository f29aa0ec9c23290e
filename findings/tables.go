package findings

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// familyOrder lists the families in table order.
var familyOrder = []string{"resnet", "vit", "alternet"}

// tables returns every number the report shows with its interval, pooled
// over seeds by the hierarchical bootstrap.
func (c *Criteria) tables(in Inputs) []Table {
	var out []Table
	if t := c.spectraTable(in); len(t.Rows) > 0 {
		out = append(out, t)
	}
	out = append(out, c.layerTables(in)...)
	out = append(out, c.noiseTables(in)...)
	if t := c.landscapeTable(in); len(t.Rows) > 0 {
		out = append(out, t)
	}
	return out
}

// ivCell formats an interval as "est [lo, hi]", scaled by k.
func ivCell(iv span, k float64) string {
	if math.IsNaN(iv.Est) {
		return "n/a"
	}
	return fmt.Sprintf("%s %s", g(k*iv.Est), ciText(k*iv.Lo, k*iv.Hi))
}

func (c *Criteria) conf() string { return fmt.Sprintf("%.0f%%", 100*c.Bootstrap.Confidence) }

func (c *Criteria) spectraTable(in Inputs) Table {
	t := Table{Title: "Hessian max-eigenvalue spectra",
		Note: fmt.Sprintf("Top-k eigenvalues of each minibatch's Hessian of NLL + (wd/2)·Σ‖w‖² (every eigenvalue shifted by wd). NEP: share of negative eigenvalues; APE: mean of the positive ones; "+
			"mean over seeds with the %s hierarchical bootstrap interval (seeds, then minibatches). Unconverged eigenvalues are left out and counted.", c.conf()),
		Columns: []string{"model", "phase", "data", "seeds", "minibatches", "eigenvalues", "unconverged left out", "NEP", "APE"}}
	type key struct{ fam, model, phase, data string }
	keys, byKey := groupFirstSeen(in.Spectra, func(s Spectrum) key { return key{s.Family, s.Model, s.Phase, s.Data} })
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.fam != b.fam {
			return famIndex(a.fam) < famIndex(b.fam)
		}
		if a.phase != b.phase {
			return phaseIndex(a.phase) < phaseIndex(b.phase)
		}
		return a.data < b.data
	})
	for _, k := range keys {
		var nep, ape group
		batches, values, excl := 0, 0, 0
		for _, s := range byKey[k] {
			u := newSpectrumUnits(s)
			excl += u.excluded
			if len(u.tot) == 0 {
				continue
			}
			batches += len(u.tot)
			values += u.values
			nep = append(nep, unitStat{seed: s.Seed, n: len(u.tot), stat: u.stat("nep")})
			ape = append(ape, unitStat{seed: s.Seed, n: len(u.tot), stat: u.stat("ape")})
		}
		base := "spectrum/" + strings.Join([]string{k.fam, k.model, k.phase, k.data}, "/")
		t.Rows = append(t.Rows, []string{k.model, k.phase, k.data, strconv.Itoa(len(nep)), strconv.Itoa(batches), strconv.Itoa(values), strconv.Itoa(excl),
			ivCell(bootstrap(c, base+"/nep", []group{nep}, single), 1), ivCell(bootstrap(c, base+"/ape", []group{ape}, single), 1)})
	}
	return t
}

func famIndex(f string) int {
	for i, x := range familyOrder {
		if x == f {
			return i
		}
	}
	return len(familyOrder)
}

func phaseIndex(p string) int {
	switch p {
	case "init":
		return 0
	case "warmup":
		return 1
	case "final":
		return 3
	}
	return 2
}

// layerTables returns, per model and phase, every layer's high-frequency
// Δ log amplitude and variance with intervals.
func (c *Criteria) layerTables(in Inputs) []Table {
	type key struct{ fam, model, phase string }
	keys, byKey := groupFirstSeen(in.Profiles, func(p Profile) key { return key{p.Family, p.Model, p.Phase} })
	sort.SliceStable(keys, func(i, j int) bool { return famIndex(keys[i].fam) < famIndex(keys[j].fam) })
	var out []Table
	for _, k := range keys {
		t := Table{Title: fmt.Sprintf("Per layer: %s, %s checkpoints", k.model, k.phase),
			Note:    fmt.Sprintf("Δ log amplitude at each layer's highest frequency and feature-map variance, means over images and seeds, with the %s hierarchical bootstrap interval (seeds, then images).", c.conf()),
			Columns: []string{"layer", "kind", "depth", "high-frequency Δ log amplitude", "variance"}}
		var hf, va []profileUnits
		for _, p := range byKey[k] {
			h, err1 := newProfileUnits(p, "highfreq")
			v, err2 := newProfileUnits(p, "log_variance")
			if err1 != nil || err2 != nil || len(h.layers) != len(v.layers) {
				continue
			}
			if len(hf) > 0 && len(h.layers) != len(hf[0].layers) {
				continue
			}
			hf, va = append(hf, h), append(va, v)
		}
		if len(hf) == 0 {
			continue
		}
		// One vector statistic per model: every layer's high-frequency
		// value, then every layer's variance (not its log).
		L := len(hf[0].layers)
		var gs []vecStat
		for i := range hf {
			h, v := hf[i].x, va[i].x
			gs = append(gs, vecStat{n: hf[i].n, dim: 2 * L, stat: func(w, dst []float64) {
				for l := range L {
					dst[l] = weightedMean(w, h[l])
					dst[L+l] = weightedMean(w, v[l])
				}
			}})
		}
		ivs := bootstrapVec(c, fmt.Sprintf("layers/%s/%s/%s", k.fam, k.model, k.phase), gs)
		for l, layer := range hf[0].layers {
			t.Rows = append(t.Rows, []string{layer.Name, layer.Kind, fmt.Sprintf("%.2f", layer.Depth), ivCell(ivs[l], 1), ivCell(ivs[L+l], 1)})
		}
		t.Title += fmt.Sprintf(" (%d seed(s), %d images each)", len(hf), hf[0].n)
		out = append(out, t)
	}
	return out
}

// noiseTables returns, per model, phase and noise formula, the accuracy
// drop of every band with its paired interval.
func (c *Criteria) noiseTables(in Inputs) []Table {
	type key struct{ fam, model, phase, variant string }
	keys, byKey := groupFirstSeen(in.Noise, func(n Noise) key { return key{n.Family, n.Model, n.Phase, n.Variant} })
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].variant != keys[j].variant {
			return keys[i].variant > keys[j].variant // "paper" first
		}
		return famIndex(keys[i].fam) < famIndex(keys[j].fam)
	})
	var out []Table
	for _, k := range keys {
		var us []noiseUnits
		var gs []vecStat
		for _, n := range byKey[k] {
			u, err := newNoiseUnits(n)
			if err != nil || len(us) > 0 && len(u.bands) != len(us[0].bands) {
				continue
			}
			us = append(us, u)
			cl := make([]float64, len(n.Clean))
			for i, b := range n.Clean {
				cl[i] = b2f(b)
			}
			// Every band's drop, then the clean accuracy.
			gs = append(gs, vecStat{n: u.n, dim: len(u.bands) + 1, stat: func(w, dst []float64) {
				for b, d := range u.drop {
					dst[b] = weightedMean(w, d)
				}
				dst[len(u.drop)] = weightedMean(w, cl)
			}})
		}
		if len(us) == 0 {
			continue
		}
		ivs := bootstrapVec(c, fmt.Sprintf("noise/%s/%s/%s/%s", k.fam, k.model, k.phase, k.variant), gs)
		nb := len(us[0].bands)
		variant := "the paper's formula"
		if k.variant == "equal-energy" {
			variant = "equal energy per band"
		}
		t := Table{Title: fmt.Sprintf("Accuracy drop under band noise (%s): %s, %s checkpoints, %d seed(s)", variant, k.model, k.phase, len(us)),
			Note: fmt.Sprintf("Clean accuracy minus noisy accuracy, percentage points, mean over seeds, with the %s hierarchical bootstrap interval (seeds, then images; the same images for the clean and noisy runs: paired). Clean accuracy %s %%.",
				c.conf(), ivCell(ivs[nb], 100)),
			Columns: []string{"band centre (×π)", "accuracy drop (pp)"}}
		for b, f := range us[0].bands {
			t.Rows = append(t.Rows, []string{strconv.FormatFloat(f, 'g', -1, 64), ivCell(ivs[b], 100)})
		}
		out = append(out, t)
	}
	return out
}

// landscapeTable summarises the slices per model, with intervals over
// seeds and then direction pairs.
func (c *Criteria) landscapeTable(in Inputs) Table {
	t := Table{Title: "Loss landscapes",
		Note: fmt.Sprintf("Per slice (w0 + x·d1 + y·d2 on the grid, filter-normalised random directions): the statistics below; mean over seeds (each the mean over its direction pairs) with the %s hierarchical bootstrap interval (seeds, then direction pairs). "+
			"The regularised loss is given under both definitions: the project's NLL + (wd/2)·Σ‖w‖² and the official code's NLL + wd·Σ‖w‖.", c.conf()),
		Columns: []string{"model", "phase", "seeds", "pairs"}}
	for _, s := range landscapeStats {
		t.Columns = append(t.Columns, s.name)
	}
	type key struct{ fam, model, phase string }
	bySeed := map[key]map[string][]Landscape{}
	var keys []key
	for _, l := range in.Landscapes {
		if len(l.Points) == 0 {
			continue
		}
		k := key{l.Family, l.Model, l.Phase}
		if _, ok := bySeed[k]; !ok {
			bySeed[k] = map[string][]Landscape{}
			keys = append(keys, k)
		}
		bySeed[k][l.Seed] = append(bySeed[k][l.Seed], l)
	}
	sort.SliceStable(keys, func(i, j int) bool { return famIndex(keys[i].fam) < famIndex(keys[j].fam) })
	for _, k := range keys {
		seeds := sortedKeys(bySeed[k])
		pairs := 0
		for _, s := range seeds {
			pairs += len(bySeed[k][s])
		}
		row := []string{k.model, k.phase, strconv.Itoa(len(seeds)), strconv.Itoa(pairs)}
		for _, st := range landscapeStats {
			var gr group
			for _, s := range seeds {
				ls := bySeed[k][s]
				v := make([]float64, len(ls))
				for i, l := range ls {
					v[i] = st.f(l)
				}
				gr = append(gr, unitStat{seed: s, n: len(v), stat: func(w []float64) float64 { return weightedMean(w, v) }})
			}
			row = append(row, ivCell(bootstrap(c, fmt.Sprintf("landscape/%s/%s/%s/%s", k.fam, k.model, k.phase, st.key), []group{gr}, single), 1))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// inputsTable lists every input with its phase and data.
func inputsTable(in Inputs) Table {
	t := Table{Title: "Inputs", Note: "Every measurement the findings read, with the training phase of its checkpoint.",
		Columns: []string{"measurement", "model", "seed", "phase", "data", "size"}}
	for _, s := range in.Spectra {
		u := newSpectrumUnits(s)
		data := s.Data
		if s.Augmentation != "" {
			data += " (" + s.Augmentation + ")"
		}
		t.Rows = append(t.Rows, []string{"Hessian spectrum", s.Model, s.Seed, s.Phase, data,
			fmt.Sprintf("%d minibatches, %d eigenvalues, %d unconverged left out, wd %g", len(s.Batches), u.values, u.excluded, s.WeightDecay)})
	}
	for _, p := range in.Profiles {
		n := 0
		if len(p.Layers) > 0 {
			n = len(p.Layers[0].HighFreq)
		}
		t.Rows = append(t.Rows, []string{"Fourier and variance", p.Model, p.Seed, p.Phase, "clean test images", fmt.Sprintf("%d layers, %d images", len(p.Layers), n)})
	}
	for _, n := range in.Noise {
		t.Rows = append(t.Rows, []string{"band noise (" + n.Variant + ")", n.Model, n.Seed, n.Phase, "clean test images", fmt.Sprintf("%d bands, %d images", len(n.Bands), len(n.Clean))})
	}
	for _, l := range in.Landscapes {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("landscape, direction pair %d", l.Pair), l.Model, l.Seed, l.Phase, "training images", fmt.Sprintf("%d points, wd %g", len(l.Points), l.WeightDecay)})
	}
	return t
}

// groupFirstSeen groups items by key: the keys in the order they first
// appear, and each key's items in their order.
func groupFirstSeen[K comparable, V any](items []V, key func(V) K) ([]K, map[K][]V) {
	by := map[K][]V{}
	var keys []K
	for _, it := range items {
		k := key(it)
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], it)
	}
	return keys, by
}

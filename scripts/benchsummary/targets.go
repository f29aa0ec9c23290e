package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// threadsLine reads the thread count of "all cores" from machine.txt.
var threadsLine = regexp.MustCompile(`(?m)^threads \(all cores\): (\d+)`)

// allThreads returns the run's thread count for "all cores", 0 if unknown.
func (s *summary) allThreads() int {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(s.raw), "machine.txt"))
	if err != nil {
		return 0
	}
	m := threadsLine.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// peaks returns the best call's GFLOP/s of BenchmarkPeak's kernels at the
// given thread count over every run (a peak is what a kernel reaches when
// nothing disturbs it): sgemm and convolution, NaN when not measured.
func (s *summary) peaks(threads int) (sgemm, conv float64) {
	g := s.goResults("peak")
	best := func(kernel string) float64 {
		v := g[fmt.Sprintf("BenchmarkPeak/%s/threads=%d", kernel, threads)]["peak-GFLOP/s"]
		if len(v) == 0 {
			return math.NaN()
		}
		m := v[0]
		for _, x := range v {
			m = math.Max(m, x)
		}
		return m
	}
	return best("sgemm1024"), best("conv3x3-64")
}

// pyTrain is one PyTorch result of bench_train.py.
type pyTrain struct {
	Model string  `json:"model"`
	Batch int     `json:"batch"`
	MS    float64 `json:"ms_per_step"`
	CPUMS float64 `json:"cpu_ms_per_step"`
}

// target is one row of the targets table.
type target struct {
	measure      string
	goV, refV    []float64 // paired by run
	ratio        func(goV, refV float64) float64
	want         float64 // 0: no target, shown for information
	atMost       bool    // the ratio must be at most want (else at least)
	gflops       []float64
	decimalsVals int
	needGo       bool // a row only when Go measured it (a variant some presets lack)
}

// targets writes the table of issue 20's speed targets, one block of rows
// per mini preset, each a median of paired runs.
func (s *summary) targets() {
	threads := s.allThreads()
	tg := s.goResults("trainpy-go")
	hg := s.goResults("hvp-go")
	lg := s.goResults("landscape-go")
	if len(tg) == 0 && len(hg) == 0 && len(lg) == 0 {
		return
	}
	pt := map[string][]pyTrain{}
	s.pyRuns("trainpy-py-*.json", func(b []byte) {
		var doc struct{ Results []pyTrain }
		if json.Unmarshal(b, &doc) == nil {
			for _, x := range doc.Results {
				pt[x.Model] = append(pt[x.Model], x)
			}
		}
	})
	ph := map[string][]float64{}
	s.pyRuns("hvp-py-*.json", func(b []byte) {
		var doc struct {
			Results []struct {
				Model string  `json:"model"`
				HVP   float64 `json:"hvp_s"`
			}
		}
		if json.Unmarshal(b, &doc) == nil {
			for _, x := range doc.Results {
				ph[x.Model] = append(ph[x.Model], 1e3*x.HVP)
			}
		}
	})
	pl := map[string][]float64{}
	s.pyRuns("landscape-py-*.json", func(b []byte) {
		var x pyPoint
		if json.Unmarshal(b, &x) == nil {
			pl[x.Model] = append(pl[x.Model], x.PPS)
		}
	})
	names := map[string]bool{}
	for _, r := range []results{tg, hg, lg} {
		for k := range r {
			names[part(k, 1)] = true
		}
	}
	sg, cv := s.peaks(threads)
	peak := math.Max(sg, cv)
	if math.IsNaN(sg) || math.IsNaN(cv) {
		peak = math.NaN()
	}
	speedUp := func(goV, refV float64) float64 { return refV / goV } // times: > 1 when Go is faster
	per := func(goV, refV float64) float64 { return goV / refV }

	s.printf("## Speed targets (issue 20): Go against PyTorch on the same libtorch, %d thread(s) each\n\n", threads)
	var rows [][]string
	for _, n := range ordered(names) {
		var tpy, tpyCPU []float64
		batch := 0
		for _, x := range pt[n] {
			tpy, tpyCPU, batch = append(tpy, x.MS), append(tpyCPU, x.CPUMS), x.Batch
		}
		tk := fmt.Sprintf("BenchmarkTrainStep/%s/threads=%d", n, threads)
		twk := fmt.Sprintf("BenchmarkTrainStep/%s/workers=%dx1", n, threads)
		hk, fk := "BenchmarkHVP/"+n+"/hvp", "BenchmarkHVP/"+n+"/fwd+bwd"
		wk := "BenchmarkHVP/" + n + "/hvp-workers"
		sk := "BenchmarkHVP/" + n + "/hvp-split"
		var pyRate []float64 // PyTorch's products per second
		for _, ms := range ph[n] {
			pyRate = append(pyRate, 1e3/ms)
		}
		lk := "BenchmarkLandscapePoint/" + n + "/workers=2x1"
		for _, t := range []target{
			{measure: "training step (ms)" + batchNote(batch), goV: tg[tk]["ms/step"], refV: tpy, ratio: speedUp,
				want: 1.3, gflops: tg[tk]["GFLOP/s"], decimalsVals: 1},
			{measure: "training step, CPU time of all threads (cpu-ms)", goV: tg[tk]["cpu-ms/step"], refV: tpyCPU, ratio: speedUp,
				decimalsVals: 1},
			{measure: "training step (ms), the batch split over one worker per thread (1 thread each)",
				goV: tg[twk]["ms/step"], refV: tpy, ratio: speedUp, want: 1.3, gflops: tg[twk]["GFLOP/s"], decimalsVals: 1, needGo: true},
			{measure: "HVP, batch 16 (ms) vs PyTorch's double backward", goV: hg[hk]["median-ms"], refV: ph[n], ratio: speedUp,
				want: 1.3, gflops: hg[hk]["GFLOP/s"], decimalsVals: 1},
			{measure: "HVP, batch 16 (ms), the batch split over one worker per thread (1 thread each), vs PyTorch's double backward",
				goV: hg[sk]["median-ms"], refV: ph[n], ratio: speedUp, want: 1.3, gflops: hg[sk]["GFLOP/s"], decimalsVals: 1},
			{measure: "HVP vs Go's forward+backward (ms)", goV: hg[hk]["median-ms"], refV: hg[fk]["median-ms"], ratio: per,
				want: 3, atMost: true, decimalsVals: 1},
			{measure: "HVP products/s, the hessian command's workers (one per thread, 1 thread each) vs PyTorch's double backward",
				goV: hg[wk]["hvp/s"], refV: pyRate, ratio: per, want: 1.3, decimalsVals: 1},
			{measure: "landscape points/s, 2 workers x 1 thread vs PyTorch's reload loop", goV: lg[lk]["points/s"], refV: pl[n],
				ratio: per, want: 1.5, gflops: lg[lk]["GFLOP/s"], decimalsVals: 3},
		} {
			if len(t.goV) == 0 && (len(t.refV) == 0 || t.needGo) {
				continue
			}
			rows = append(rows, t.row(n, peak))
		}
	}
	s.table([]string{"preset", "measure", "Go", "reference", "ratio", "target", "met", "Go GFLOP/s", "share of peak", "pairs"}, rows)
	s.printf("Ratios are medians over runs of the ratio within each pair (Go, then the reference, one after the other); " +
		"speed ratios are > 1 when Go is faster. ")
	s.printf("Peaks (BenchmarkPeak, best call): sgemm 1024 %s GFLOP/s, 3x3 convolution 64 channels %s GFLOP/s on %d thread(s); "+
		"shares are of the larger.\n\n", num(sg, 1), num(cv, 1), threads)
	if l := s.loads("peak", "trainpy-go", "trainpy-py", "hvp-go", "hvp-py", "landscape-go", "landscape-py"); l != "" {
		s.printf("%s\n\n", l)
	}
}

// row formats one target of preset n.
func (t target) row(n string, peak float64) []string {
	r := ratiosBy(t.goV, t.refV, t.ratio)
	rm := med(r)
	cmp, met := "≥", "n/a"
	if t.atMost {
		cmp = "≤"
	}
	want := cmp + " " + strconv.FormatFloat(t.want, 'g', -1, 64)
	if t.want == 0 {
		want, met = "", ""
	} else if !math.IsNaN(rm) {
		met = "no"
		if (t.atMost && rm <= t.want) || (!t.atMost && rm >= t.want) {
			met = "yes"
		}
	}
	gf, share := "", ""
	if len(t.gflops) > 0 {
		gf = num(med(t.gflops), 1)
		if !math.IsNaN(peak) && peak > 0 {
			share = num(100*med(t.gflops)/peak, 0) + "%"
		}
	}
	return []string{n, t.measure, num(med(t.goV), t.decimalsVals), num(med(t.refV), t.decimalsVals), num(rm, 2),
		want, met, gf, share, strconv.Itoa(len(r))}
}

// batchNote is ", batch N" for a known batch.
func batchNote(batch int) string {
	if batch <= 0 {
		return ""
	}
	return fmt.Sprintf(", batch %d", batch)
}

// ratiosBy applies f to a and b pairwise.
func ratiosBy(a, b []float64, f func(x, y float64) float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		out = append(out, f(a[i], b[i]))
	}
	return out
}

// peakTable writes the measured peaks, every run.
func (s *summary) peakTable() {
	g := s.goResults("peak")
	if len(g) == 0 {
		return
	}
	s.printf("## Peaks: OpenBLAS sgemm and oneDNN convolution (BenchmarkPeak)\n\n")
	var rows [][]string
	for _, k := range sortedKeys(g) {
		best := math.NaN()
		for _, x := range g[k]["peak-GFLOP/s"] {
			if math.IsNaN(best) || x > best {
				best = x
			}
		}
		rows = append(rows, []string{strings.TrimPrefix(k, "BenchmarkPeak/"), num(best, 1), num(med(g[k]["median-GFLOP/s"]), 1),
			num(med(g[k]["GFLOP/cpu-s"]), 1), strconv.Itoa(len(g[k]["peak-GFLOP/s"]))})
	}
	s.table([]string{"kernel", "best call GFLOP/s", "median call GFLOP/s", "GFLOP/cpu-s", "runs"}, rows)
	if l := s.loads("peak"); l != "" {
		s.printf("%s\n\n", l)
	}
}

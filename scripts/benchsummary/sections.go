package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// med is the median, NaN of nothing.
func med(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// num formats x with d decimals and thousands separators, "n/a" for NaN.
func num(x float64, d int) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(x), 'f', d, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if x < 0 {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// ratios divides a by b pairwise.
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		out = append(out, a[i]/b[i])
	}
	return out
}

func (s *summary) trainStep() {
	r := s.goResults("train-step")
	if len(r) == 0 {
		return
	}
	s.printf("## Training step (BenchmarkTrainStep, mini recipe batch)\n\n")
	names := map[string]bool{}
	for k := range r {
		names[part(k, 1)] = true
	}
	var rows [][]string
	for _, n := range ordered(names) {
		var one, other []string
		for k := range r {
			if part(k, 1) == n {
				switch {
				case strings.HasSuffix(k, "/threads=1"):
					one = append(one, k)
				case strings.Contains(k, "/threads="): // not the split step (workers=NxT)
					other = append(other, k)
				}
			}
		}
		if len(one) == 0 || len(other) == 0 {
			continue
		}
		sort.Strings(one)
		sort.Strings(other)
		a, b := r[one[0]], r[other[0]]
		threads := other[0][strings.LastIndex(other[0], "=")+1:]
		rows = append(rows, []string{n, num(med(a["ms/step"]), 0), num(med(b["ms/step"]), 0), threads, num(med(a["img/s"]), 1),
			num(med(b["img/s"]), 1), num(med(a["ms/step"])/med(b["ms/step"]), 2), strconv.Itoa(len(a["ms/step"]))})
	}
	s.table([]string{"preset", "1 thread ms/step", "all ms/step", "threads", "1 thread img/s", "all img/s", "speed-up", "runs"}, rows)
	s.printf("%s\n\n", s.loads("train-step"))
}

func (s *summary) blas() {
	found, _ := filepath.Glob(filepath.Join(s.raw, "blas-train-*.txt"))
	var fast []string
	for _, p := range found {
		if c := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "blas-train-"), ".txt"); c != "Prescott" {
			fast = append(fast, c)
		}
	}
	if len(fast) == 0 {
		return
	}
	c := fast[0]
	s.printf("## OpenBLAS kernels: Prescott (OpenBLAS's fallback) vs %s, one thread\n\n", c)
	var rows [][]string
	for _, ku := range [][2]string{{"train", "img/s"}, {"hvp", "hvp/s"}} {
		a, b := s.goResults("blas-"+ku[0]+"-Prescott"), s.goResults("blas-"+ku[0]+"-"+c)
		var keys []string
		for k := range a {
			if _, ok := b[k]; ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			x, y := med(a[k][ku[1]]), med(b[k][ku[1]])
			rows = append(rows, []string{k, ku[1], num(x, 1), num(y, 1), num(y/x, 2), strconv.Itoa(len(b[k][ku[1]]))})
		}
	}
	s.table([]string{"benchmark", "unit", "Prescott", c, "speed-up", "runs"}, rows)
	s.printf("%s\n\n", s.loads("blas-train-Prescott", "blas-train-"+c, "blas-hvp-Prescott", "blas-hvp-"+c))
}

var pyImgLine = regexp.MustCompile(`^(\S+)\t([\d.]+) img/s`)

func (s *summary) fwdbwd() {
	g := s.goResults("fwdbwd-go")
	if len(g) == 0 {
		return
	}
	py := map[string][]float64{}
	for _, l := range s.lines("fwdbwd-py") {
		if m := pyImgLine.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			py[m[1]] = append(py[m[1]], v)
		}
	}
	s.printf("## Forward + backward, batch 32 (img/s): Go vs PyTorch\n\n")
	var rows [][]string
	for _, k := range sortedKeys(g) {
		n := part(k, 1)
		gi, pi := g[k]["img/s"], py[n]
		ra, paired := "n/a", ratios(gi, pi)
		if len(paired) > 0 {
			ra = num(med(paired), 2)
		}
		rows = append(rows, []string{n, num(med(gi), 1), num(med(pi), 1), ra, strconv.Itoa(len(gi))})
	}
	s.table([]string{"preset", "Go img/s", "PyTorch img/s", "Go/PyTorch (median of paired runs)", "runs"}, rows)
	s.printf("%s\n\n", s.loads("fwdbwd-go", "fwdbwd-py"))
}

// sortedKeys returns the benchmark names of r, sorted.
func sortedKeys(r results) []string {
	var ks []string
	for k := range r {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// pyRuns reads the PyTorch JSON files raw/PATTERN in repeat order (the
// number after the last "-"), each decoded by add.
func (s *summary) pyRuns(pattern string, add func(b []byte)) {
	found, _ := filepath.Glob(filepath.Join(s.raw, pattern))
	run := func(p string) int {
		n, _ := strconv.Atoi(strings.TrimSuffix(p[strings.LastIndex(p, "-")+1:], ".json"))
		return n
	}
	slices.SortFunc(found, func(a, b string) int { return run(a) - run(b) })
	for _, p := range found {
		if b, err := os.ReadFile(p); err == nil {
			add(b)
		}
	}
}

func (s *summary) hvp() {
	g := s.goResults("hvp-go")
	if len(g) == 0 {
		return
	}
	s.printf("## Hessian-vector products, batch 16, eval mode (median ms per call)\n\n")
	type pyHVP struct {
		Model  string  `json:"model"`
		HVP    float64 `json:"hvp_s"`
		FwdBwd float64 `json:"fwd_bwd_s"`
		SetupS float64 `json:"setup_s"`
	}
	py := map[string][]pyHVP{}
	s.pyRuns("hvp-py-*.json", func(b []byte) {
		var doc struct{ Results []pyHVP }
		if json.Unmarshal(b, &doc) == nil {
			for _, x := range doc.Results {
				py[x.Model] = append(py[x.Model], x)
			}
		}
	})
	names := map[string]bool{}
	for k := range g {
		names[part(k, 1)] = true
	}
	var rows [][]string
	for _, n := range ordered(names) {
		gm := func(p string) []float64 { return g["BenchmarkHVP/"+n+"/"+p]["median-ms"] }
		var ph, pfb, psu []float64
		for _, x := range py[n] {
			ph, pfb, psu = append(ph, 1e3*x.HVP), append(pfb, 1e3*x.FwdBwd), append(psu, 1e3*x.SetupS)
		}
		h := gm("hvp")
		phs, ra := "n/a", "n/a"
		if len(ph) > 0 {
			phs = num(1e3/med(ph), 2)
		}
		if r := ratios(ph, h); len(r) > 0 {
			ra = num(med(r), 2)
		}
		rows = append(rows, []string{n, num(med(h), 1), num(med(ph), 1), num(1e3/med(h), 2), phs, ra, num(med(gm("fwd+bwd")), 1),
			num(med(pfb), 1), num(med(gm("setup")), 1), num(med(psu), 1), strconv.Itoa(len(h))})
	}
	s.table([]string{"preset", "Go hvp ms", "PyTorch hvp ms", "Go hvp/s", "PyTorch hvp/s", "Go speed / PyTorch", "Go fwd+bwd ms",
		"PyTorch fwd+bwd ms", "Go setup ms", "PyTorch setup ms", "runs"}, rows)
	s.printf("%s\n\n", s.loads("hvp-go", "hvp-py"))
}

func (s *summary) landscape() {
	g := s.goResults("landscape-go")
	if len(g) == 0 {
		return
	}
	s.printf("## Landscape points, 1,000 MNIST images in batches of 50\n\n")
	py := map[string][]pyPoint{}
	s.pyRuns("landscape-py-*.json", func(b []byte) {
		var x pyPoint
		if json.Unmarshal(b, &x) == nil {
			py[x.Model] = append(py[x.Model], x)
		}
	})
	names := map[string]bool{}
	var configs, mine []string
	for _, c := range []string{"2x1", "1x2", "1x1"} {
		for k := range g {
			names[part(k, 1)] = true
			if strings.HasSuffix(k, "/workers="+c) && !slices.Contains(configs, c) {
				configs = append(configs, c)
				if strings.HasPrefix(c, "1x") {
					mine = append(mine, c)
				}
			}
		}
	}
	var rows [][]string
	for _, n := range ordered(names) {
		rows = append(rows, landscapeRow(g, n, configs, mine, py[n]))
	}
	header := []string{"preset"}
	for _, c := range configs {
		header = append(header, "Go "+c+" points/s")
	}
	header = append(header, "PyTorch points/s")
	for _, c := range mine {
		header = append(header, "Go "+c+" / PyTorch")
	}
	for _, c := range configs {
		header = append(header, "Go "+c+" CPU s/pt")
	}
	s.table(append(header, "PyTorch CPU s/pt", "Go set ms", "PyTorch set ms", "runs"), rows)
	s.printf("%s\n\n", s.loads("landscape-go", "landscape-py"))
}

// pyPoint is one PyTorch run of the landscape benchmark.
type pyPoint struct {
	Model  string  `json:"model"`
	PPS    float64 `json:"points_per_second"`
	CPU    float64 `json:"cpu_seconds_per_point"`
	SetSec float64 `json:"median_set_seconds"`
}

// landscapeRow is one preset's row of the landscape table.
func landscapeRow(g results, n string, configs, mine []string, p []pyPoint) []string {
	gv := func(c, u string) []float64 {
		if c == "set" {
			return g["BenchmarkLandscapePoint/"+n+"/set"][u]
		}
		return g["BenchmarkLandscapePoint/"+n+"/workers="+c][u]
	}
	var pps, cpu, set []float64
	for _, x := range p {
		pps, cpu, set = append(pps, x.PPS), append(cpu, x.CPU), append(set, 1e3*x.SetSec)
	}
	orNA := func(ok bool, s string) string {
		if !ok {
			return "n/a"
		}
		return s
	}
	row := []string{n}
	for _, c := range configs {
		row = append(row, num(med(gv(c, "points/s")), 3))
	}
	row = append(row, orNA(len(pps) > 0, num(med(pps), 3)))
	for _, c := range mine {
		r := ratios(gv(c, "points/s"), pps)
		row = append(row, orNA(len(r) > 0, num(med(r), 2)))
	}
	for _, c := range configs {
		row = append(row, num(med(gv(c, "cpu-s/point")), 2))
	}
	var setMs []float64
	for _, x := range gv("set", "ns/op") {
		setMs = append(setMs, x/1e6)
	}
	row = append(row, orNA(len(p) > 0, num(med(cpu), 2)), num(med(setMs), 1), orNA(len(p) > 0, num(med(set), 1)))
	runs := "0"
	if len(configs) > 0 {
		runs = strconv.Itoa(len(gv(configs[0], "points/s")))
	}
	return append(row, runs)
}

var lanczosLine = regexp.MustCompile(`products over|largest relative|batch \d+:`)
var testPrefix = regexp.MustCompile(`^\S+\.go:\d+: `)

func (s *summary) lanczos() {
	var lz []string
	for _, l := range s.lines("lanczos") {
		if lanczosLine.MatchString(l) {
			lz = append(lz, testPrefix.ReplaceAllString(strings.TrimSpace(l), ""))
		}
	}
	if len(lz) > 0 {
		s.printf("## Lanczos vs power iteration (TestLanczosVsPowerTrained)\n\n```\n%s\n```\n\n", strings.Join(lz, "\n"))
	}
}

// simple writes one table per section of plain Go benchmarks.
func (s *summary) simple() {
	for _, sec := range [][2]string{
		{"hessian-top5", "Dense operators: Lanczos vs power iteration (BenchmarkTop5)"},
		{"probes", "Probes, 100 images (BenchmarkForward, MeasureFeatures, NoiseBand)"},
		{"fourier", "Fourier (BenchmarkRelativeLogAmplitude, FFT2)"},
		{"data", "Data (BenchmarkEpoch, MNISTBatch)"},
		{"torchx-realnet", "torchx: 568-parameter network (BenchmarkRealNet)"},
	} {
		g := s.goResults(sec[0])
		if len(g) == 0 {
			continue
		}
		s.printf("## %s\n\n", sec[1])
		var rows [][]string
		width := 0
		for _, k := range sortedKeys(g) {
			row := []string{k, num(med(g[k]["ns/op"])/1e6, 3)}
			for _, u := range sortedUnits(g[k]) {
				if u != "ns/op" && u != "B/op" && u != "allocs/op" {
					row = append(row, num(med(g[k][u]), 1)+" "+u)
				}
			}
			rows = append(rows, row)
			width = max(width, len(row))
		}
		header := []string{"benchmark", "ms/op"}
		for len(header) < width {
			header = append(header, "metric")
		}
		for i := range rows {
			for len(rows[i]) < width {
				rows[i] = append(rows[i], "")
			}
		}
		s.table(header, rows)
		s.printf("%s\n\n", s.loads(sec[0]))
	}
}

func sortedUnits(m map[string][]float64) []string {
	var us []string
	for u := range m {
		us = append(us, u)
	}
	sort.Strings(us)
	return us
}

func (s *summary) rss() {
	f, err := os.Open(filepath.Join(s.raw, "rss-metrics.csv"))
	if err != nil {
		return
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	s.printf("## Resident memory per epoch: resnet-mini, 5%% of MNIST (cmd/train metrics.csv)\n\n")
	var rows [][]string
	for _, r := range recs[1:] {
		v := func(name string) float64 { x, _ := strconv.ParseFloat(r[col[name]], 64); return x }
		rows = append(rows, []string{r[col["epoch"]], num(v("rss_mib"), 0), num(v("img_per_s"), 1), num(v("test_acc"), 4)})
	}
	s.table([]string{"epoch", "RSS MiB", "img/s", "test acc"}, rows)
	s.printf("%s\n\n", s.loads("rss-train"))
}

package analysis

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/landscape"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/safetensors"
	"github.com/vitprobe/vitprobe/torchx"
	"github.com/vitprobe/vitprobe/train"

	"github.com/vitprobe/vitprobe/internal/testdep"
)

// lsMNIST is the MNIST training split, loaded once.
var lsMNIST = sync.OnceValues(func() (*data.Dataset, error) { return data.Load("mnist", "", data.Train) })

func lsData(t testing.TB) *data.Dataset {
	t.Helper()
	d, err := lsMNIST()
	if err != nil {
		testdep.Missing(t, "MNIST: %v (make setup copies it)", err)
	}
	return d
}

// lsTrainedDir is where the small trained model of these tests lives. It is
// kept between test runs (training is deterministic, so a finished run is
// the same model) and retrained if incomplete.
func lsTrainedDir() string {
	return filepath.Join(os.TempDir(), "vitprobe-test-analysis-landscape-resnet-mini-v1")
}

// lsTrained returns the final checkpoint of a resnet-mini trained briefly:
// 2% of MNIST (1,200 images), one epoch in batches of 32 (37 steps), which
// takes a few seconds and reaches about 80% accuracy, enough for a basin.
var lsTrained = sync.OnceValues(func() (string, error) {
	dir := lsTrainedDir()
	final := filepath.Join(dir, "final.json")
	if _, err := models.ReadCheckpoint(final); err == nil {
		return final, nil
	}
	_ = os.RemoveAll(dir)
	c, err := train.Recipe("mini", "resnet-mini", "mnist")
	if err != nil {
		return "", err
	}
	c.Fraction, c.Epochs, c.BatchSize, c.WarmupEpochs, c.SaveEvery, c.Seed = 0.02, 1, 32, 0.1, 0, 3
	var res *train.Result
	err = torchx.OnLockedThread(func() error {
		var err error
		res, err = train.Run(context.Background(), c, train.Options{Out: dir, Threads: 1, Device: gotch.CPU, TestFraction: 0.01, Log: io.Discard})
		return err
	})
	if err != nil {
		return "", err
	}
	return res.Final, nil
})

// lsLoad loads the trained model.
func lsLoad(t testing.TB) (models.Model, models.Checkpoint) {
	t.Helper()
	lsData(t)
	path, err := lsTrained()
	if err != nil {
		t.Fatalf("training the test model: %v", err)
	}
	m, ck, err := models.Load(path, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, ck
}

// lsHash is the checkpoint hash of m's weights.
func lsHash(t testing.TB, m models.Model) string {
	t.Helper()
	st, err := models.StateTensors(m)
	if err != nil {
		t.Fatal(err)
	}
	h, err := safetensors.Encode(io.Discard, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// lsSetup makes the paper's random plane through m's weights and an
// evaluator over n training images.
func lsSetup(t testing.TB, m models.Model, n int, opt *LandscapeOptions) (*LandscapeEvaluator, []int) {
	t.Helper()
	d := lsData(t)
	idx, err := LandscapeSubset(d, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	params, err := LandscapeParams(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := LandscapeZeroRule(m, false, false).Apply(params); err != nil {
		t.Fatal(err)
	}
	d1, err := landscape.Random(params, 5, 0, landscape.NormFilter)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := landscape.Random(params, 5, 1, landscape.NormFilter)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := NewLandscapeEvaluator(m, d, idx, params, []landscape.Direction{d1, d2}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ev.Close() })
	return ev, idx
}

func TestLandscapeRestoresWeightsBitForBit(t *testing.T) {
	m, ck := lsLoad(t)
	if h := lsHash(t, m); h != ck.WeightsSHA256 {
		t.Fatalf("loaded weights hash %s, checkpoint %s", h, ck.WeightsSHA256)
	}
	ev, _ := lsSetup(t, m, 64, &LandscapeOptions{Batch: 32, Workers: 2})
	g, _ := landscape.NewGrid2(-1, 1, 5, -1, 1, 5)
	res, err := landscape.Run(context.Background(), landscape.Spec{Grid: g, WeightDecay: 0.05}, ev, landscape.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete() {
		t.Fatalf("%d of %d points", len(res.Points), g.Len())
	}
	// After the grid the model holds the last point's weights; Close
	// restores them.
	if h := lsHash(t, m); h == ck.WeightsSHA256 {
		t.Fatal("the weights did not move during the grid")
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if h := lsHash(t, m); h != ck.WeightsSHA256 {
		t.Fatalf("after the grid the weights hash %s, before %s", h, ck.WeightsSHA256)
	}
	if _, err := ev.Evaluate(context.Background(), 0, 0); err == nil {
		t.Error("Evaluate after Close succeeded")
	}
}

func TestLandscapeCentreIsThePlainEvaluation(t *testing.T) {
	m, _ := lsLoad(t)
	d := lsData(t)
	ev, idx := lsSetup(t, m, 300, &LandscapeOptions{Batch: 50, Workers: 2})
	g, _ := landscape.NewGrid2(-1, 1, 5, -1, 1, 5)
	res, err := landscape.Run(context.Background(), landscape.Spec{Grid: g, WeightDecay: 0.05}, ev, landscape.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	// train.Evaluate on the same examples and batches, with the same one
	// libtorch thread, does the same float32 work and sums the batches in
	// the same order: the numbers agree exactly.
	var want train.Eval
	err = torchx.OnLockedThread(func() error {
		if _, err := torchx.SetThreads(1); err != nil {
			return err
		}
		var err error
		want, err = train.Evaluate(m, d, idx, 50)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	at := func(x, y float64) landscape.Point {
		i := slices.IndexFunc(res.Points, func(p landscape.Point) bool { return p.X == x && p.Y == y })
		if i < 0 {
			t.Fatalf("no point at (%g, %g)", x, y)
		}
		return res.Points[i]
	}
	c := at(0, 0)
	if c.NLL != want.NLL || c.Acc != want.Accuracy {
		t.Errorf("centre NLL %v acc %v, train.Evaluate NLL %v acc %v", c.NLL, c.Acc, want.NLL, want.Accuracy)
	}
	if want.Accuracy < 0.6 {
		t.Fatalf("the test model reaches only %.0f%% accuracy: not a trained model", 100*want.Accuracy)
	}
	// The centre's l1 and l2 are those of the trained weights.
	params, _ := LandscapeParams(m)
	if l2 := landscape.L2(params); math.Abs(c.L2-l2) > 1e-9*l2 {
		t.Errorf("centre l2 %v, weights' %v", c.L2, l2)
	}
	// A trained model sits in a basin: the NLL grows away from the centre,
	// on every axis point and on average from ring to ring.
	for _, xy := range [][2]float64{{0.5, 0}, {-0.5, 0}, {0, 0.5}, {0, -0.5}} {
		p, q := at(xy[0], xy[1]), at(2*xy[0], 2*xy[1])
		if !(c.NLL < p.NLL && p.NLL < q.NLL) {
			t.Errorf("NLL along (%g, %g): %v at 0, %v at 0.5, %v at 1: not growing", xy[0], xy[1], c.NLL, p.NLL, q.NLL)
		}
	}
	var ring [3]float64
	var count [3]int
	for _, p := range res.Points {
		r := int(math.Round(2 * math.Max(math.Abs(p.X), math.Abs(p.Y))))
		ring[r] += p.NLL
		count[r]++
	}
	for r := range ring {
		ring[r] /= float64(count[r])
	}
	if !(ring[0] < ring[1] && ring[1] < ring[2]) {
		t.Errorf("mean NLL by ring (centre, 0.5, 1): %v: not growing", ring)
	}
}

func TestLandscapeWorkersDoNotChangeTheNumbers(t *testing.T) {
	m, _ := lsLoad(t)
	var got [][]landscape.Metrics
	for _, w := range []int{1, 3} {
		ev, _ := lsSetup(t, m, 100, &LandscapeOptions{Batch: 16, Workers: w})
		var ms []landscape.Metrics
		for _, xy := range [][2]float64{{0.3, -0.7}, {0, 0}, {1, 1}} {
			mt, err := ev.Evaluate(context.Background(), xy[0], xy[1])
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, mt)
		}
		if err := ev.Close(); err != nil {
			t.Fatal(err)
		}
		got = append(got, ms)
	}
	if !slices.Equal(got[0], got[1]) {
		t.Errorf("1 worker: %v\n3 workers: %v", got[0], got[1])
	}
}

func TestLandscapeAugmentedBatchesAreFixed(t *testing.T) {
	m, _ := lsLoad(t)
	aug := data.Augment{CropPad: 4, MixupAlpha: 1, CutMixAlpha: 0.8, Smoothing: 0.1}
	evA, _ := lsSetup(t, m, 64, &LandscapeOptions{Batch: 32, Augment: aug, AugmentSeed: 9})
	a1, err := evA.Evaluate(context.Background(), 0.2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evA.Evaluate(context.Background(), -1, 1); err != nil {
		t.Fatal(err)
	}
	a2, err := evA.Evaluate(context.Background(), 0.2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if a1 != a2 {
		t.Errorf("the same point twice with augmentation: %v then %v", a1, a2)
	}
	evP, _ := lsSetup(t, m, 64, &LandscapeOptions{Batch: 32})
	p, err := evP.Evaluate(context.Background(), 0.2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// Mixed images against soft targets have a larger loss than plain ones.
	if !(a1.NLL > p.NLL) {
		t.Errorf("augmented NLL %v, plain %v: want the augmented one larger", a1.NLL, p.NLL)
	}
	in := evA.Inputs()
	if !strings.Contains(in["augment"], "mixup=1") || in["examples"] != "64" {
		t.Errorf("inputs %v", in)
	}
}

func TestLandscapeLineFromAnotherCheckpoint(t *testing.T) {
	m, _ := lsLoad(t)
	d := lsData(t)
	// a: the same architecture at its initialisation.
	torchx.Seed(11)
	a, err := models.New("resnet-mini", m.Spec().Config, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pa, err := LandscapeParams(a)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := LandscapeParams(m)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := landscape.Between(pa, pm)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := LandscapeSubset(d, 100, 2)
	ev, err := NewLandscapeEvaluator(m, d, idx, pa, []landscape.Direction{dir}, &LandscapeOptions{Batch: 50, ClampBuffers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ev.Close() }()
	if got := len(ev.Moving()); got != len(pa) {
		t.Errorf("%d tensors move on the line between checkpoints, want all %d", got, len(pa))
	}
	plain := func(mm models.Model) train.Eval {
		var e train.Eval
		err := torchx.OnLockedThread(func() error {
			if _, err := torchx.SetThreads(1); err != nil {
				return err
			}
			var err error
			e, err = train.Evaluate(mm, d, idx, 50)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	wantA, wantM := plain(a), plain(m)
	for _, c := range []struct {
		x    float64
		want train.Eval
	}{{0, wantA}, {1, wantM}} {
		got, err := ev.Evaluate(context.Background(), c.x, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.NLL != c.want.NLL || got.Acc != c.want.Accuracy {
			t.Errorf("x = %g: NLL %v acc %v, the checkpoint's own evaluation %v %v", c.x, got.NLL, got.Acc, c.want.NLL, c.want.Accuracy)
		}
	}
	// Beyond the checkpoint the running statistics stay the checkpoint's:
	// finite losses, unlike a linearly extrapolated running variance.
	for _, x := range []float64{-0.5, 1.5} {
		got, err := ev.Evaluate(context.Background(), x, 0)
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(got.NLL) || math.IsInf(got.NLL, 0) || math.IsNaN(got.Acc) {
			t.Errorf("x = %g: NLL %v, acc %v with clamped buffers", x, got.NLL, got.Acc)
		}
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if got := plain(m); got != wantM {
		t.Errorf("after Close the model evaluates to %v, before %v", got, wantM)
	}
}

func TestLandscapeCancel(t *testing.T) {
	m, ck := lsLoad(t)
	ev, _ := lsSetup(t, m, 64, &LandscapeOptions{Batch: 8, Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ev.Evaluate(ctx, 0.5, 0.5); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Evaluate: %v", err)
	}
	if err := ev.Close(); err != nil {
		t.Fatal(err)
	}
	if h := lsHash(t, m); h != ck.WeightsSHA256 {
		t.Error("the weights were not restored after a cancelled point")
	}
}

func TestLandscapeZeroRule(t *testing.T) {
	torchx.Seed(1)
	m, err := models.New("vit-mini", models.Config{Classes: 10, InChannels: 1, ImageSize: 32}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	still := func(move1D, movePos bool) map[string]bool {
		params, err := LandscapeParams(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := LandscapeZeroRule(m, move1D, movePos).Apply(params); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, p := range params {
			out[p.Name] = p.Zero
		}
		return out
	}
	def := still(false, false)
	for name, want := range map[string]bool{"pos_embed": true, "cls_token": true, "head.weight": false, "head.bias": true} {
		if def[name] != want {
			t.Errorf("default rule: %s still = %v, want %v", name, def[name], want)
		}
	}
	pos := still(false, true)
	if pos["pos_embed"] || !pos["cls_token"] || !pos["head.bias"] {
		t.Errorf("--move-pos: pos_embed %v cls_token %v head.bias %v, want false true true", pos["pos_embed"], pos["cls_token"], pos["head.bias"])
	}
	one := still(true, false)
	if one["head.bias"] || !one["pos_embed"] {
		t.Errorf("--move-1d: head.bias %v pos_embed %v, want false true", one["head.bias"], one["pos_embed"])
	}
	desc := LandscapeZeroDescription(LandscapeZeroRule(m, false, false))
	if desc[0] != "rank<2" || !slices.Contains(desc, "pos_embed") {
		t.Errorf("description %v", desc)
	}
}

func TestLandscapeSubset(t *testing.T) {
	d := lsData(t)
	for _, n := range []int{1, 10, 999, 1000, 4321} {
		a, err := LandscapeSubset(d, n, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := LandscapeSubset(d, n, 7)
		if len(a) != n || !slices.Equal(a, b) || !slices.IsSorted(a) {
			t.Fatalf("n = %d: %d indices, repeatable %v, sorted %v", n, len(a), slices.Equal(a, b), slices.IsSorted(a))
		}
		if len(slices.Compact(slices.Clone(a))) != n {
			t.Fatalf("n = %d: duplicate indices", n)
		}
		if n >= 1000 {
			// Stratified: each class within one example of its share.
			counts := make([]int, d.Info.Classes)
			for _, i := range a {
				counts[d.Labels[i]]++
			}
			all := d.ClassCounts()
			for c := range counts {
				share := float64(n) * float64(all[c]) / float64(d.Len())
				if math.Abs(float64(counts[c])-share) > 1.5 {
					t.Errorf("n = %d: class %d has %d examples, its share is %.1f", n, c, counts[c], share)
				}
			}
		}
	}
	c, _ := LandscapeSubset(d, 1000, 8)
	a, _ := LandscapeSubset(d, 1000, 7)
	if slices.Equal(a, c) {
		t.Error("two seeds gave the same subset")
	}
	if _, err := LandscapeSubset(d, 0, 1); err == nil {
		t.Error("a subset of 0 examples was accepted")
	}
	if all, _ := LandscapeSubset(d, d.Len()+5, 1); len(all) != d.Len() {
		t.Errorf("more than the dataset: %d indices, want all %d", len(all), d.Len())
	}
}

func TestLandscapeEigvecsFile(t *testing.T) {
	dir := t.TempDir()
	params := []landscape.Param{
		{Name: "a.weight", Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}},
		{Name: "bn.running_mean", Shape: []int{2}, Data: []float64{0, 0}, Buffer: true},
		{Name: "c.bias", Shape: []int{1}, Data: []float64{5}},
	}
	e := &LandscapeEigvecs{Vectors: [][]float64{{1, 0, 0, 0, 0.5}, {0, 1, 0, 0, -0.25}},
		Values: []float64{41.5, math.NaN()}, Model: "tiny", WeightsSHA256: "abc"}
	path := filepath.Join(dir, "eig.safetensors")
	if err := SaveLandscapeEigvecs(path, e); err != nil {
		t.Fatal(err)
	}
	got, err := LoadLandscapeEigvecs(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got.Vectors, e.Vectors, slices.Equal) || got.Values[0] != 41.5 || !math.IsNaN(got.Values[1]) ||
		got.Model != "tiny" || got.WeightsSHA256 != "abc" {
		t.Errorf("round trip: %+v, wrote %+v", got, e)
	}
	dirs, err := got.Directions(params, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dirs[0][0], []float64{1, 0, 0, 0}) || !slices.Equal(dirs[0][1], []float64{0, 0}) || dirs[1][2][0] != -0.25 {
		t.Errorf("directions %v", dirs)
	}
	if _, err := got.Directions(params, 3); err == nil {
		t.Error("3 directions from 2 vectors")
	}
	if _, err := got.Directions(params[:1], 1); err == nil {
		t.Error("vectors of the wrong length fitted")
	}

	// An F32 file written by another tool reads the same.
	f32 := func(name string, v ...float32) safetensors.Tensor {
		return safetensors.FromFloat32s(name, []int64{int64(len(v))}, v)
	}
	write := func(name string, ts ...safetensors.Tensor) string {
		var b bytes.Buffer
		if _, err := safetensors.Encode(&b, ts, nil); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p32 := write("f32.safetensors", f32("eigvec.0", 1, 2, 3, 4, 5))
	if g, err := LoadLandscapeEigvecs(p32); err != nil || !slices.Equal(g.Vectors[0], []float64{1, 2, 3, 4, 5}) {
		t.Errorf("F32 file: %v %v", g, err)
	}
	nan := make([]byte, 8)
	binary.LittleEndian.PutUint64(nan, math.Float64bits(math.NaN()))
	for name, ts := range map[string][]safetensors.Tensor{
		"checkpoint": {f32("conv.weight", 1, 2)},
		"mixed":      {f32("eigvec.0", 1, 2), f32("fc.weight", 1)},
		"gap":        {f32("eigvec.0", 1, 2), f32("eigvec.2", 1, 2)},
		"lengths":    {f32("eigvec.0", 1, 2), f32("eigvec.1", 1, 2, 3)},
		"nan":        {{Name: "eigvec.0", DType: safetensors.F64, Shape: []int64{1}, Data: nan}},
		"2d":         {safetensors.FromFloat32s("eigvec.0", []int64{1, 2}, []float32{1, 2})},
	} {
		if _, err := LoadLandscapeEigvecs(write(name+".safetensors", ts...)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error of several lines: %q", name, err)
		}
	}
	if _, err := LoadLandscapeEigvecs(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestLandscapeOptionsAndOrigin(t *testing.T) {
	m, _ := lsLoad(t)
	d := lsData(t)
	params, _ := LandscapeParams(m)
	d1, _ := landscape.Random(params, 1, 0, landscape.NormFilter)
	idx := []int{0, 1, 2}
	for name, opt := range map[string]*LandscapeOptions{
		"batch":   {Batch: -1},
		"workers": {Workers: -2},
		"augment": {Augment: data.Augment{Smoothing: 1.5}},
	} {
		if _, err := NewLandscapeEvaluator(m, d, idx, params, []landscape.Direction{d1}, opt); err == nil {
			t.Errorf("%s: bad option accepted", name)
		}
	}
	if _, err := NewLandscapeEvaluator(m, d, nil, params, []landscape.Direction{d1}, nil); err == nil {
		t.Error("no examples accepted")
	}
	if _, err := NewLandscapeEvaluator(m, d, idx, params[1:], []landscape.Direction{d1[1:]}, nil); err == nil {
		t.Error("an origin missing a tensor accepted")
	}
	renamed := slices.Clone(params)
	renamed[0].Name = "zzz"
	if _, err := NewLandscapeEvaluator(m, d, idx, renamed, []landscape.Direction{d1}, nil); err == nil {
		t.Error("an origin of other names accepted")
	}
	if _, err := NewLandscapeEvaluator(m, d, []int{d.Len()}, params, []landscape.Direction{d1}, nil); err == nil {
		t.Error("an index outside the dataset accepted")
	}
	in, err := LandscapeInputs(10, nil)
	if err != nil || in["batch"] != "50" || in["augment"] != "none" || in["examples"] != "10" {
		t.Errorf("default inputs %v %v", in, err)
	}
}

// TestLandscapeEvaluatorsKeepTheirMemory checks that evaluators do not
// page-fault their activations in again at every point: with glibc's
// per-thread arenas (what torchx's one-arena setting at load time
// prevents) about half the evaluators of a convolutional model faulted
// 8-96 MiB in per point and ran 2-7 times slower. Run with
// MALLOC_ARENA_MAX=8 to see it fail.
func TestLandscapeEvaluatorsKeepTheirMemory(t *testing.T) {
	torchx.KeepFreedMemory() // as the commands do
	m, _ := lsLoad(t)
	faults := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return ru.Minflt
	}
	var medians []int64
	for e := 0; e < 6; e++ {
		ev, _ := lsSetup(t, m, 256, &LandscapeOptions{Batch: 128, Workers: 1})
		var per []int64
		for i := range 6 {
			f0 := faults()
			if _, err := ev.Evaluate(context.Background(), 0.01*float64(i%7), -0.01*float64(i%5)); err != nil {
				t.Fatal(err)
			}
			if i >= 2 { // the first points of an evaluator fault in its memory once
				per = append(per, faults()-f0)
			}
		}
		if err := ev.Close(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(per)
		medians = append(medians, per[len(per)/2])
	}
	const limit = 256 // pages per point: 1 MiB, against 2,048-24,600 per point when it happens
	if slices.Max(medians) > limit {
		t.Errorf("median page faults per point of each evaluator %v: above %d (the evaluators free their memory to the kernel between points)", medians, limit)
	}
	t.Logf("median page faults per point of each evaluator: %v", medians)
}

package findings

import (
	"strings"
	"testing"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models/meta"
	"github.com/vitprobe/vitprobe/results"
)

// firstWrong returns n per-image outcomes with the first wrong images wrong.
func firstWrong(n, wrong int) results.Outcomes {
	o := make(results.Outcomes, n)
	for i := wrong; i < n; i++ {
		o[i] = true
	}
	return o
}

// representationResults returns a lesion study and corruption results of
// a ResNet and an AlterNet on n images: the AlterNet's MSA block ending a
// stage breaks msaWrong images when removed, its Conv block 2; under
// each of 2 corruptions × 2 severities the AlterNet misses alterWrong
// images, the ResNet baseWrong.
func representationResults(n, msaWrong, alterWrong, baseWrong int) (*results.Lesion, *results.Corruption) {
	block := func(name string, kind meta.LayerKind, stageEnd bool, wrong int) results.LesionBlock {
		return results.LesionBlock{LayerRef: results.LayerRef{Name: name, Kind: kind}, Identity: true, StageEnd: stageEnd,
			LesionScore: results.LesionScore{Correct: firstWrong(n, wrong)}}
	}
	l := &results.Lesion{Models: []results.LesionEntry{
		// The ResNet comes first; its (large) drops must not count.
		{Name: "r", Checkpoint: "r.json", LesionResult: &results.LesionResult{Model: "resnet-mini", Intact: results.LesionScore{Correct: firstWrong(n, 0)},
			Blocks: []results.LesionBlock{block("layer1.0", meta.KindConv, true, n/2)}}},
		{Name: "a", Checkpoint: "a.json", LesionResult: &results.LesionResult{Model: "alternet-mini", Intact: results.LesionScore{Correct: firstWrong(n, 0)},
			Blocks: []results.LesionBlock{block("layer1.0", meta.KindConv, false, 2), block("layer1.1", meta.KindMSA, true, msaWrong)}}},
	}}
	corr := func(model string, wrong int) *results.CorruptionResult {
		r := &results.CorruptionResult{Model: model}
		for _, name := range []string{"gaussian_noise", "contrast"} {
			for s := 1; s <= 2; s++ {
				r.Conditions = append(r.Conditions, results.CorruptionScore{Corruption: data.Corruption{Name: name, Severity: s},
					Correct: firstWrong(n, wrong)})
			}
		}
		return r
	}
	c := &results.Corruption{Models: []results.CorruptionEntry{
		{Name: "a", Checkpoint: "a.json", CorruptionResult: corr("alternet-mini", alterWrong)},
		{Name: "r", Checkpoint: "r.json", CorruptionResult: corr("resnet-mini", baseWrong)},
	}}
	return l, c
}

// TestDecideRepresentation: the lesion claim is decided on the AlterNet
// (found by family, not by order), the corruption claim on the AlterNet
// against the ResNet; the verdicts follow known differences, and missing
// results or families leave the claims inconclusive with the reason.
func TestDecideRepresentation(t *testing.T) {
	family := func(name, _ string) meta.Family {
		return map[string]meta.Family{"a": meta.AlterNet, "r": meta.ResNet}[name]
	}
	cases := []struct {
		name                               string
		msaWrong, alterWrong, baseWrong    int
		lesionVerdict, corruptVerdict      Verdict
		lesionMeasured, corruptionMeasured string
	}{
		// MSA removal breaks 60 of 400 images against 2 for the Conv
		// block: D = +14.5 pp; AlterNet misses 20, the ResNet 80: mCE 25%.
		{"holds", 60, 20, 80, Holds, Holds, "D = +14.50 pp", "mCE(AlterNet) = 25.0%"},
		// Equal drops: D = 0 with a degenerate interval at 0; the AlterNet
		// misses twice the ResNet's images: mCE 200%.
		{"reversed", 2, 80, 40, Inconclusive, DoesNotHold, "D = +0.00 pp", "mCE(AlterNet) = 200.0%"},
	}
	for _, c := range cases {
		l, co := representationResults(400, c.msaWrong, c.alterWrong, c.baseWrong)
		out := DecideRepresentation(l, co, family)
		if len(out) != 2 {
			t.Fatalf("%s: %d findings, want 2", c.name, len(out))
		}
		for i, want := range []struct {
			v    Verdict
			meas string
		}{{c.lesionVerdict, c.lesionMeasured}, {c.corruptVerdict, c.corruptionMeasured}} {
			f := out[i]
			if f.Verdict != want.v || !strings.Contains(strings.Join(f.Measured, "; "), want.meas) {
				t.Errorf("%s: %q: %s (%s), measured %q; want %s with %q", c.name, f.Claim, f.Verdict, f.Why, f.Measured, want.v, want.meas)
			}
		}
		if !strings.Contains(out[0].Measured[0], "alternet-mini") {
			t.Errorf("%s: lesion claim measured on %q, want the AlterNet", c.name, out[0].Measured[0])
		}
	}
	l, co := representationResults(400, 60, 20, 80)
	noResNet := func(name, _ string) meta.Family {
		if name == "a" {
			return meta.AlterNet
		}
		return ""
	}
	for _, c := range []struct {
		name       string
		l          *results.Lesion
		co         *results.Corruption
		family     func(string, string) meta.Family
		lesionWhy  string
		corruptWhy string
	}{
		{"nothing", nil, nil, family, "no lesion study", "no corruption results"},
		{"no families", l, co, func(string, string) meta.Family { return "" }, "has no AlterNet", "have no AlterNet"},
		{"no resnet", l, co, noResNet, "", "have no ResNet"},
	} {
		out := DecideRepresentation(c.l, c.co, c.family)
		if c.lesionWhy != "" && (out[0].Verdict != Inconclusive || !strings.Contains(out[0].Why, c.lesionWhy)) {
			t.Errorf("%s: lesion %s (%s), want inconclusive: %q", c.name, out[0].Verdict, out[0].Why, c.lesionWhy)
		}
		if out[1].Verdict != Inconclusive || !strings.Contains(out[1].Why, c.corruptWhy) {
			t.Errorf("%s: corruption %s (%s), want inconclusive: %q", c.name, out[1].Verdict, out[1].Why, c.corruptWhy)
		}
	}
}

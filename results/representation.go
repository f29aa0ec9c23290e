package results

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models/meta"
)

// Outcomes records, per image, whether a model classified it correctly.
// Its JSON form packs 8 images per byte, base64-encoded, after the count
// ({"n": 10000, "packed": "..."}), so that a journal record of 10,000
// images takes 1.7 kB. The lesion and corruption results keep them so
// that comparisons can resample images (findings' bootstrap).
type Outcomes []bool

type outcomesJSON struct {
	N      int    `json:"n"`
	Packed string `json:"packed"`
}

// MarshalJSON implements json.Marshaler.
func (o Outcomes) MarshalJSON() ([]byte, error) {
	b := make([]byte, (len(o)+7)/8)
	for i, v := range o {
		if v {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return json.Marshal(outcomesJSON{N: len(o), Packed: base64.StdEncoding.EncodeToString(b)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *Outcomes) UnmarshalJSON(js []byte) error {
	var p outcomesJSON
	if err := json.Unmarshal(js, &p); err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(p.Packed)
	if err != nil {
		return fmt.Errorf("outcomes: %w", err)
	}
	if p.N < 0 || len(b) != (p.N+7)/8 {
		return fmt.Errorf("outcomes: %d packed bytes for %d images", len(b), p.N)
	}
	out := make(Outcomes, p.N)
	for i := range out {
		out[i] = b[i/8]&(1<<(i%8)) != 0
	}
	*o = out
	return nil
}

// Accuracy returns the share of true values (NaN for none).
func (o Outcomes) Accuracy() float64 {
	if len(o) == 0 {
		return math.NaN()
	}
	c := 0
	for _, v := range o {
		if v {
			c++
		}
	}
	return float64(c) / float64(len(o))
}

// LayerRef identifies a layer of a model in the results of the lesion
// study and the CKA analysis: the model's description and its normalised
// depth.
type LayerRef struct {
	Index int            `json:"index"`
	Name  string         `json:"name"`
	Kind  meta.LayerKind `json:"kind"`
	// Depth is Index over the index of the model's last layer before the
	// head (the paper's x axis): 0 for the stem, 1 for the last block.
	Depth float64 `json:"depth"`
}

// LesionScore is a model's accuracy and mean negative log-likelihood on
// the images, and its per-image outcomes.
type LesionScore struct {
	Accuracy float64  `json:"accuracy"`
	NLL      float64  `json:"nll"`
	Correct  Outcomes `json:"correct"`
}

// LesionBlock is the model with one residual branch removed.
type LesionBlock struct {
	LayerRef
	// Identity reports an identity shortcut (see models.Residual).
	Identity bool `json:"identity"`
	// StageEnd reports that the block ends a stage: the next layer lowers
	// the resolution or is the head.
	StageEnd bool `json:"stage_end"`
	LesionScore
	// AccuracyDrop is the intact accuracy minus this one (positive: the
	// block mattered), with the standard error of the paired per-image
	// differences; Broken and Fixed count the images the lesion turned
	// from right to wrong and from wrong to right.
	AccuracyDrop   float64 `json:"accuracy_drop"`
	AccuracyDropSE float64 `json:"accuracy_drop_stderr"`
	Broken         int     `json:"broken"`
	Fixed          int     `json:"fixed"`
	// NLLIncrease is this NLL minus the intact one, with the standard
	// error of the paired per-image differences.
	NLLIncrease   float64 `json:"nll_increase"`
	NLLIncreaseSE float64 `json:"nll_increase_stderr"`
}

// LesionSkip is a layer that the study did not lesion, and why.
type LesionSkip struct {
	LayerRef
	Reason string `json:"reason"`
}

// LesionResult is the lesion study of one model (paper Fig. 10b): the
// model's accuracy and NLL with each residual branch removed in turn.
type LesionResult struct {
	// Model is the model's preset (Spec().Name).
	Model string `json:"model"`
	// Images is the number of images evaluated.
	Images int `json:"images"`
	// Projection reports that blocks with projection shortcuts were
	// lesioned too.
	Projection bool `json:"projection"`
	// Layers are the model's layers but the head, in depth order: what a
	// plot shades.
	Layers []LayerRef `json:"layers"`
	// Intact is the unlesioned model.
	Intact LesionScore `json:"intact"`
	// Blocks are the lesioned branches in depth order.
	Blocks []LesionBlock `json:"blocks"`
	// Skipped are the layers not lesioned, with the reason.
	Skipped []LesionSkip `json:"skipped"`
}

// LesionEntry is one checkpoint's study in lesion.json.
type LesionEntry struct {
	Name       string  `json:"name"`
	Checkpoint string  `json:"checkpoint"`
	Seconds    float64 `json:"seconds"`
	*LesionResult
}

// Lesion is cmd/lesion's lesion.json.
type Lesion struct {
	Provenance prov.Provenance `json:"provenance"`
	Dataset    string          `json:"dataset"`
	Models     []LesionEntry   `json:"models"`
}

// CorruptionScore is a model's outcome on one version of the images:
// clean (Name "clean", Severity 0) or corrupted.
type CorruptionScore struct {
	data.Corruption
	Accuracy float64 `json:"accuracy"`
	// NLL is the mean negative log-likelihood.
	NLL     float64  `json:"nll"`
	Correct Outcomes `json:"correct"`
}

// Error returns 1 − Accuracy.
func (s CorruptionScore) Error() float64 { return 1 - s.Accuracy }

// CorruptionResult is a model's accuracy on corrupted versions of a set of
// images (paper Fig. 12b, after ImageNet-C).
type CorruptionResult struct {
	// Model is the model's preset.
	Model string `json:"model"`
	// Images is the number of images; Seed the corruptions' seed.
	Images int    `json:"images"`
	Seed   uint64 `json:"seed"`
	// Clean is the accuracy on the uncorrupted images.
	Clean CorruptionScore `json:"clean"`
	// Conditions are in the order the corruptions were asked for.
	Conditions []CorruptionScore `json:"conditions"`
	// MeanAccuracy is the mean accuracy over Conditions.
	MeanAccuracy float64 `json:"mean_accuracy"`
}

// Score returns the condition of corruption name at severity s.
func (r *CorruptionResult) Score(name string, s int) (CorruptionScore, bool) {
	for _, c := range r.Conditions {
		if c.Name == name && c.Severity == s {
			return c, true
		}
	}
	return CorruptionScore{}, false
}

// CorruptionNamesOf returns the corruptions of r in their order.
func (r *CorruptionResult) CorruptionNamesOf() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Conditions {
		if !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c.Name)
		}
	}
	return out
}

// CorruptionSummary compares models' corruption errors with a baseline's,
// as ImageNet-C does with AlexNet's: for model f and corruption c,
//
//	CE_c = Σ_s E_{s,c}(f) / Σ_s E_{s,c}(baseline)
//	relative CE_c = Σ_s (E_{s,c}(f) − E_clean(f)) / Σ_s (E_{s,c}(baseline) − E_clean(baseline))
//
// over the severities s, E the top-1 error; mCE and relative mCE are their
// means over the corruptions (over those where the denominator is
// positive: a baseline without errors, or whose error does not grow, gives
// no ratio). Below 1 (100%): more robust than the baseline.
type CorruptionSummary struct {
	Baseline string                 `json:"baseline"`
	Models   []CorruptionModelScore `json:"models"`
}

// CorruptionModelScore is one model's line of a CorruptionSummary.
type CorruptionModelScore struct {
	Name         string  `json:"name"`
	CleanError   float64 `json:"clean_error"`
	MeanAccuracy float64 `json:"mean_accuracy"`
	// MCE is the mean of the corruptions' CE over those where it is
	// defined; nil when it is defined for none.
	MCE *float64 `json:"mce"`
	// RelativeMCE is the mean of the relative CEs that are defined; nil
	// when none is.
	RelativeMCE *float64          `json:"relative_mce"`
	Corruptions []CorruptionError `json:"corruptions"`
}

// CorruptionError is one model's errors under one corruption.
type CorruptionError struct {
	Name string `json:"corruption"`
	// Errors are the top-1 errors at the severities evaluated, in
	// increasing severity.
	Errors     []float64 `json:"errors"`
	Severities []int     `json:"severities"`
	// CE is nil when the baseline makes no error at any severity.
	CE *float64 `json:"ce"`
	// RelativeCE is nil when the baseline's error does not grow under the
	// corruption (its denominator is ≤ 0).
	RelativeCE *float64 `json:"relative_ce"`
}

// CorruptionEntry is one checkpoint's results in corrupt.json.
type CorruptionEntry struct {
	Name       string  `json:"name"`
	Checkpoint string  `json:"checkpoint"`
	Seconds    float64 `json:"seconds"`
	*CorruptionResult
}

// Corruption is cmd/corrupt's corrupt.json.
type Corruption struct {
	Provenance prov.Provenance    `json:"provenance"`
	Dataset    string             `json:"dataset"`
	Models     []CorruptionEntry  `json:"models"`
	Summary    *CorruptionSummary `json:"summary"`
}

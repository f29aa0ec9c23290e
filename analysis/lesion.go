package analysis

import (
	"context"
	"errors"
	"fmt"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/internal/journal"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
)

// LayerRef identifies a layer of a model in the results of the lesion
// study and the CKA analysis (results.LayerRef).
type LayerRef = results.LayerRef

// layerRefs returns every layer of m but the head, with normalised depths.
func layerRefs(m models.Model) []LayerRef {
	var out []LayerRef
	last := 0
	for _, l := range m.Layers() {
		if l.Kind != models.KindHead {
			last = max(last, l.Index)
		}
	}
	for _, l := range m.Layers() {
		if l.Kind == models.KindHead {
			continue
		}
		r := LayerRef{Index: l.Index, Name: l.Name, Kind: l.Kind}
		if last > 0 {
			r.Depth = float64(l.Index) / float64(last)
		}
		out = append(out, r)
	}
	return out
}

// LesionOptions configures Lesion.
type LesionOptions struct {
	// Batch is the number of images per forward pass (at least 1).
	Batch int
	// Projection also lesions the blocks whose shortcut is a projection
	// (the down-sampling blocks): the block is then reduced to a strided
	// 1×1 convolution, which is not the paper's lesion (the identity
	// passing through). By default they are skipped and listed as such.
	Projection bool
	// Journal, if not empty, is the path of a journal to which every
	// finished evaluation (the intact model, then each block) is appended
	// as it completes; a rerun with the same model, images and Inputs
	// skips the evaluations found there.
	Journal string
	// Inputs identifies what the numbers depend on besides the images and
	// the batch size (the weights' hash, the dataset): it is written into
	// the journal's header, and a journal of other inputs is refused.
	Inputs map[string]string
	// Progress, if not nil, is called after every forward pass with the
	// number done and their total.
	Progress func(done, total int)
}

// LesionScore is a model's accuracy, mean NLL and per-image outcomes
// (results.LesionScore).
type LesionScore = results.LesionScore

// LesionBlock is the model with one residual branch removed
// (results.LesionBlock).
type LesionBlock = results.LesionBlock

// LesionSkip is a layer that the study did not lesion, and why
// (results.LesionSkip).
type LesionSkip = results.LesionSkip

// LesionResult is the lesion study of one model (paper Fig. 10b;
// results.LesionResult).
type LesionResult = results.LesionResult

// lesionRecord is one journal line: an evaluation with the branch ending
// at Layer removed (−1: the intact model).
type lesionRecord struct {
	Layer   int          `json:"layer"`
	Correct Outcomes     `json:"correct"`
	NLL     PackedFloats `json:"nll"`
}

type lesionHeader struct {
	Kind    string            `json:"kind"`
	Version int               `json:"version"`
	Model   string            `json:"model"`
	Images  string            `json:"images"`
	Batch   int               `json:"batch"`
	Inputs  map[string]string `json:"inputs,omitempty"`
}

// Lesion removes, one at a time, each residual branch of m (its output set
// to zero, so the block's shortcut passes on alone) and evaluates the
// model on the images of d at indices (eval mode, no augmentation): the
// paper's lesion study. m must implement models.Lesioner. Blocks whose
// shortcut is a projection are skipped unless opt.Projection; the stem and
// the head, which are not residual, always are. The lesion state of m is
// restored when Lesion returns. It stops between forward passes when ctx
// is cancelled, keeping what the journal holds.
func Lesion(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt LesionOptions) (*LesionResult, error) {
	if err := checkProbeInputs(m, d, indices, opt.Batch); err != nil {
		return nil, err
	}
	les, ok := m.(models.Lesioner)
	if !ok {
		return nil, fmt.Errorf("analysis: model %s does not implement models.Lesioner: its residual branches cannot be switched off", m.Spec().Name)
	}
	prev := les.Lesioned()
	defer func() { _ = les.SetLesion(prev...) }()
	res := &LesionResult{Model: m.Spec().Name, Images: len(indices), Projection: opt.Projection, Layers: layerRefs(m)}
	refs := map[int]LayerRef{}
	for _, r := range res.Layers {
		refs[r.Index] = r
	}
	residual := map[int]models.Residual{}
	for _, r := range les.Residuals() {
		residual[r.Layer.Index] = r
	}
	stageEnd := map[int]bool{}
	all := m.Layers()
	for i := 0; i+1 < len(all); i++ {
		stageEnd[all[i].Index] = all[i+1].Kind == models.KindDown || all[i+1].Kind == models.KindHead
	}
	todo := []int{-1} // the intact model first
	for _, l := range res.Layers {
		r, isRes := residual[l.Index]
		switch {
		case !isRes && l.Kind == models.KindStem:
			res.Skipped = append(res.Skipped, LesionSkip{LayerRef: l, Reason: "the stem (patch embedding or first convolution) has no residual branch"})
		case !isRes:
			res.Skipped = append(res.Skipped, LesionSkip{LayerRef: l, Reason: "not the output of a residual branch"})
		case !r.Identity && !opt.Projection:
			res.Skipped = append(res.Skipped, LesionSkip{LayerRef: l, Reason: "its shortcut is a projection (the block changes the resolution or the width): without its branch the block would be a strided 1×1 convolution, not the identity"})
		default:
			todo = append(todo, l.Index)
		}
	}
	for _, l := range m.Layers() {
		if l.Kind == models.KindHead {
			res.Skipped = append(res.Skipped, LesionSkip{LayerRef: LayerRef{Index: l.Index, Name: l.Name, Kind: l.Kind, Depth: 1}, Reason: "the classifier (depth 1 by convention) is not a residual block"})
		}
	}
	done := map[int]lesionRecord{}
	var w *journal.Writer
	if opt.Journal != "" {
		hdr := lesionHeader{Kind: "vitprobe lesion journal", Version: 1, Model: m.Spec().Name, Images: indicesKey(indices),
			Batch: opt.Batch, Inputs: opt.Inputs}
		var recs []lesionRecord
		var err error
		w, recs, err = journal.Open[lesionRecord](opt.Journal, hdr)
		if err != nil {
			return nil, fmt.Errorf("analysis: lesion: %w", err)
		}
		defer func() { _ = w.Close() }()
		for _, r := range recs {
			if len(r.Correct) != len(indices) || len(r.NLL) != len(indices) {
				return nil, fmt.Errorf("analysis: lesion: %s: a record of %d images, want %d", opt.Journal, len(r.Correct), len(indices))
			}
			done[r.Layer] = r
		}
	}
	batches := (len(indices) + opt.Batch - 1) / opt.Batch
	total, count := 0, 0
	for _, l := range todo {
		if _, ok := done[l]; !ok {
			total += batches
		}
	}
	step := func() {
		count++
		if opt.Progress != nil {
			opt.Progress(count, total)
		}
	}
	for _, l := range todo {
		if _, ok := done[l]; ok {
			continue
		}
		var err error
		if l < 0 {
			err = les.SetLesion()
		} else {
			err = les.SetLesion(l)
		}
		if err != nil {
			return nil, fmt.Errorf("analysis: lesion: %w", err)
		}
		s, err := evaluate(ctx, m, d, indices, opt.Batch, step)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("analysis: lesion stopped with %d of %d evaluations done: %w", len(done), len(todo), err)
			}
			return nil, fmt.Errorf("analysis: lesion of layer %d: %w", l, err)
		}
		rec := lesionRecord{Layer: l, Correct: s.correct, NLL: make(PackedFloats, len(s.nll))}
		for i, v := range s.nll {
			rec.NLL[i] = float32(v) // what the journal keeps: fresh and resumed runs agree
		}
		if w != nil {
			if err := w.Append(rec); err != nil {
				return nil, fmt.Errorf("analysis: lesion: %w", err)
			}
		}
		done[l] = rec
	}
	intact := done[-1]
	res.Intact = lesionScore(intact)
	for _, l := range todo[1:] {
		rec := done[l]
		b := LesionBlock{LayerRef: refs[l], Identity: residual[l].Identity, StageEnd: stageEnd[l], LesionScore: lesionScore(rec)}
		delta, se, broken, fixed := pairedDelta(intact.Correct, rec.Correct)
		b.AccuracyDrop, b.AccuracyDropSE, b.Broken, b.Fixed = 0-delta, se, broken, fixed // 0-delta: no negative zero
		diff := make([]float64, len(indices))
		for i := range diff {
			diff[i] = float64(rec.NLL[i]) - float64(intact.NLL[i])
		}
		b.NLLIncrease, b.NLLIncreaseSE = meanSE(diff)
		res.Blocks = append(res.Blocks, b)
	}
	return res, nil
}

func lesionScore(r lesionRecord) LesionScore {
	nll := make([]float64, len(r.NLL))
	for i, v := range r.NLL {
		nll[i] = float64(v)
	}
	m, _ := meanSE(nll)
	return LesionScore{Accuracy: r.Correct.Accuracy(), NLL: m, Correct: r.Correct}
}

package analysis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
)

// Outcomes records, per image, whether a model classified it correctly
// (results.Outcomes: packed in JSON).
type Outcomes = results.Outcomes

// PackedFloats is a list of float32 values whose JSON form is their
// little-endian bytes, base64-encoded: per-image losses in journals.
type PackedFloats []float32

// MarshalJSON implements json.Marshaler.
func (p PackedFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 4*len(p))
	for i, v := range p {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *PackedFloats) UnmarshalJSON(js []byte) error {
	var s string
	if err := json.Unmarshal(js, &s); err != nil {
		return err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return fmt.Errorf("analysis: packed floats: not base64 of whole float32s")
	}
	out := make(PackedFloats, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	*p = out
	return nil
}

// scores are a model's per-image outcomes on a list of images.
type scores struct {
	correct Outcomes
	nll     []float64
}

// evaluate runs m in eval mode without gradients over the images of d at
// indices, batch at a time, and returns whether each image's largest
// logit is at its label and its negative log-likelihood (cross-entropy).
// It stops between batches when ctx is cancelled.
func evaluate(ctx context.Context, m models.Model, d *data.Dataset, indices []int, batch int, step func()) (*scores, error) {
	smp, err := data.Sequential(indices, batch)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	s := &scores{correct: make(Outcomes, len(indices)), nll: make([]float64, len(indices))}
	err = torchx.NoGrad(func() error {
		var hb data.HostBatch
		pos := 0
		for _, idx := range smp.Epoch(0).All() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := d.Fill(&hb, idx, data.Augment{}, nil); err != nil {
				return fmt.Errorf("analysis: %w", err)
			}
			b := len(idx)
			if err := scoreInto(m, hb.Images, b, hb.Channels, hb.Side, hb.Labels, s.correct[pos:pos+b], s.nll[pos:pos+b]); err != nil {
				return err
			}
			pos += b
			if step != nil {
				step()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// scoreInto runs m on b normalised images (b, channels, side, side) and
// records for each whether its largest logit is at its label and its
// cross-entropy −log softmax(logits)[label], computed in float64.
func scoreInto(m models.Model, images []float32, b, channels, side int, labels []int64, right []bool, nll []float64) error {
	v, k, err := batchLogits(m, images, b, channels, side)
	if err != nil {
		return err
	}
	for i := range b {
		row := v[i*k : (i+1)*k]
		best, mx := 0, math.Inf(-1)
		for c, z := range row {
			if float64(z) > mx {
				best, mx = c, float64(z)
			}
		}
		if math.IsInf(mx, 0) || math.IsNaN(mx) {
			return fmt.Errorf("analysis: non-finite logits for image %d of a batch", i)
		}
		var se float64
		for _, z := range row {
			se += math.Exp(float64(z) - mx)
		}
		lab := int(labels[i])
		if lab < 0 || lab >= k {
			return fmt.Errorf("analysis: label %d outside the %d classes of the model", lab, k)
		}
		right[i] = best == lab
		nll[i] = mx + math.Log(se) - float64(row[lab])
	}
	return nil
}

// meanSE returns the mean of v and its standard error.
func meanSE(v []float64) (mean, se float64) {
	n := float64(len(v))
	for _, x := range v {
		mean += x
	}
	mean /= n
	if len(v) > 1 {
		var ss float64
		for _, x := range v {
			ss += (x - mean) * (x - mean)
		}
		se = math.Sqrt(ss / (n - 1) / n)
	}
	return mean, se
}

// indicesKey identifies a list of image indices in a journal header.
func indicesKey(indices []int) string {
	h := sha256.New()
	var b [8]byte
	for _, i := range indices {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h.Write(b[:])
	}
	return fmt.Sprintf("%d images, sha256 %s", len(indices), hex.EncodeToString(h.Sum(nil)[:8]))
}

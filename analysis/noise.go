package analysis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/sugarme/gotch"

	"github.com/vitprobe/vitprobe/data"
	"github.com/vitprobe/vitprobe/fourier"
	"github.com/vitprobe/vitprobe/models"
	"github.com/vitprobe/vitprobe/results"
	"github.com/vitprobe/vitprobe/torchx"
)

// DefaultNoiseBands returns the paper's band centres, 0.1π, 0.2π, ...,
// 0.9π, in units of π.
func DefaultNoiseBands() []float64 {
	out := make([]float64, 9)
	for i := range out {
		out[i] = float64(i+1) / 10
	}
	return out
}

// NoiseOptions configures NoiseRobustness.
type NoiseOptions struct {
	// Level is the standard deviation of the Gaussian noise δ before it is
	// band-filtered, in units of the normalised input images (what the
	// model sees). It must be finite and ≥ 0; 0 adds no noise.
	Level float64
	// Bands are the band centres f in units of π; nil means
	// DefaultNoiseBands. Each band [f − Width/2, f + Width/2) must lie in
	// (0, π].
	Bands []float64
	// Width is the band width in units of π; 0 means the paper's 0.1.
	Width float64
	// Metric is the ring's radius (fourier.Chebyshev, the zero value, or
	// fourier.Euclidean).
	Metric fourier.Metric
	// EqualEnergy scales each band's noise so that its per-pixel RMS is
	// Level whatever the band's area. By default (the paper's formula) δ
	// has standard deviation Level and a band keeps the share of its
	// energy that falls in the ring, which grows with the ring's area:
	// high-frequency bands get more noise (NoiseBand.RMS says how much).
	EqualEnergy bool
	// Seed selects the noise. The noise of an image depends only on the
	// seed and the image's index in the dataset, not on the batch size or
	// on the other images analysed.
	Seed uint64
	// Batch is the number of images per forward pass (at least 1).
	Batch int
	// Workers is the number of goroutines that make the noise; 0 means
	// GOMAXPROCS.
	Workers int
	// Progress, if not nil, is called after every forward pass with the
	// number done and their total.
	Progress func(done, total int)
	// PerImage also keeps, per image, whether it is classified right
	// without noise and with each band's (NoiseResult.CleanCorrect,
	// NoiseBand.Correct), for paired intervals over images.
	PerImage bool
}

// NoiseResult is a model's robustness to frequency-band noise (see
// results.NoiseResult).
type NoiseResult = results.NoiseResult

// NoiseBand is the effect of one band of noise (see results.NoiseBand).
type NoiseBand = results.NoiseBand

// noiseBandSpec is a validated band with its noise scale.
type noiseBandSpec struct {
	band  fourier.Band
	scale float64
	bins  int
	rms   float64
}

// noiseBands validates opt and returns its bands for n×n images.
func noiseBands(opt NoiseOptions, n int) ([]noiseBandSpec, float64, error) {
	if math.IsNaN(opt.Level) || math.IsInf(opt.Level, 0) || opt.Level < 0 {
		return nil, 0, fmt.Errorf("analysis: noise level %v: want a finite number ≥ 0", opt.Level)
	}
	width := opt.Width
	if width == 0 {
		width = fourier.DefaultBandWidth / math.Pi
	}
	if math.IsNaN(width) || width <= 0 || width >= 1 {
		return nil, 0, fmt.Errorf("analysis: noise band width %vπ: want a width in (0, π)", width)
	}
	centres := opt.Bands
	if centres == nil {
		centres = DefaultNoiseBands()
	}
	if len(centres) == 0 {
		return nil, 0, errors.New("analysis: no noise bands")
	}
	out := make([]noiseBandSpec, len(centres))
	for i, c := range centres {
		if math.IsNaN(c) || c <= 0 || c >= 1 {
			return nil, 0, fmt.Errorf("analysis: noise band centred at %vπ is outside (0, π)", c)
		}
		b := fourier.Band{Center: c * math.Pi, Width: width * math.Pi, Metric: opt.Metric}
		mask, err := fourier.BandMask(n, n, b)
		if err != nil {
			return nil, 0, fmt.Errorf("analysis: noise band centred at %vπ: %w", c, err)
		}
		bins := 0
		for _, v := range mask {
			if v != 0 {
				bins++
			}
		}
		share := math.Sqrt(float64(bins) / float64(n*n))
		s := noiseBandSpec{band: b, scale: opt.Level, bins: bins, rms: opt.Level * share}
		if opt.EqualEnergy {
			s.scale, s.rms = opt.Level/share, opt.Level
		}
		out[i] = s
	}
	return out, width, nil
}

// ValidateNoise reports the first problem of opt (a level, width or band
// out of range, a batch size below 1) as a one-line error, without
// touching a model.
func ValidateNoise(opt NoiseOptions) error {
	if opt.Batch < 1 {
		return fmt.Errorf("analysis: batch size %d: want at least 1 image per batch", opt.Batch)
	}
	_, _, err := noiseBands(opt, data.Size)
	return err
}

// noiseRand returns the generator of image idx's noise: ChaCha8 keyed by
// the seed and the index, so that an image's noise does not depend on
// batching. The same generator state serves every band, so the bands'
// noises are band-filtered copies of one white noise per image (common
// random numbers: band-to-band differences are not blurred by fresh
// noise).
func noiseRand(seed uint64, idx int) *rand.Rand {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(idx))
	copy(key[16:], "vitprobe:bandnoise")
	return rand.New(rand.NewChaCha8(key))
}

// NoiseRobustness measures how band-limited noise changes m's accuracy on
// the images of d at indices (docs/methods.md §5): for every band f it adds
// x + scale · IFFT2(FFT2(δ) · M_f) to each normalised input image
// (fourier.AddBandNoise; δ standard Gaussian, drawn independently for each
// channel of each image, as torch.randn_like(x) would) and compares the
// accuracy with the clean accuracy. The model runs in eval mode without
// gradients. It stops between batches when ctx is cancelled, returning
// ctx's error.
func NoiseRobustness(ctx context.Context, m models.Model, d *data.Dataset, indices []int, opt NoiseOptions) (*NoiseResult, error) {
	if err := checkProbeInputs(m, d, indices, opt.Batch); err != nil {
		return nil, err
	}
	bands, width, err := noiseBands(opt, d.Info.ImageSide())
	if err != nil {
		return nil, err
	}
	smp, err := data.Sequential(indices, opt.Batch)
	if err != nil {
		return nil, fmt.Errorf("analysis: %w", err)
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := len(indices)
	clean := make([]bool, n)
	noisy := make([][]bool, len(bands))
	for i := range noisy {
		noisy[i] = make([]bool, n)
	}
	total := smp.Batches() * (1 + len(bands))
	err = torchx.NoGrad(func() error {
		var hb data.HostBatch
		var work []float32
		done, pos := 0, 0
		step := func() {
			done++
			if opt.Progress != nil {
				opt.Progress(done, total)
			}
		}
		for _, idx := range smp.Epoch(0).All() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := d.Fill(&hb, idx, data.Augment{}, nil); err != nil {
				return fmt.Errorf("analysis: %w", err)
			}
			b := len(idx)
			if err := predictInto(m, hb.Images, b, hb.Channels, hb.Side, hb.Labels, clean[pos:pos+b]); err != nil {
				return err
			}
			step()
			work = append(work[:0], hb.Images...)
			for bi, s := range bands {
				if err := ctx.Err(); err != nil {
					return err
				}
				copy(work, hb.Images)
				if err := addNoise(work, idx, hb.Channels, hb.Side, s, opt.Seed, workers); err != nil {
					return err
				}
				if err := predictInto(m, work, b, hb.Channels, hb.Side, hb.Labels, noisy[bi][pos:pos+b]); err != nil {
					return err
				}
				step()
			}
			pos += b
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &NoiseResult{Images: n, Level: opt.Level, Width: width, Metric: opt.Metric.String(),
		EqualEnergy: opt.EqualEnergy, Seed: opt.Seed, Clean: accuracyOf(clean), Bands: make([]NoiseBand, len(bands))}
	for bi, s := range bands {
		nb := NoiseBand{Center: s.band.Center / math.Pi, Bins: s.bins, RMS: s.rms, Accuracy: accuracyOf(noisy[bi])}
		nb.Delta, nb.StdErr, nb.Broken, nb.Fixed = pairedDelta(clean, noisy[bi])
		if opt.PerImage {
			nb.Correct = bits(noisy[bi])
		}
		r.Bands[bi] = nb
	}
	if opt.PerImage {
		r.CleanCorrect = bits(clean)
	}
	return r, nil
}

// addNoise adds band noise to the images of one batch, in parallel over
// images; image j of the batch is dataset image idx[j].
func addNoise(images []float32, idx []int, channels, n int, s noiseBandSpec, seed uint64, workers int) error {
	per := channels * n * n
	workers = max(1, min(workers, len(idx)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(idx)/workers, (w+1)*len(idx)/workers
		wg.Go(func() {
			for j := lo; j < hi; j++ {
				x := fourier.Maps[float32]{B: 1, C: channels, H: n, W: n, Data: images[j*per : (j+1)*per]}
				if err := fourier.AddBandNoise(x, s.band, s.scale, noiseRand(seed, idx[j])); err != nil {
					errs[w] = fmt.Errorf("analysis: noise for image %d: %w", idx[j], err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// predictInto runs m on b normalised images (b, channels, side, side) and
// records in right whether each image's largest logit is at its label.
func predictInto(m models.Model, images []float32, b, channels, side int, labels []int64, right []bool) error {
	v, k, err := batchLogits(m, images, b, channels, side)
	if err != nil {
		return err
	}
	for i := range b {
		row := v[i*k : (i+1)*k]
		best := 0
		for c, z := range row {
			if z > row[best] {
				best = c
			}
		}
		right[i] = int64(best) == labels[i]
	}
	return nil
}

// batchLogits runs m in evaluation mode on b normalised images (b,
// channels, side, side) and returns the logits, row-major (b, k), and k.
func batchLogits(m models.Model, images []float32, b, channels, side int) ([]float32, int, error) {
	x, err := torchx.FromSlice(images, []int64{int64(b), int64(channels), int64(side), int64(side)}, gotch.Float)
	if err != nil {
		return nil, 0, fmt.Errorf("analysis: %w", err)
	}
	logits, err := m.Forward(x, models.Eval, nil)
	_ = x.Drop()
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = logits.Drop() }()
	shape, err := logits.Size()
	if err != nil {
		return nil, 0, fmt.Errorf("analysis: logits: %w", err)
	}
	if len(shape) != 2 || shape[0] != int64(b) || shape[1] < 1 {
		return nil, 0, fmt.Errorf("analysis: logits of shape %v for a batch of %d, want (%d, classes)", shape, b, b)
	}
	k := int(shape[1])
	v := make([]float32, b*k)
	if err := torchx.CopyOut(v, logits); err != nil {
		return nil, 0, fmt.Errorf("analysis: logits: %w", err)
	}
	return v, k, nil
}

func accuracyOf(right []bool) float64 {
	c := 0
	for _, r := range right {
		if r {
			c++
		}
	}
	return float64(c) / float64(len(right))
}

// pairedDelta returns the mean of the per-image differences noisy − clean
// (1, 0 or −1), its standard error, and the counts of −1 and +1.
func pairedDelta(clean, noisy []bool) (delta, stderr float64, broken, fixed int) {
	n := len(clean)
	for i := range clean {
		switch {
		case clean[i] && !noisy[i]:
			broken++
		case !clean[i] && noisy[i]:
			fixed++
		}
	}
	delta = float64(fixed-broken) / float64(n)
	if n > 1 {
		// Σ d² = broken + fixed; unbiased variance of d.
		v := (float64(broken+fixed) - float64(n)*delta*delta) / float64(n-1)
		stderr = math.Sqrt(max(v, 0) / float64(n))
	}
	return delta, stderr, broken, fixed
}

// bits writes a record of booleans as '1' and '0' characters.
func bits(v []bool) string {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = '0'
		if x {
			b[i] = '1'
		}
	}
	return string(b)
}

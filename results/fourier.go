package results

import (
	"math"

	"github.com/vitprobe/vitprobe/internal/prov"
	"github.com/vitprobe/vitprobe/models/meta"
)

// FourierEntry is what the report keeps of one checkpoint.
type FourierEntry struct {
	Key        string          `json:"key"`
	Name       string          `json:"name"`
	Checkpoint string          `json:"checkpoint"`
	Model      meta.Spec       `json:"model"`
	Phase      string          `json:"phase"`
	Epoch      int             `json:"epoch"`
	Weights    string          `json:"weights_sha256"`
	Sidecar    string          `json:"sidecar_sha256"`
	Fourier    *FourierResult  `json:"fourier,omitempty"`
	Variance   *VarianceResult `json:"variance,omitempty"`
	Noise      *NoiseResult    `json:"noise,omitempty"`
	// Seconds is the time the analyses took when they ran.
	Seconds float64 `json:"seconds"`
	// Reused is set when this run took the results from models/NAME.json.
	Reused bool `json:"reused,omitempty"`
}

// Fourier is the Fourier job's results.json: every checkpoint's
// results, in the order given, with the provenance of the run.
type Fourier struct {
	Provenance prov.Provenance `json:"provenance"`
	Dataset    string          `json:"dataset"`
	Images     int             `json:"images"`
	Batch      int             `json:"batch"`
	Models     []*FourierEntry `json:"models"`
}

// LayerInfo identifies an analysed layer: the model's description of it
// (meta.Layer) and the shape of the maps the analyses saw.
type LayerInfo struct {
	// Index is the model's depth-order index of the layer (0: stem or
	// embedding).
	Index int `json:"index"`
	// Name is the model's layer name, e.g. "layer2.0" or "blocks.3.attn".
	Name string `json:"name"`
	// Kind is the layer's kind; plots shade KindMSA grey and KindDown blue.
	Kind meta.LayerKind `json:"kind"`
	// Depth is the normalised depth, Index divided by the largest Index
	// among the analysed layers (the paper's x axis): 0 for the stem, 1
	// for the last spatial layer.
	Depth float64 `json:"depth"`
	// Tokens reports a token layer, turned into maps by
	// fourier.TokensToMaps with the class token (if any) dropped.
	Tokens bool `json:"tokens,omitempty"`
	// Channels, Height and Width are the shape of the layer's maps.
	Channels int `json:"channels"`
	Height   int `json:"height"`
	Width    int `json:"width"`
}

// FourierResult is the relative log amplitude of every spatial layer of a
// model (docs/methods.md §4), averaged over all the images seen.
type FourierResult struct {
	// Images is the number of images the averages are over.
	Images int `json:"images"`
	// Nyquist reports whether the profiles include, for even map sizes,
	// the point at frequency exactly π (fourier.Options.IncludeNyquist).
	Nyquist bool `json:"nyquist"`
	// Layers are in depth order.
	Layers []FourierLayer `json:"layers"`
}

// FourierLayer is one layer's relative log-amplitude profile along the
// half diagonal of its mean log-amplitude spectrum.
type FourierLayer struct {
	LayerInfo
	// K holds each point's diagonal index k: the frequency (k, k).
	K []int `json:"k"`
	// Freq is each point's true per-axis angular frequency 2πk/n, in
	// radians (the last point is π − 2π/n for even n without Nyquist).
	Freq []float64 `json:"freq"`
	// PlotFreq is the paper's plotting axis in units of π: the points
	// spread evenly over [0, 1] whatever their true frequencies.
	PlotFreq []float64 `json:"plot_freq"`
	// LogAmp is the mean over images and channels of log(|F(k,k)| + 1e-6).
	LogAmp []float64 `json:"log_amp"`
	// DLogAmp is LogAmp minus LogAmp[0], the paper's Δ log amplitude.
	DLogAmp []float64 `json:"dlogamp"`
	// HighFreqPerImage holds, when the run kept per-image records, each
	// image's own Δ log amplitude at the highest frequency point (its
	// channels' mean log amplitude there minus at frequency 0), in image
	// order. The paper's quantity is a mean over images and channels of
	// log |F|, so the mean of these is HighFreq() (to rounding): they
	// allow intervals by resampling images.
	HighFreqPerImage []float64 `json:"high_freq_per_image,omitempty"`
}

// HighFreq returns the relative log amplitude at the layer's highest
// frequency point, the quantity the paper plots against depth (Fig. 8).
func (l FourierLayer) HighFreq() float64 {
	if len(l.DLogAmp) == 0 {
		return math.NaN()
	}
	return l.DLogAmp[len(l.DLogAmp)-1]
}

// VarianceResult is the feature-map variance of every spatial layer of a
// model (docs/methods.md §5), averaged over all the images seen.
type VarianceResult struct {
	// Images is the number of images the averages are over.
	Images int `json:"images"`
	// Layers are in depth order.
	Layers []VarianceLayer `json:"layers"`
}

// VarianceLayer is one layer's feature-map variance: for every image and
// channel, the unbiased variance of the map over its H·W spatial positions,
// averaged over images and channels.
type VarianceLayer struct {
	LayerInfo
	Variance float64 `json:"variance"`
	// PerImage holds, when the run kept per-image records, each image's
	// own variance (the mean over its channels), in image order; their
	// mean is Variance (to rounding).
	PerImage []float64 `json:"per_image,omitempty"`
}

// NoiseResult is a model's robustness to frequency-band noise
// (docs/methods.md §5): its accuracy on images with noise of each band, against
// its accuracy on the clean images.
type NoiseResult struct {
	// Images is the number of images evaluated.
	Images int `json:"images"`
	// Level is NoiseOptions.Level.
	Level float64 `json:"level"`
	// Width is the band width in units of π.
	Width float64 `json:"width"`
	// Metric is the ring's radius: "chebyshev" or "euclidean".
	Metric string `json:"metric"`
	// EqualEnergy is NoiseOptions.EqualEnergy.
	EqualEnergy bool   `json:"equal_energy"`
	Seed        uint64 `json:"seed"`
	// Clean is the accuracy on the clean images, in [0, 1].
	Clean float64 `json:"clean_accuracy"`
	// Bands are in the order of NoiseOptions.Bands.
	Bands []NoiseBand `json:"bands"`
	// CleanCorrect holds, when the run kept per-image records, one
	// character per image in order: '1' if it is classified right without
	// noise, '0' if not.
	CleanCorrect string `json:"clean_correct,omitempty"`
}

// NoiseBand is the effect of one band of noise.
type NoiseBand struct {
	// Center is the band's centre f in units of π.
	Center float64 `json:"center"`
	// Bins is the number of frequency bins of an image's spectrum in the
	// band.
	Bins int `json:"bins"`
	// RMS is the per-pixel root-mean-square of the added noise: the scale
	// of δ times √(Bins/(H·W)) (Parseval), in normalised input units.
	RMS float64 `json:"noise_rms"`
	// Accuracy is the accuracy on the noisy images, in [0, 1].
	Accuracy float64 `json:"accuracy"`
	// Delta is Accuracy − Clean: negative when the noise hurts.
	Delta float64 `json:"delta"`
	// StdErr is the standard error of Delta from the paired per-image
	// differences (noisy correct − clean correct).
	StdErr float64 `json:"stderr"`
	// Broken and Fixed count the images that the noise turned from right
	// to wrong and from wrong to right.
	Broken int `json:"broken"`
	Fixed  int `json:"fixed"`
	// Correct is, when the run kept per-image records, CleanCorrect's
	// record for the noisy images of this band.
	Correct string `json:"correct,omitempty"`
}

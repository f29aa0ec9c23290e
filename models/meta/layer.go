package meta

import "fmt"

// LayerKind classifies a probe-able layer as the paper's plots do.
type LayerKind int

const (
	// KindStem is the stem convolution or the patch embedding (layer 0).
	KindStem LayerKind = iota
	// KindConv is a convolutional residual block.
	KindConv
	// KindDown is a block that lowers the spatial resolution (a strided
	// convolutional block or a patch-merging layer); shaded blue in plots.
	KindDown
	// KindMSA is a multi-head self-attention block or residual sub-block;
	// shaded grey in plots.
	KindMSA
	// KindMLP is a ViT MLP residual sub-block.
	KindMLP
	// KindHead is the classifier's output (logits).
	KindHead
)

var layerKindNames = [...]string{"stem", "conv", "down", "msa", "mlp", "head"}

// String returns the kind's short name, as used in files and tables.
func (k LayerKind) String() string {
	if k < 0 || int(k) >= len(layerKindNames) {
		return fmt.Sprintf("LayerKind(%d)", int(k))
	}
	return layerKindNames[k]
}

// ParseLayerKind is String's inverse.
func ParseLayerKind(s string) (LayerKind, error) {
	for i, n := range layerKindNames {
		if n == s {
			return LayerKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown layer kind %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (k LayerKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *LayerKind) UnmarshalText(b []byte) error {
	v, err := ParseLayerKind(string(b))
	*k = v
	return err
}

// Layer describes one layer's output as probes see it.
type Layer struct {
	// Index is the position in depth order; 0 is the stem or embedding.
	Index int `json:"index"`
	// Name follows the parameter names' prefix, e.g. "blocks.3.attn" or "layer2.0".
	Name string    `json:"name"`
	Kind LayerKind `json:"kind"`
	// Tokens is true when the output is a token sequence (B, N, C) rather
	// than a feature map (B, C, H, W).
	Tokens bool `json:"tokens,omitempty"`
	// CLS is true when token 0 of a token output is a class token, which
	// spatial analyses drop.
	CLS bool `json:"cls,omitempty"`
}

// ParamKind classifies parameters so that landscape directions and weight
// decay can treat them as the paper does.
type ParamKind int

const (
	// ParamWeight is the weight of a convolution or linear layer (>= 2-D).
	ParamWeight ParamKind = iota
	// ParamBias is a bias vector.
	ParamBias
	// ParamNormScale is the scale (gamma) of a batch or layer norm.
	ParamNormScale
	// ParamNormShift is the shift (beta) of a batch or layer norm.
	ParamNormShift
	// ParamPosEmbed is a learned position embedding.
	ParamPosEmbed
	// ParamToken is a learned token, such as ViT's class token.
	ParamToken
	// ParamRelPos is a relative-position bias table.
	ParamRelPos
	// ParamBuffer is a non-trainable buffer: batch-norm running statistics.
	ParamBuffer
)

var paramKindNames = [...]string{"weight", "bias", "norm_scale", "norm_shift", "pos_embed", "token", "rel_pos", "buffer"}

// String returns the kind's short name.
func (k ParamKind) String() string {
	if k < 0 || int(k) >= len(paramKindNames) {
		return fmt.Sprintf("ParamKind(%d)", int(k))
	}
	return paramKindNames[k]
}

// MarshalText implements encoding.TextMarshaler.
func (k ParamKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

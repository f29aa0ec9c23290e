package findings

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // criteria.json
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
)

//go:embed criteria.json
var criteriaJSON []byte

// Criteria are the fixed rules of every verdict, read from the versioned
// file criteria.json compiled into the package. Reports print its version
// and SHA-256 so that a verdict names the rules it was decided by.
type Criteria struct {
	Version int    `json:"version"`
	Date    string `json:"date"`
	About   string `json:"about"`
	// Bootstrap sets the hierarchical bootstrap of every interval.
	Bootstrap struct {
		// Resamples is the number of bootstrap resamples.
		Resamples int `json:"resamples"`
		// Confidence is the two-sided level of the percentile intervals.
		Confidence float64 `json:"confidence"`
		// Seed seeds the resampling (with each claim's id).
		Seed uint64 `json:"seed"`
	} `json:"bootstrap"`
	// MinSeeds is the fewest training seeds a pooled verdict is decided
	// on; with fewer, pooled verdicts are inconclusive and only the
	// per-seed table decides.
	MinSeeds int `json:"min_seeds"`
	// SeedsMustAgree requires, for "holds" (and "does not hold"), that
	// every seed's own estimate lies on the side the pooled interval
	// does.
	SeedsMustAgree bool `json:"seeds_must_agree"`
	// MinMinibatches is the fewest usable minibatches per seed and model
	// of a spectrum; MinImages the fewest images per seed and model of
	// the Fourier, variance and noise analyses.
	MinMinibatches int `json:"min_minibatches"`
	MinImages      int `json:"min_images"`
	// NoiseBands delimit the low (centre <= LowMax) and high (centre >=
	// HighMin) frequency bands of the noise claims, in units of π.
	NoiseBands struct {
		LowMax  float64 `json:"low_max"`
		HighMin float64 `json:"high_min"`
	} `json:"noise_bands"`
	Claims []Claim `json:"claims"`

	sha string
}

// Claim is one claim or sub-claim of the paper with the rule that decides
// it.
type Claim struct {
	// ID names the claim in tables and resampling seeds.
	ID string `json:"id"`
	// Source is where the paper shows it.
	Source string `json:"source"`
	// Text is the claim as the paper states it.
	Text string `json:"claim"`
	// Kind is the measurement: "spectrum" (a − b of a spectrum summary),
	// "layer_change" (mean change over the layers of given kinds against
	// the layer before each), "depth_slope" (least-squares slope of a
	// quantity over normalised depth) or "noise_shape" (mean accuracy drop
	// over low bands minus that over high bands).
	Kind string `json:"kind"`
	// Stat is the spectrum summary: "nep" or "ape". A and B are the model
	// families compared, a − b.
	Stat string `json:"stat,omitempty"`
	A    string `json:"a,omitempty"`
	B    string `json:"b,omitempty"`
	// Family is the model family of the other kinds.
	Family string `json:"family,omitempty"`
	// Quantity is "highfreq" (the relative log amplitude at the highest
	// frequency) or "log_variance" (the log of the feature-map variance).
	Quantity string `json:"quantity,omitempty"`
	// Layers are the layer kinds of a layer_change claim.
	Layers []string `json:"layers,omitempty"`
	// Variant is the noise formula: "paper" or "equal-energy".
	Variant string `json:"variant,omitempty"`
	// Expect is the claimed side of the statistic: "greater" (than 0),
	// "less" (than 0) or "not_greater" (than Margin).
	Expect string  `json:"expect"`
	Margin float64 `json:"margin,omitempty"`
	// Phase is the training phase of the checkpoints the claim is decided
	// on ("warmup": end of warm-up; "final": end of training); Data the
	// spectrum's data ("augmented" or "clean").
	Phase string `json:"phase"`
	Data  string `json:"data,omitempty"`
	// OtherProtocols repeat the claim at other phases and data, as
	// secondary analyses.
	OtherProtocols []Protocol `json:"other_protocols,omitempty"`
	// Secondary, when set, marks the claim as a secondary analysis and
	// says why it is one.
	Secondary string `json:"secondary,omitempty"`
}

// Protocol is a phase and a kind of data.
type Protocol struct {
	Phase string `json:"phase"`
	Data  string `json:"data,omitempty"`
}

// LoadCriteria returns the criteria compiled into the package, checked.
func LoadCriteria() (*Criteria, error) { return ParseCriteria(criteriaJSON) }

// CriteriaFile returns the bytes of criteria.json as compiled in.
func CriteriaFile() []byte { return bytes.Clone(criteriaJSON) }

// ParseCriteria reads and checks criteria in the format of criteria.json.
func ParseCriteria(b []byte) (*Criteria, error) {
	var c Criteria
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("findings: criteria: %w", err)
	}
	sum := sha256.Sum256(b)
	c.sha = hex.EncodeToString(sum[:])
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("findings: criteria: %w", err)
	}
	return &c, nil
}

// SHA256 returns the hex SHA-256 of the criteria file the criteria were
// read from.
func (c *Criteria) SHA256() string { return c.sha }

func (c *Criteria) validate() error {
	b := c.Bootstrap
	switch {
	case c.Version < 1:
		return fmt.Errorf("version %d", c.Version)
	case b.Resamples < 100:
		return fmt.Errorf("%d bootstrap resamples, want at least 100", b.Resamples)
	case !(b.Confidence > 0.5 && b.Confidence < 1):
		return fmt.Errorf("confidence %v outside (0.5, 1)", b.Confidence)
	case c.MinSeeds < 1 || c.MinMinibatches < 1 || c.MinImages < 1:
		return fmt.Errorf("minimum seeds %d, minibatches %d, images %d: want each at least 1", c.MinSeeds, c.MinMinibatches, c.MinImages)
	case !(c.NoiseBands.LowMax > 0 && c.NoiseBands.LowMax < c.NoiseBands.HighMin && c.NoiseBands.HighMin < 1):
		return fmt.Errorf("noise bands: low <= %v, high >= %v", c.NoiseBands.LowMax, c.NoiseBands.HighMin)
	case len(c.Claims) == 0:
		return fmt.Errorf("no claims")
	}
	seen := map[string]bool{}
	for _, cl := range c.Claims {
		if cl.ID == "" || seen[cl.ID] {
			return fmt.Errorf("claim id %q is empty or repeated", cl.ID)
		}
		seen[cl.ID] = true
		if err := cl.validate(); err != nil {
			return fmt.Errorf("claim %s: %w", cl.ID, err)
		}
	}
	return nil
}

var knownFamilies = map[string]bool{"vit": true, "resnet": true, "alternet": true}

func (cl Claim) validate() error {
	if cl.Text == "" || cl.Source == "" {
		return fmt.Errorf("no text or source")
	}
	switch cl.Expect {
	case "greater", "less":
	case "not_greater":
		if math.IsNaN(cl.Margin) || math.IsInf(cl.Margin, 0) {
			return fmt.Errorf("margin %v", cl.Margin)
		}
	default:
		return fmt.Errorf("expect %q: want greater, less or not_greater", cl.Expect)
	}
	protos := append([]Protocol{{cl.Phase, cl.Data}}, cl.OtherProtocols...)
	for _, p := range protos {
		if p.Phase == "" {
			return fmt.Errorf("no phase")
		}
	}
	switch cl.Kind {
	case "spectrum":
		if cl.Stat != "nep" && cl.Stat != "ape" {
			return fmt.Errorf("stat %q: want nep or ape", cl.Stat)
		}
		if !knownFamilies[cl.A] || !knownFamilies[cl.B] || cl.A == cl.B {
			return fmt.Errorf("families %q and %q", cl.A, cl.B)
		}
		for _, p := range protos {
			if p.Data != "augmented" && p.Data != "clean" {
				return fmt.Errorf("data %q: want augmented or clean", p.Data)
			}
		}
	case "layer_change", "depth_slope":
		if !knownFamilies[cl.Family] {
			return fmt.Errorf("family %q", cl.Family)
		}
		if cl.Quantity != "highfreq" && cl.Quantity != "log_variance" {
			return fmt.Errorf("quantity %q: want highfreq or log_variance", cl.Quantity)
		}
		if cl.Kind == "layer_change" && len(cl.Layers) == 0 {
			return fmt.Errorf("no layer kinds")
		}
	case "noise_shape":
		if !knownFamilies[cl.Family] {
			return fmt.Errorf("family %q", cl.Family)
		}
		if cl.Variant != "paper" && cl.Variant != "equal-energy" {
			return fmt.Errorf("noise variant %q: want paper or equal-energy", cl.Variant)
		}
	default:
		return fmt.Errorf("kind %q", cl.Kind)
	}
	return nil
}

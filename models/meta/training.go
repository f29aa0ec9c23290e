package meta

import (
	"encoding/json"

	"github.com/vitprobe/vitprobe/data"
)

// DefaultWeightDecay is the weight decay of a checkpoint that records
// none: no L2 term is added that the checkpoint does not state. (cmd/train's
// recipes train with 0.05 and record it.)
const DefaultWeightDecay = 0.0

// Training is what a checkpoint records of the training that made it, as
// far as the analyses use it. The zero value is a checkpoint that records
// nothing.
type Training struct {
	// Recorded reports that the checkpoint holds a training configuration.
	Recorded bool
	// Dataset, Fraction and Seed give the training subset: a stratified
	// Fraction of Dataset's training split, drawn with Seed.
	Dataset  string
	Fraction float64
	Seed     uint64
	// WeightDecay is the training weight decay; when the checkpoint
	// records none, DefaultWeightDecay and WeightDecayRecorded is false.
	WeightDecay         float64
	WeightDecayRecorded bool
	// Augment is the training augmentation, nil when not recorded.
	Augment *data.Augment
}

// trainState is the part of cmd/train's state (Checkpoint.Train) that
// Training reads: its configuration.
type trainState struct {
	Config *struct {
		Dataset     string        `json:"dataset"`
		Fraction    float64       `json:"fraction"`
		Seed        uint64        `json:"seed"`
		WeightDecay *float64      `json:"weight_decay"`
		Augment     *data.Augment `json:"augment"`
	} `json:"config"`
}

// Training returns what ck records of its training. A trainer state that
// is missing or not cmd/train's records nothing.
func (ck Checkpoint) Training() Training {
	t := Training{WeightDecay: DefaultWeightDecay}
	var st trainState
	if len(ck.Train) == 0 || json.Unmarshal(ck.Train, &st) != nil || st.Config == nil {
		return t
	}
	c := st.Config
	t.Recorded = true
	t.Dataset, t.Fraction, t.Seed, t.Augment = c.Dataset, c.Fraction, c.Seed, c.Augment
	if c.WeightDecay != nil {
		t.WeightDecay, t.WeightDecayRecorded = *c.WeightDecay, true
	}
	return t
}

// DatasetName is the data set ck was trained on: the sidecar's, else the
// training configuration's, else "".
func (ck Checkpoint) DatasetName() string {
	if ck.Dataset != "" {
		return ck.Dataset
	}
	return ck.Training().Dataset
}

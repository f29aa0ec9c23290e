package results

// EpochMetrics is one epoch's record of a training run: metrics.json is a
// list of them, and cmd/train's checkpoints carry the ones so far.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"` // counted from 1
	Step      int64   `json:"step"`
	LR        float64 `json:"lr"` // at the epoch's last step
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	TestLoss  float64 `json:"test_loss"`
	TestAcc   float64 `json:"test_acc"`
	Seconds   float64 `json:"seconds"` // wall time of the epoch's training steps
	ImgPerSec float64 `json:"img_per_s"`
	// RSSMiB is the process's resident memory after the epoch's
	// evaluation, for spotting leaks of libtorch memory.
	RSSMiB float64 `json:"rss_mib"`
	// Trace is the training loss and accuracy within the epoch.
	Trace []TracePoint `json:"trace,omitempty"`
}

// TracePoint is the training loss and accuracy over the steps since the
// previous point: TracePoints per epoch points, so that a run of one
// epoch still has a curve.
type TracePoint struct {
	Step  int64   `json:"step"`
	Epoch float64 `json:"epoch"` // epochs done at Step, fractional
	Loss  float64 `json:"loss"`
	Acc   float64 `json:"acc"`
	LR    float64 `json:"lr"`
}

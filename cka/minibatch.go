package cka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Batch is one minibatch's HSIC of every pair of an Accumulator's
// representations: the upper triangle (i ≤ j) of the symmetric matrix,
// row by row. It is what a job journals to resume.
type Batch struct {
	// N is the number of examples in the minibatch.
	N int `json:"n"`
	// HSIC holds R(R+1)/2 values for R representations.
	HSIC []float64 `json:"hsic"`
}

// Accumulator accumulates the minibatch CKA of every pair of R
// representations of the same examples: add one minibatch at a time, in
// any order, then read the Result. It is not safe for concurrent use.
type Accumulator struct {
	est     Estimator
	reps    int
	batches []Batch
	sum     []float64
}

// NewAccumulator returns an empty accumulator of reps representations
// with est's HSIC.
func NewAccumulator(reps int, est Estimator) *Accumulator {
	if reps < 1 {
		panic("cka: NewAccumulator: want at least one representation")
	}
	return &Accumulator{est: est, reps: reps, sum: make([]float64, reps*(reps+1)/2)}
}

// Reps returns the number of representations.
func (a *Accumulator) Reps() int { return a.reps }

// Estimator returns the HSIC estimator.
func (a *Accumulator) Estimator() Estimator { return a.est }

// Batches returns the number of minibatches added.
func (a *Accumulator) Batches() int { return len(a.batches) }

// Add adds one minibatch: xs[i] is representation i of the same N
// examples, in the same order (the feature dimensions may differ). It
// returns the batch's HSIC values, which AddBatch accepts later.
func (a *Accumulator) Add(xs []Features) (Batch, error) {
	if len(xs) != a.reps {
		return Batch{}, fmt.Errorf("cka: %d representations in a minibatch, want %d", len(xs), a.reps)
	}
	grams := make([][]float64, len(xs))
	for i, x := range xs {
		if x.N != xs[0].N {
			return Batch{}, fmt.Errorf("cka: representation %d has %d examples, representation 0 has %d", i, x.N, xs[0].N)
		}
		if x.N < MinBatch {
			return Batch{}, fmt.Errorf("cka: minibatch of %d examples: %w", x.N, ErrSmallBatch)
		}
		g, err := Gram(nil, x)
		if err != nil {
			return Batch{}, fmt.Errorf("cka: representation %d: %w", i, err)
		}
		grams[i] = g
	}
	return a.AddGrams(grams, xs[0].N)
}

// AddGrams adds one minibatch given as the n×n Gram matrices (row-major)
// of the R representations, for callers that form them elsewhere.
func (a *Accumulator) AddGrams(grams [][]float64, n int) (Batch, error) {
	b, err := BatchOf(grams, n, a.est)
	if err != nil {
		return Batch{}, err
	}
	if err := a.AddBatch(b); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// BatchOf returns the HSIC of every pair of the n×n Gram matrices grams
// with est: the work of AddGrams without an accumulator.
func BatchOf(grams [][]float64, n int, est Estimator) (Batch, error) {
	r := len(grams)
	if r == 0 {
		return Batch{}, fmt.Errorf("cka: no representation")
	}
	nn := n * n
	m := make([]float64, r*nn)
	var scale float64
	for i, g := range grams {
		// centered writes into the slice of m it is given (its capacity is
		// exactly n²).
		_, s, err := centered(m[i*nn:(i+1)*nn:(i+1)*nn], g, n, est)
		if err != nil {
			return Batch{}, fmt.Errorf("cka: representation %d: %w", i, err)
		}
		scale = s
	}
	// Every pair's inner product at once: M Mᵀ, M the R×n² matrix of the
	// centred Gram matrices.
	out := make([]float64, r*r)
	blas64.Syrk(blas.NoTrans, scale, blas64.General{Rows: r, Cols: nn, Data: m, Stride: nn}, 0,
		blas64.Symmetric{Uplo: blas.Upper, N: r, Data: out, Stride: r})
	b := Batch{N: n, HSIC: make([]float64, 0, r*(r+1)/2)}
	for i := range r {
		b.HSIC = append(b.HSIC, out[i*r+i:i*r+r]...)
	}
	return b, nil
}

// AddBatch adds a minibatch's HSIC values (from Add, AddGrams or BatchOf,
// saved earlier).
func (a *Accumulator) AddBatch(b Batch) error {
	if len(b.HSIC) != len(a.sum) {
		return fmt.Errorf("cka: a minibatch of %d HSIC values, want %d for %d representations", len(b.HSIC), len(a.sum), a.reps)
	}
	if b.N < MinBatch {
		return fmt.Errorf("cka: minibatch of %d examples: %w", b.N, ErrSmallBatch)
	}
	for _, v := range b.HSIC {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("cka: non-finite HSIC value %v in a minibatch", v)
		}
	}
	b.HSIC = append([]float64(nil), b.HSIC...)
	for k, v := range b.HSIC {
		a.sum[k] += v
	}
	a.batches = append(a.batches, b)
	return nil
}

// tri returns the index of (i, j), i ≤ j, in an upper triangle of r rows.
func tri(i, j, r int) int {
	if i > j {
		i, j = j, i
	}
	return i*r - i*(i-1)/2 + (j - i)
}

// Result is the minibatch CKA of every pair of representations.
type Result struct {
	// Estimator is the HSIC estimator.
	Estimator Estimator `json:"estimator"`
	// Batches and Examples count the minibatches and their examples.
	Batches  int `json:"batches"`
	Examples int `json:"examples"`
	// CKA is the R×R matrix of CKA values: symmetric, 1 on the diagonal
	// (except for undefined representations), in [−1, 1] with the
	// unbiased estimator.
	CKA Grid `json:"cka"`
	// StdErr holds the jackknife standard error of each value over the
	// minibatches (each left out in turn); NaN with a single minibatch.
	StdErr Grid `json:"stderr"`
	// Undefined lists the representations that were constant over every
	// minibatch: their rows and columns are NaN.
	Undefined []int `json:"undefined,omitempty"`
}

// Result returns the CKA matrix of the minibatches added so far. It is an
// error before the first minibatch.
func (a *Accumulator) Result() (*Result, error) {
	k := len(a.batches)
	if k == 0 {
		return nil, fmt.Errorf("cka: no minibatch added")
	}
	r := a.reps
	res := &Result{Estimator: a.est, Batches: k, CKA: NewGrid(r, r), StdErr: NewGrid(r, r)}
	for _, b := range a.batches {
		res.Examples += b.N
	}
	for i := range r {
		if !(a.sum[tri(i, i, r)] > 0) {
			res.Undefined = append(res.Undefined, i)
		}
	}
	ratio := func(sum []float64, i, j int) float64 {
		xx, yy := sum[tri(i, i, r)], sum[tri(j, j, r)]
		if !(xx > 0) || !(yy > 0) {
			return math.NaN()
		}
		if i == j {
			return 1
		}
		return sum[tri(i, j, r)] / math.Sqrt(xx*yy)
	}
	loo := make([]float64, len(a.sum))
	theta := make([]float64, k)
	for i := range r {
		for j := i; j < r; j++ {
			v := ratio(a.sum, i, j)
			res.CKA[i][j], res.CKA[j][i] = v, v
			se := math.NaN()
			if k > 1 && !math.IsNaN(v) {
				var mean float64
				ok := true
				for b, bt := range a.batches {
					for _, q := range []int{tri(i, i, r), tri(j, j, r), tri(i, j, r)} {
						loo[q] = a.sum[q] - bt.HSIC[q]
					}
					theta[b] = ratio(loo, i, j)
					if math.IsNaN(theta[b]) {
						ok = false
						break
					}
					mean += theta[b]
				}
				if ok {
					mean /= float64(k)
					var ss float64
					for _, t := range theta {
						ss += (t - mean) * (t - mean)
					}
					se = math.Sqrt(float64(k-1) / float64(k) * ss)
				}
			}
			res.StdErr[i][j], res.StdErr[j][i] = se, se
		}
	}
	return res, nil
}

// Sub returns the rows × cols block of a result's CKA values and standard
// errors (for example one model's layers against another's).
func (r *Result) Sub(rows, cols []int) (cka, stderr Grid) {
	cka, stderr = NewGrid(len(rows), len(cols)), NewGrid(len(rows), len(cols))
	for a, i := range rows {
		for b, j := range cols {
			cka[a][b], stderr[a][b] = r.CKA[i][j], r.StdErr[i][j]
		}
	}
	return cka, stderr
}

// Grid is a matrix of values in which NaN means "undefined"; its JSON
// form writes NaN as null (JSON has no NaN) and reads null back as NaN.
type Grid [][]float64

// NewGrid returns a rows×cols grid of zeros.
func NewGrid(rows, cols int) Grid {
	g := make(Grid, rows)
	for i := range g {
		g[i] = make([]float64, cols)
	}
	return g
}

// MarshalJSON implements json.Marshaler.
func (g Grid) MarshalJSON() ([]byte, error) {
	if g == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, row := range g {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			switch {
			case math.IsNaN(v):
				b.WriteString("null")
			case math.IsInf(v, 0):
				return nil, fmt.Errorf("cka: infinite value in a grid")
			default:
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (g *Grid) UnmarshalJSON(b []byte) error {
	var rows [][]*float64
	if err := json.Unmarshal(b, &rows); err != nil {
		return err
	}
	if rows == nil {
		*g = nil
		return nil
	}
	out := make(Grid, len(rows))
	for i, row := range rows {
		out[i] = make([]float64, len(row))
		for j, v := range row {
			if v == nil {
				out[i][j] = math.NaN()
			} else {
				out[i][j] = *v
			}
		}
	}
	*g = out
	return nil
}

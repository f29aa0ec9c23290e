package cka

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// gauss returns an n×d matrix of standard normal values.
func gauss(r *rand.Rand, n, d int) Features {
	f := Features{N: n, D: d, Data: make([]float64, n*d)}
	for i := range f.Data {
		f.Data[i] = r.NormFloat64()
	}
	return f
}

// matmul returns x (n×d) times a (d×e, row-major).
func matmul(x Features, a []float64, e int) Features {
	out := Features{N: x.N, D: e, Data: make([]float64, x.N*e)}
	for i := range x.N {
		for k := range x.D {
			v := x.Data[i*x.D+k]
			for j := range e {
				out.Data[i*e+j] += v * a[k*e+j]
			}
		}
	}
	return out
}

// orthogonal returns a random d×d orthogonal matrix (Q of a Gaussian
// matrix's QR decomposition).
func orthogonal(r *rand.Rand, d int) []float64 {
	g := mat.NewDense(d, d, gauss(r, d, d).Data)
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return q.RawMatrix().Data
}

// rawGram is X Xᵀ without centring, by definition.
func rawGram(x Features) []float64 {
	k := make([]float64, x.N*x.N)
	for i := range x.N {
		for j := range x.N {
			var s float64
			for c := range x.D {
				s += x.Data[i*x.D+c] * x.Data[j*x.D+c]
			}
			k[i*x.N+j] = s
		}
	}
	return k
}

// songHSIC is the closed form of Song et al. (2012), Eq. 5, written out
// term by term on the Gram matrices with zeroed diagonals.
func songHSIC(k, l []float64, n int) float64 {
	kt := append([]float64(nil), k...)
	lt := append([]float64(nil), l...)
	for i := range n {
		kt[i*n+i], lt[i*n+i] = 0, 0
	}
	var tr, sk, sl, kl1 float64
	rk := make([]float64, n)
	rl := make([]float64, n)
	for i := range n {
		for j := range n {
			tr += kt[i*n+j] * lt[j*n+i]
			sk += kt[i*n+j]
			sl += lt[i*n+j]
			rk[i] += kt[i*n+j]
			rl[i] += lt[i*n+j]
		}
	}
	for i := range n {
		kl1 += rk[i] * rl[i] // 1ᵀ K̃ L̃ 1 = (K̃1)·(L̃1) for symmetric K̃
	}
	fn := float64(n)
	return (tr + sk*sl/((fn-1)*(fn-2)) - 2/(fn-2)*kl1) / (fn * (fn - 3))
}

// uStatHSIC is the unbiased HSIC as the U-statistic it is: the mean over
// every ordered 4-tuple of distinct examples of
// k_ij l_ij + k_ij l_qr − 2 k_ij l_iq (Song et al. 2012, §2.2), the
// definition the closed forms must reproduce.
func uStatHSIC(k, l []float64, n int) float64 {
	var s float64
	var count int
	for i := range n {
		for j := range n {
			for q := range n {
				for r := range n {
					if i == j || i == q || i == r || j == q || j == r || q == r {
						continue
					}
					s += k[i*n+j]*l[i*n+j] + k[i*n+j]*l[q*n+r] - 2*k[i*n+j]*l[i*n+q]
					count++
				}
			}
		}
	}
	return s / float64(count)
}

// biasedHSIC is tr(K H L H)/(n−1)² with explicit matrices.
func biasedHSIC(k, l []float64, n int) float64 {
	h := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			v := -1 / float64(n)
			if i == j {
				v++
			}
			h.Set(i, j, v)
		}
	}
	var khlh, t mat.Dense
	t.Mul(mat.NewDense(n, n, k), h)
	khlh.Mul(&t, mat.NewDense(n, n, l))
	t.Mul(&khlh, h)
	return mat.Trace(&t) / float64((n-1)*(n-1))
}

func TestHSICEstimatorsAgainstDefinitions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{4, 5, 7, 9} {
		x := gauss(r, n, 3)
		y := matmul(x, gauss(r, 3, 2).Data, 2)
		for i := range y.Data {
			y.Data[i] += 0.5 * r.NormFloat64()
		}
		k, l := rawGram(x), rawGram(y)
		want := uStatHSIC(k, l, n)
		got, err := HSIC(k, l, n, Unbiased)
		if err != nil {
			t.Fatal(err)
		}
		// Sums of O(n⁴) terms of size ~10: agreement to 1e-10 relative.
		if d := math.Abs(got - want); d > 1e-10*math.Max(1, math.Abs(want)) {
			t.Errorf("n=%d: unbiased HSIC (U-centred) %v, U-statistic %v", n, got, want)
		}
		if s := songHSIC(k, l, n); math.Abs(s-want) > 1e-10*math.Max(1, math.Abs(want)) {
			t.Errorf("n=%d: Song et al.'s closed form %v, U-statistic %v", n, s, want)
		}
		gb, err := HSIC(k, l, n, Biased)
		if err != nil {
			t.Fatal(err)
		}
		if wb := biasedHSIC(k, l, n); math.Abs(gb-wb) > 1e-10*math.Max(1, math.Abs(wb)) {
			t.Errorf("n=%d: biased HSIC %v, tr(KHLH)/(n-1)² %v", n, gb, wb)
		}
	}
}

// TestCentringChangesNothing: Gram centres the columns; the raw Gram of
// shifted features must give the same HSIC through AddGrams (U-centring
// removes any constant added to every row).
func TestCentringChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x, y := gauss(r, 20, 6), gauss(r, 20, 4)
	for i := range y.Data {
		y.Data[i] += x.Data[(i/4)*6+i%4]
	}
	shift := func(f Features, c float64) Features {
		g := Features{N: f.N, D: f.D, Data: append([]float64(nil), f.Data...)}
		for i := range g.Data {
			g.Data[i] += c * float64(1+i%g.D)
		}
		return g
	}
	for _, est := range []Estimator{Unbiased, Biased} {
		a := NewAccumulator(2, est)
		if _, err := a.Add([]Features{x, y}); err != nil {
			t.Fatal(err)
		}
		b := NewAccumulator(2, est)
		if _, err := b.AddGrams([][]float64{rawGram(shift(x, 50)), rawGram(shift(y, -20))}, 20); err != nil {
			t.Fatal(err)
		}
		ra, _ := a.Result()
		rb, _ := b.Result()
		if d := math.Abs(ra.CKA[0][1] - rb.CKA[0][1]); d > 1e-9 {
			t.Errorf("%v: CKA %v from centred features, %v from the raw Gram matrices of shifted ones", est, ra.CKA[0][1], rb.CKA[0][1])
		}
	}
}

func TestSelfSimilarityIsOne(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, est := range []Estimator{Unbiased, Biased} {
		a := NewAccumulator(3, est)
		for range 5 {
			x := gauss(r, 16, 40)
			for i := range x.Data {
				x.Data[i] = math.Max(0, x.Data[i]+0.3) // ReLU-like, non-zero mean
			}
			cp := Features{N: x.N, D: x.D, Data: append([]float64(nil), x.Data...)}
			if _, err := a.Add([]Features{x, cp, gauss(r, 16, 8)}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := a.Result()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if res.CKA[i][i] != 1 {
				t.Errorf("%v: diagonal %d is %v, want exactly 1", est, i, res.CKA[i][i])
			}
		}
		// A copy in another slot goes through the general ratio.
		if d := math.Abs(res.CKA[0][1] - 1); d > 1e-12 {
			t.Errorf("%v: CKA of a representation and its copy %v, want 1", est, res.CKA[0][1])
		}
		if res.StdErr[0][1] > 1e-12 {
			t.Errorf("%v: standard error of CKA(X, X) %v, want 0", est, res.StdErr[0][1])
		}
	}
}

func TestInvariances(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, d = 64, 12
	x := gauss(r, n, d)
	w := matmul(x, gauss(r, d, 5).Data, 5) // a related representation
	for i := range w.Data {
		w.Data[i] = math.Tanh(w.Data[i]) + 0.3*r.NormFloat64()
	}
	rot := matmul(x, orthogonal(r, d), d)
	scaled := Features{N: n, D: d, Data: make([]float64, n*d)}
	for i, v := range x.Data {
		scaled.Data[i] = 3.7 * v
	}
	// An invertible but not orthogonal map: CKA is not invariant to it,
	// which shows the test can tell.
	stretch := make([]float64, d*d)
	for i := range d {
		stretch[i*d+i] = float64(1 + 4*i)
	}
	skewed := matmul(x, stretch, d)
	for _, est := range []Estimator{Unbiased, Biased} {
		base, err := CKA(x, w, est)
		if err != nil {
			t.Fatal(err)
		}
		for name, y := range map[string]Features{"rotated": rot, "scaled": scaled} {
			self, err := CKA(x, y, est)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(self-1) > 1e-10 {
				t.Errorf("%v: CKA(X, %s X) = %v, want 1", est, name, self)
			}
			other, err := CKA(y, w, est)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(other-base) > 1e-10 {
				t.Errorf("%v: CKA(%s X, W) = %v, CKA(X, W) = %v: want equal", est, name, other, base)
			}
		}
		sk, err := CKA(x, skewed, est)
		if err != nil {
			t.Fatal(err)
		}
		if sk > 0.99 {
			t.Errorf("%v: CKA(X, XA) = %v for a non-orthogonal A: want clearly below 1", est, sk)
		}
	}
}

// TestIndependentRepresentations: unrelated representations should have
// CKA near 0. The unbiased minibatch estimate gets there at 32 examples
// per batch; the biased one stays inflated whatever the number of
// batches.
func TestIndependentRepresentations(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const n, batches = 32, 100
	for _, d := range []int{16, 256} {
		un, bi := NewAccumulator(2, Unbiased), NewAccumulator(2, Biased)
		for range batches {
			xs := []Features{gauss(r, n, d), gauss(r, n, d)}
			if _, err := un.Add(xs); err != nil {
				t.Fatal(err)
			}
			if _, err := bi.Add(xs); err != nil {
				t.Fatal(err)
			}
		}
		ru, _ := un.Result()
		rb, _ := bi.Result()
		u, b := ru.CKA[0][1], rb.CKA[0][1]
		t.Logf("independent Gaussian representations of %d features, %d minibatches of %d: unbiased minibatch CKA %.4f (jackknife standard error %.4f), biased %.4f",
			d, batches, n, u, ru.StdErr[0][1], b)
		if math.Abs(u) > 0.02 {
			t.Errorf("d=%d: unbiased minibatch CKA of independent representations %v: want within 0.02 of 0", d, u)
		}
		if b < 0.1 {
			t.Errorf("d=%d: biased minibatch CKA of independent representations %v: expected the known inflation (> 0.1)", d, b)
		}
		// The standard error should cover 0: the estimate is within 3 of them.
		if math.Abs(u) > 3*ru.StdErr[0][1] {
			t.Errorf("d=%d: unbiased estimate %v is %.1f standard errors from 0", d, u, math.Abs(u)/ru.StdErr[0][1])
		}
	}
}

// TestBatchSizes: the minibatch estimate over 16 batches of 32 and the
// estimate from one batch of 512 estimate the same population CKA. Over
// 40 draws, their mean difference is within 3 standard errors of 0, and
// the jackknife standard error of the 16×32 estimate matches its spread
// across draws.
func TestBatchSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const draws = 40
	a := gauss(r, 20, 16).Data
	var diffs, mb, jk []float64
	for range draws {
		x := gauss(r, 512, 20)
		y := matmul(x, a, 16)
		for i := range y.Data {
			y.Data[i] = math.Max(0, y.Data[i]) + 2*r.NormFloat64()
		}
		one, err := CKA(x, y, Unbiased)
		if err != nil {
			t.Fatal(err)
		}
		acc := NewAccumulator(2, Unbiased)
		for b := range 16 {
			xs := Features{N: 32, D: 20, Data: x.Data[b*32*20 : (b+1)*32*20]}
			ys := Features{N: 32, D: 16, Data: y.Data[b*32*16 : (b+1)*32*16]}
			if _, err := acc.Add([]Features{xs, ys}); err != nil {
				t.Fatal(err)
			}
		}
		res, _ := acc.Result()
		diffs = append(diffs, res.CKA[0][1]-one)
		mb = append(mb, res.CKA[0][1])
		jk = append(jk, res.StdErr[0][1])
	}
	mean, sd := meanSD(diffs)
	mbMean, mbSD := meanSD(mb)
	jkMean, _ := meanSD(jk)
	t.Logf("CKA 16×32 %.4f ± %.4f (spread over draws), jackknife standard error %.4f on average; 16×32 − 1×512: mean %.4f, sd %.4f",
		mbMean, mbSD, jkMean, mean, sd)
	if math.Abs(mean) > 3*sd/math.Sqrt(draws) {
		t.Errorf("16 batches of 32 and one of 512 differ by %.4f on average (standard error %.4f)", mean, sd/math.Sqrt(draws))
	}
	if mbMean < 0.2 {
		t.Errorf("the representations should be related (CKA %.3f)", mbMean)
	}
	// The jackknife is a standard-error estimate from 16 values: within a
	// factor 1.6 of the spread it estimates.
	if jkMean < mbSD/1.6 || jkMean > mbSD*1.6 {
		t.Errorf("jackknife standard error %.4f, spread of the estimate over draws %.4f", jkMean, mbSD)
	}
}

func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

func TestMatrixSymmetricAndBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	a := NewAccumulator(5, Unbiased)
	for range 6 {
		base := gauss(r, 8, 10)
		xs := []Features{base}
		for k := 1; k < 5; k++ {
			y := gauss(r, 8, 3+k)
			for i := range y.Data {
				y.Data[i] += float64(k%3) * base.Data[(i/y.D)*10+i%y.D]
			}
			xs = append(xs, y)
		}
		if _, err := a.Add(xs); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.Result()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		for j := range 5 {
			if res.CKA[i][j] != res.CKA[j][i] || res.StdErr[i][j] != res.StdErr[j][i] {
				t.Errorf("(%d,%d): %v / %v not symmetric", i, j, res.CKA[i][j], res.CKA[j][i])
			}
			if v := res.CKA[i][j]; math.IsNaN(v) || v < -1-1e-12 || v > 1+1e-12 {
				t.Errorf("(%d,%d): CKA %v outside [-1, 1]", i, j, v)
			}
		}
	}
}

func TestDegenerateInput(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{1, 2, 3} {
		a := NewAccumulator(2, Unbiased)
		_, err := a.Add([]Features{gauss(r, n, 4), gauss(r, n, 4)})
		if !errors.Is(err, ErrSmallBatch) {
			t.Errorf("n=%d: error %v, want ErrSmallBatch", n, err)
		}
		if _, err := HSIC(make([]float64, n*n), make([]float64, n*n), n, Unbiased); !errors.Is(err, ErrSmallBatch) {
			t.Errorf("n=%d: HSIC error %v, want ErrSmallBatch", n, err)
		}
	}
	// n = 4, the smallest batch, on constant and on random features.
	const n = 4
	constant := Features{N: n, D: 3, Data: make([]float64, n*3)}
	for i := range constant.Data {
		constant.Data[i] = 0.1 * float64(1+i%3) // every example the same
	}
	x := gauss(r, n, 5)
	// Zero-variance columns inside an otherwise varying representation.
	wide := Features{N: n, D: 8, Data: make([]float64, n*8)}
	for i := range n {
		copy(wide.Data[i*8:], x.Data[i*5:(i+1)*5])
		wide.Data[i*8+5], wide.Data[i*8+6], wide.Data[i*8+7] = 0.1, -3, 7
	}
	a := NewAccumulator(3, Unbiased)
	for range 3 {
		b, err := a.Add([]Features{x, constant, wide})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b.HSIC {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("HSIC values %v: want finite", b.HSIC)
			}
		}
	}
	res, err := a.Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Undefined) != 1 || res.Undefined[0] != 1 {
		t.Errorf("undefined representations %v, want [1]", res.Undefined)
	}
	if !math.IsNaN(res.CKA[0][1]) || !math.IsNaN(res.CKA[1][1]) {
		t.Errorf("CKA with a constant representation %v, %v: want NaN (undefined)", res.CKA[0][1], res.CKA[1][1])
	}
	if res.CKA[0][2] != 1 && math.Abs(res.CKA[0][2]-1) > 1e-12 {
		t.Errorf("constant columns changed CKA: %v, want 1", res.CKA[0][2])
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("marshal a result with undefined values: %v", err)
	}
	var back Result
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.CKA[0][1]) || back.CKA[0][0] != 1 {
		t.Errorf("JSON round trip: %v", back.CKA)
	}
	if _, err := NewAccumulator(2, Unbiased).Result(); err == nil {
		t.Error("a result without minibatches: want an error")
	}
}

// TestResume: per-batch values saved as JSON and added back give the
// same result, bit for bit, in any order of batches.
func TestResume(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	a := NewAccumulator(3, Unbiased)
	var saved [][]byte
	for range 4 {
		b, err := a.Add([]Features{gauss(r, 10, 4), gauss(r, 10, 6), gauss(r, 10, 2)})
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(b)
		saved = append(saved, js)
	}
	want, _ := a.Result()
	c := NewAccumulator(3, Unbiased)
	for _, js := range saved {
		var b Batch
		if err := json.Unmarshal(js, &b); err != nil {
			t.Fatal(err)
		}
		if err := c.AddBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := c.Result()
	for i := range 3 {
		for j := range 3 {
			if math.Float64bits(got.CKA[i][j]) != math.Float64bits(want.CKA[i][j]) {
				t.Errorf("(%d,%d): %v after resume, %v", i, j, got.CKA[i][j], want.CKA[i][j])
			}
		}
	}
	if err := c.AddBatch(Batch{N: 10, HSIC: []float64{1}}); err == nil {
		t.Error("a batch of the wrong size: want an error")
	}
}

func TestGridJSON(t *testing.T) {
	g := Grid{{1, math.NaN()}, {0.25, -1e-3}}
	js, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != "[[1,null],[0.25,-0.001]]" {
		t.Errorf("JSON %s", js)
	}
	var back Grid
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back[0][0] != 1 || !math.IsNaN(back[0][1]) || back[1][1] != -1e-3 {
		t.Errorf("round trip %v", back)
	}
	if _, err := json.Marshal(Grid{{math.Inf(1)}}); err == nil {
		t.Error("infinite value: want an error")
	}
}

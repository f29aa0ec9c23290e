package fourier

import (
	"fmt"
	"sync"

	gfourier "gonum.org/v1/gonum/dsp/fourier"
)

// Plan computes 2-D discrete Fourier transforms of h×w row-major arrays by
// 1-D transforms of the rows and then of the columns (gonum's
// dsp/fourier, which handles every length: even, odd and prime). A Plan
// owns scratch space: it is not safe for concurrent use. The package-level
// functions FFT2, IFFT2 and FFT2Real take plans from a per-size cache and are
// safe for concurrent use.
//
// The forward transform is unnormalised,
//
//	F[k,l] = Σ_{i<h, j<w} x[i,j] exp(-2πi (k i/h + l j/w)),
//
// and the inverse divides by h·w, as numpy.fft.fft2/ifft2 and torch.fft
// with norm "backward" do.
type Plan struct {
	h, w int

	rowC *gfourier.CmplxFFT // length w
	colC *gfourier.CmplxFFT // length h
	rowR *gfourier.FFT      // length w, real input
	colR *gfourier.FFT      // length h, real input (anti-diagonal sums)

	col   []complex128 // one column, length h
	half  []complex128 // one real row's coefficients, length w/2+1
	rowf  []float64    // one row converted to float64, length w
	spec  []complex128 // half spectrum h×(w/2+1)
	sumsH []float64    // anti-diagonal sums, length h
	full  []complex128 // h×w spectrum, allocated on first use
}

// NewPlan returns a Plan for h×w arrays. It panics if h or w is not
// positive.
func NewPlan(h, w int) *Plan {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("fourier: plan for non-positive size %d×%d", h, w))
	}
	hw := w/2 + 1
	return &Plan{
		h: h, w: w,
		rowC:  gfourier.NewCmplxFFT(w),
		colC:  gfourier.NewCmplxFFT(h),
		rowR:  gfourier.NewFFT(w),
		colR:  gfourier.NewFFT(h),
		col:   make([]complex128, h),
		half:  make([]complex128, hw),
		rowf:  make([]float64, w),
		spec:  make([]complex128, h*hw),
		sumsH: make([]float64, h),
	}
}

// Size returns the plan's array size.
func (p *Plan) Size() (h, w int) { return p.h, p.w }

func (p *Plan) check(what string, n int) {
	if n != p.h*p.w {
		panic(fmt.Sprintf("fourier: %s of length %d for a %d×%d plan", what, n, p.h, p.w))
	}
}

// Forward computes the 2-D DFT of src into dst and returns dst. If dst is
// nil a new slice is allocated. dst may be src (in place); otherwise the two
// must not overlap. Forward panics if len(src) or a non-nil len(dst) is not
// h·w.
func (p *Plan) Forward(dst, src []complex128) []complex128 {
	return p.transform(dst, src, false)
}

// Inverse computes the inverse 2-D DFT of src into dst, normalised by
// 1/(h·w) so that Inverse(Forward(x)) = x, and returns dst. Allocation,
// aliasing and panics are as for Forward.
func (p *Plan) Inverse(dst, src []complex128) []complex128 {
	return p.transform(dst, src, true)
}

func (p *Plan) transform(dst, src []complex128, inverse bool) []complex128 {
	p.check("source", len(src))
	if dst == nil {
		dst = make([]complex128, len(src))
	}
	p.check("destination", len(dst))
	h, w := p.h, p.w
	for r := 0; r < h; r++ {
		d, s := dst[r*w:(r+1)*w], src[r*w:(r+1)*w]
		if inverse {
			p.rowC.Sequence(d, s)
		} else {
			p.rowC.Coefficients(d, s)
		}
	}
	for c := 0; c < w; c++ {
		for r := 0; r < h; r++ {
			p.col[r] = dst[r*w+c]
		}
		if inverse {
			p.colC.Sequence(p.col, p.col)
		} else {
			p.colC.Coefficients(p.col, p.col)
		}
		for r := 0; r < h; r++ {
			dst[r*w+c] = p.col[r]
		}
	}
	if inverse {
		s := complex(1/float64(h*w), 0)
		for i := range dst {
			dst[i] *= s
		}
	}
	return dst
}

// ForwardReal computes the 2-D DFT of the real array src into dst and
// returns dst (allocated if nil). It transforms the rows with a real FFT,
// only the w/2+1 non-redundant columns with a complex FFT, and fills the
// other columns from the Hermitian symmetry F[k,l] = conj F[-k,-l], about
// half the work of Forward. It panics on a length mismatch.
func (p *Plan) ForwardReal(dst []complex128, src []float64) []complex128 {
	p.check("source", len(src))
	if dst == nil {
		dst = make([]complex128, len(src))
	}
	p.check("destination", len(dst))
	halfSpectrum(p, src)
	h, w, hw := p.h, p.w, p.w/2+1
	for k := 0; k < h; k++ {
		copy(dst[k*w:k*w+hw], p.spec[k*hw:(k+1)*hw])
		mk := (h - k) % h
		for l := hw; l < w; l++ {
			v := p.spec[mk*hw+(w-l)]
			dst[k*w+l] = complex(real(v), -imag(v))
		}
	}
	return dst
}

// halfSpectrum leaves in p.spec the columns l = 0..w/2 of the 2-D DFT of the
// real h×w array src (row stride w/2+1).
func halfSpectrum[T Float](p *Plan, src []T) {
	h, w, hw := p.h, p.w, p.w/2+1
	for r := 0; r < h; r++ {
		row := src[r*w : (r+1)*w]
		for j, v := range row {
			p.rowf[j] = float64(v)
		}
		p.rowR.Coefficients(p.spec[r*hw:(r+1)*hw], p.rowf)
	}
	for c := 0; c < hw; c++ {
		for r := 0; r < h; r++ {
			p.col[r] = p.spec[r*hw+c]
		}
		p.colC.Coefficients(p.col, p.col)
		for r := 0; r < h; r++ {
			p.spec[r*hw+c] = p.col[r]
		}
	}
}

// plans caches, per size, a pool of plans: a Plan carries scratch space, so
// concurrent callers each take their own.
var plans sync.Map // [2]int -> *sync.Pool of *Plan

func getPlan(h, w int) *Plan {
	if h <= 0 || w <= 0 {
		panic(fmt.Sprintf("fourier: transform of non-positive size %d×%d", h, w))
	}
	key := [2]int{h, w}
	pool, ok := plans.Load(key)
	if !ok {
		pool, _ = plans.LoadOrStore(key, &sync.Pool{New: func() any { return NewPlan(h, w) }})
	}
	return pool.(*sync.Pool).Get().(*Plan)
}

func putPlan(p *Plan) {
	if pool, ok := plans.Load([2]int{p.h, p.w}); ok {
		pool.(*sync.Pool).Put(p)
	}
}

// FFT2 computes the unnormalised 2-D DFT of the h×w row-major array src into
// dst (allocated if nil) and returns dst, using a cached plan for the size.
// dst may be src; otherwise they must not overlap. It panics if a length is
// not h·w or a size is not positive. It is safe for concurrent use.
func FFT2(dst, src []complex128, h, w int) []complex128 {
	p := getPlan(h, w)
	defer putPlan(p)
	return p.Forward(dst, src)
}

// IFFT2 computes the inverse 2-D DFT of src (normalised by 1/(h·w)) into dst,
// as FFT2 does for the forward transform.
func IFFT2(dst, src []complex128, h, w int) []complex128 {
	p := getPlan(h, w)
	defer putPlan(p)
	return p.Inverse(dst, src)
}

// FFT2Real computes the 2-D DFT of the real h×w row-major array src into dst
// (allocated if nil) and returns dst; see Plan.ForwardReal. It panics if a
// length is not h·w or a size is not positive. It is safe for concurrent
// use.
func FFT2Real(dst []complex128, src []float64, h, w int) []complex128 {
	p := getPlan(h, w)
	defer putPlan(p)
	return p.ForwardReal(dst, src)
}

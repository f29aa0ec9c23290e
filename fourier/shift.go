package fourier

import "fmt"

// FFTShift moves the zero-frequency entry of the h×w row-major spectrum src
// to the centre: entry (i, j) goes to ((i + h/2) mod h, (j + w/2) mod w),
// with integer division, as numpy.fft.fftshift (and the official code's
// torch.roll by int(h/2), int(w/2)) do for even and odd sizes. The zero
// frequency lands at (h/2, w/2). The result is written to dst (allocated if
// nil) and returned; dst may be src. It panics if a length is not h·w.
func FFTShift[T any](dst, src []T, h, w int) []T {
	return roll(dst, src, h, w, h/2, w/2)
}

// IFFTShift undoes FFTShift: entry (i, j) goes to ((i + ⌈h/2⌉) mod h,
// (j + ⌈w/2⌉) mod w). For even sizes it equals FFTShift; for odd sizes it
// differs by one position. dst may be src; it panics on a length mismatch.
func IFFTShift[T any](dst, src []T, h, w int) []T {
	return roll(dst, src, h, w, (h+1)/2, (w+1)/2)
}

func roll[T any](dst, src []T, h, w, dr, dc int) []T {
	if h <= 0 || w <= 0 || len(src) != h*w {
		panic(fmt.Sprintf("fourier: shift of %d values as %d×%d", len(src), h, w))
	}
	if dst == nil {
		dst = make([]T, len(src))
	} else if len(dst) != len(src) {
		panic(fmt.Sprintf("fourier: shift destination of length %d, want %d", len(dst), len(src)))
	}
	if &dst[0] == &src[0] {
		src = append([]T(nil), src...)
	}
	for i := 0; i < h; i++ {
		ri := (i + dr) % h
		for j := 0; j < w; j++ {
			dst[ri*w+(j+dc)%w] = src[i*w+j]
		}
	}
	return dst
}

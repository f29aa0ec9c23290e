// Package fourier implements the Fourier analysis of feature maps of Park &
// Kim, "How Do Vision Transformers Work?" (ICLR 2022), §4 and §5 of
// docs/methods.md, in pure Go over gonum's 1-D FFTs.
//
// # Transforms
//
// FFT2, IFFT2, FFT2Real and Plan compute 2-D DFTs of h×w row-major arrays of
// any size (even, odd, prime) by 1-D transforms of rows then columns. The
// forward transform is unnormalised, F[k,l] = Σ x[i,j] e^{-2πi(ki/h + lj/w)};
// the inverse divides by h·w (numpy's and torch's "backward" norm). Plans are
// cached per size. FFTShift and IFFTShift move the zero frequency to the
// centre, index (h/2, w/2) with integer division, and back.
//
// # Relative log amplitude (docs/methods.md §4)
//
// For feature maps x of shape (B, C, n, n), with F_bc the 2-D DFT of map
// (b, c) over the spatial axes:
//
//	A(k, l)    = 1/(B·C) Σ_{b,c} log(|F_bc(k, l)| + 1e-6)   (MeanLogAmplitude, fftshifted)
//	dLogAmp(k) = A(k, k) − A(0, 0),   k = 0, 1, ..., ⌈n/2⌉ − 1   (RelativeLogAmplitude)
//
// The points are those of the official code (xxxnell/how-do-vits-work,
// fourier_analysis.ipynb), which rolls the log amplitudes by int(n/2) (the
// same as fftshift for even and odd n), takes the matrix diagonal and keeps
// entries n/2 .. n−1 (integer n/2): shifted entry n/2 + k is frequency
// (k, k). So:
//
//   - even n: k = 0 .. n/2 − 1, n/2 points; the last has per-axis angular
//     frequency π − 2π/n. The Nyquist point k = n/2 (frequency π, the
//     top-left corner of the shifted map) is not on this half diagonal;
//     Options.IncludeNyquist appends it. A checkerboard (−1)^(i+j), all of
//     whose amplitude is at (n/2, n/2), is therefore invisible to the
//     official profile (flat 0) and shows only with IncludeNyquist.
//   - odd n: k = 0 .. (n−1)/2, (n+1)/2 points; the last has frequency
//     π − π/n. There is no Nyquist point; IncludeNyquist changes nothing.
//
// Profile.Freq holds the true frequencies 2πk/n in radians; Profile.PlotFreq
// holds the paper's plotting axis, linspace(0, 1, points) in units of π,
// which labels the last point π whatever its true frequency.
//
// The diagonal of a non-square map is not defined (the official code's
// torch.diag would pair row and column indices of different frequencies):
// RelativeLogAmplitude and Spectrum.HalfDiagonal return an error wrapping
// ErrNotSquare. MeanLogAmplitude accepts any H×W.
//
// ViT token maps (B, N, C), with an optional class token at index 0, become
// (B, C, h, w) maps through TokensToMaps (token n ↦ row n / w, column n % w).
//
// # Frequency-band noise (docs/methods.md §5)
//
// BandMask, BandFilter, BandNoise and AddBandNoise build and apply the ring
// mask M_f: x_noisy = x + scale · real(IFFT2(FFT2(δ) · M_f)), δ standard
// Gaussian. Frequencies follow the same convention as the profile: bin
// (k, l) of an h×w map has per-axis angular frequencies (2πk'/h, 2πl'/w)
// with signed k' ∈ (−h/2, h/2]. A band keeps radii in [f − Δ/2, f + Δ/2)
// (closed at π), width Δ = 0.1π by default, where the radius is the
// Chebyshev norm max(|fy|, |fx|) by default (so that point (k, k) of the
// profile and noise at f = 2πk/n mean the same frequency) or the Euclidean
// norm. A band reaching outside (0, π] is an error wrapping ErrBadBand.
package fourier

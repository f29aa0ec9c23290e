// Package reports renders vitprobe's results: gonum/plot figures saved as
// PNG (loss-surface contours, heat maps and 3-D views, Hessian spectra,
// Fourier and variance profiles, noise-robustness curves) and the HTML
// reports that gather them with tables of every plotted number and the
// provenance of each result.
//
// Figures never fail on data a run can legitimately produce: non-finite
// losses become gaps and are counted, negative eigenvalues get a symmetric
// logarithmic axis, empty series are reported as errors before drawing.
package reports

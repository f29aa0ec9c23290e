package fourier

import "gonum.org/v1/plot/plotter"

// A Spectrum feeds gonum/plot's HeatMap and Contour directly.
var _ plotter.GridXYZ = (*Spectrum)(nil)

package hessian

import (
	"fmt"
	"testing"
)

// BenchmarkTop5 compares Lanczos (default tolerance 1e-6 on the residual,
// and the eigenvalue rule at 1e-4 with bound residuals) with power
// iteration at a tolerance that reaches the same 1e-6 accuracy, at 1e-5
// and at PyHessian's defaults, on dense Hessian-like operators. The
// products per run are reported as a metric; with a Hessian the product
// dominates the cost.
func BenchmarkTop5(b *testing.B) {
	for _, n := range []int{500, 2000} {
		op := NewDense(reflected(decaying(n), 4, newRand(51)))
		solvers := []struct {
			name   string
			solver Solver
		}{
			{"lanczos", &LanczosSettings{}},
			{"lanczos-eigenvalue-1e-4", &LanczosSettings{Stop: StopEigenvalue, Tol: 1e-4, BoundResiduals: true}},
			{"power-tol1e-8", &PowerSettings{Tol: 1e-8, MaxIter: 5000}},
			{"power-tol1e-5", &PowerSettings{Tol: 1e-5, MaxIter: 5000}},
			{"power-pyhessian", &PowerSettings{}},
		}
		for _, s := range solvers {
			b.Run(fmt.Sprintf("n=%d/%s", n, s.name), func(b *testing.B) {
				var products int
				seed := uint64(0)
				for b.Loop() {
					e, err := s.solver.TopK(op, 5, seed)
					if err != nil {
						b.Fatal(err)
					}
					products += e.Products
					seed++
				}
				b.ReportMetric(float64(products)/float64(b.N), "products/op")
			})
		}
	}
}

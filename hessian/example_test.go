package hessian_test

import (
	"fmt"
	"log"

	"gonum.org/v1/gonum/mat"

	"github.com/vitprobe/vitprobe/hessian"
)

// The tridiagonal matrix [2 1 0; 1 3 1; 0 1 4] has eigenvalues 3+√3,
// 3 and 3-√3.
func small() hessian.Operator {
	return hessian.NewDense(mat.NewSymDense(3, []float64{
		2, 1, 0,
		1, 3, 1,
		0, 1, 4,
	}))
}

func ExamplePowerIteration() {
	// PyHessian's tolerance 1e-3 would give about 3 digits; ask for more.
	e, err := hessian.PowerIteration(small(), 2, &hessian.PowerSettings{Tol: 1e-12, MaxIter: 1000})
	if err != nil {
		log.Fatal(err)
	}
	for i, v := range e.Values {
		fmt.Printf("λ%d = %.6f (converged %v)\n", i+1, v, e.Converged[i])
	}
	// Output:
	// λ1 = 4.732051 (converged true)
	// λ2 = 3.000000 (converged true)
}

func ExampleLanczos() {
	e, err := hessian.Lanczos(small(), 2, &hessian.LanczosSettings{Which: hessian.LargestAlgebraic})
	if err != nil {
		log.Fatal(err)
	}
	for i, v := range e.Values {
		fmt.Printf("λ%d = %.6f (residual below 1e-9: %v)\n", i+1, v, e.Residuals[i] < 1e-9)
	}
	// Output:
	// λ1 = 4.732051 (residual below 1e-9: true)
	// λ2 = 3.000000 (residual below 1e-9: true)
}

func ExampleSummarize() {
	// Top eigenvalues pooled over minibatches.
	s, err := hessian.Summarize([]float64{-12, 35, 41, -3, 58, 47})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("N %d, NEP %.3f, APE %.2f\n", s.N, s.NEP, s.APE)
	// Output:
	// N 6, NEP 0.333, APE 45.25
}

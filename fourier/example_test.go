package fourier_test

import (
	"fmt"
	"math"

	"github.com/vitprobe/vitprobe/fourier"
)

// The relative log amplitude of one 4×4 map x[i,j] = 1 + cos(π(i+j)/2):
// F(0,0) = 16 and F(1,1) = 8, so dLogAmp(1) = log(8/16) = −log 2. The
// official half diagonal stops at k = 1 (π/2 = π − 2π/4, plotted at 1.0π);
// with IncludeNyquist the point k = 2 (π), where F is 0, is appended:
// log(1e-6) − log(16).
func ExampleRelativeLogAmplitude() {
	m := fourier.Maps[float32]{B: 1, C: 1, H: 4, W: 4, Data: make([]float32, 16)}
	for i := range 4 {
		for j := range 4 {
			m.Data[i*4+j] = float32(1 + math.Cos(math.Pi*float64(i+j)/2))
		}
	}
	for _, nyquist := range []bool{false, true} {
		p, err := fourier.RelativeLogAmplitude(m, &fourier.Options{IncludeNyquist: nyquist})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("IncludeNyquist:", nyquist)
		for i := range p.K {
			fmt.Printf("k=%d  freq=%.2fπ  plotted at %.2fπ  dLogAmp=%.4f\n",
				p.K[i], p.Freq[i]/math.Pi, p.PlotFreq[i], p.DLogAmp[i])
		}
	}
	// Output:
	// IncludeNyquist: false
	// k=0  freq=0.00π  plotted at 0.00π  dLogAmp=0.0000
	// k=1  freq=0.50π  plotted at 1.00π  dLogAmp=-0.6931
	// IncludeNyquist: true
	// k=0  freq=0.00π  plotted at 0.00π  dLogAmp=0.0000
	// k=1  freq=0.50π  plotted at 0.50π  dLogAmp=-0.6931
	// k=2  freq=1.00π  plotted at 1.00π  dLogAmp=-16.5881
}

// Tokens of a ViT with a class token become (B, C, h, w) maps.
func ExampleTokensToMaps() {
	// One sample, 1 + 4 tokens, 1 channel: the class token and a 2×2 grid.
	tok := fourier.Tokens[float32]{B: 1, N: 5, C: 1, Data: []float32{-1, 1, 2, 3, 4}}
	m, err := fourier.TokensToMaps(tok, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.B, m.C, m.H, m.W, m.Data)
	// Output:
	// 1 1 2 2 [1 2 3 4]
}

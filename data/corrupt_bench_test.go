package data

import "testing"

// BenchmarkCorrupted measures making 1,000 corrupted MNIST test images
// (severity 3) on one goroutine, per corruption.
func BenchmarkCorrupted(b *testing.B) {
	_, test := loadMNIST(b)
	idx := test.Indices()[:1000]
	for _, name := range CorruptionNames() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := test.Corrupted(idx, Corruption{name, 3}, 0, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

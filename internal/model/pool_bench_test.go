package model

import "testing"

// BenchmarkPoolRaw measures the forward pooling of one audio-sized sample of the first
// avmnist block (16 channels of 32 x 63, so every row of windows has a ragged end).
func BenchmarkPoolRaw(b *testing.B) {
	const c, h, w = 16, 32, 63
	z := make([]float32, c*h*w)
	for i := range z {
		z[i] = float32(i%7) - 3
	}
	dst := make([]float32, c*(h/2)*(w/2))
	arg := make([]int32, len(dst))
	gamma := make([]float32, c)
	for i := range gamma {
		gamma[i] = 1
	}
	b.SetBytes(int64(4 * len(z)))
	for b.Loop() {
		poolRaw(dst, arg, z, gamma, c, h, w, 2)
	}
}

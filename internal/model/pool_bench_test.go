package model

import "testing"

func BenchmarkNormReluPool(b *testing.B) {
	const c, h, w = 16, 32, 63
	z := make([]float32, c*h*w)
	for i := range z {
		z[i] = float32(i%7) - 3
	}
	dst := make([]float32, c*(h/2)*(w/2))
	arg := make([]int32, len(dst))
	scale, shift, gamma, beta := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
	for i := range scale {
		scale[i], gamma[i] = 1, 1
	}
	b.SetBytes(int64(4 * len(z)))
	for i := 0; i < b.N; i++ {
		normReluPool(dst, arg, z, scale, shift, gamma, beta, c, h, w, 2)
	}
}

package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

func naive(a, b []float64, m, k, n int, ta, tb bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sh := range [][3]int{{3, 5, 4}, {64, 37, 70}, {1, 9, 1}, {17, 1, 33}} {
		m, k, n := sh[0], sh[1], sh[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					a64, b64 := make([]float64, m*k), make([]float64, k*n)
					for i := range a64 {
						a64[i] = rng.NormFloat64()
					}
					for i := range b64 {
						b64[i] = rng.NormFloat64()
					}
					want := naive(a64, b64, m, k, n, ta, tb)
					c64 := make([]float64, m*n)
					a32, b32, c32 := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
					for i, v := range a64 {
						a32[i] = float32(v)
					}
					for i, v := range b64 {
						b32[i] = float32(v)
					}
					if acc {
						for i := range c64 {
							c64[i], c32[i] = 1, 1
							want[i]++
						}
					}
					gemm(c64, a64, b64, m, k, n, ta, tb, acc, &scratch[float64]{})
					gemm(c32, a32, b32, m, k, n, ta, tb, acc, &scratch[float32]{})
					for i := range want {
						if math.Abs(c64[i]-want[i]) > 1e-9 || math.Abs(float64(c32[i])-want[i]) > 1e-3*(1+math.Abs(want[i])) {
							t.Fatalf("%v ta=%v tb=%v acc=%v: c[%d] = %v / %v, want %v", sh, ta, tb, acc, i, c64[i], c32[i], want[i])
						}
					}
				}
			}
		}
	}
}

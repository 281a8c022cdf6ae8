package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func naive(a, b []float32, m, k, n int, ta, tb bool) []float64 {
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
				s += float64(av) * float64(bv)
			}
			c[i*n+j] = s
		}
	}
	return c
}

// TestMul compares the kernel and the portable path with a float64 reference on shapes that
// exercise full tiles, ragged edges, k = 1 and both transposes, with and without accumulation.
func TestMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	shapes := [][3]int{{1, 1, 1}, {6, 4, 16}, {7, 3, 17}, {64, 37, 70}, {5, 1, 33}, {13, 144, 31}, {32, 9, 100}, {7, 600, 18}}
	paths := []bool{false}
	if hasKernel {
		paths = append(paths, true)
	}
	for _, kernel := range paths {
		for _, sh := range shapes {
			m, k, n := sh[0], sh[1], sh[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, acc := range []bool{false, true} {
						for _, workers := range []int{1, 2} {
							a, b := make([]float32, m*k), make([]float32, k*n)
							for i := range a {
								a[i] = float32(rng.NormFloat64())
							}
							for i := range b {
								b[i] = float32(rng.NormFloat64())
							}
							c := make([]float32, m*n)
							want := naive(a, b, m, k, n, ta, tb)
							if acc {
								for i := range c {
									c[i] = float32(i % 3)
									want[i] += float64(i % 3)
								}
							}
							var w Workspace
							if kernel {
								w.kernelMul(c, a, b, m, k, n, ta, tb, acc, workers)
							} else {
								portable(c, a, b, m, k, n, ta, tb, acc)
							}
							for i := range want {
								if math.Abs(float64(c[i])-want[i]) > 1e-4*(1+math.Abs(want[i]))*math.Sqrt(float64(k)) {
									t.Fatalf("kernel=%v %v ta=%v tb=%v acc=%v workers=%d: c[%d] = %v, want %v", kernel, sh, ta, tb, acc, workers, i, c[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestMulSameBitsAtAnyWorkerCount checks that the rows of c split over 1 to 8 goroutines
// (products above the size where the split starts, ragged in every dimension, k spanning
// several passes) give the same bits as one goroutine, whatever GOMAXPROCS, and that the
// result agrees with the float64 reference.
func TestMulSameBitsAtAnyWorkerCount(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	rng := rand.New(rand.NewPCG(2, 2))
	for _, sh := range [][3]int{{133, 600, 70}, {70, 301, 250}, {37, 784, 150}} {
		m, k, n := sh[0], sh[1], sh[2]
		if m*n*k < 1<<22 {
			t.Fatalf("%v is too small to be split", sh)
		}
		a, b := make([]float32, m*k), make([]float32, k*n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		init := make([]float32, m*n)
		for i := range init {
			init[i] = float32(rng.NormFloat64())
		}
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					var want []float32
					for _, procs := range []int{1, 2, 3, 8} {
						runtime.GOMAXPROCS(procs)
						for workers := 1; workers <= 8; workers++ {
							c := append([]float32(nil), init...)
							var w Workspace
							w.Mul(c, a, b, m, k, n, ta, tb, acc, workers)
							if want == nil {
								want = c
								ref := naive(a, b, m, k, n, ta, tb)
								for i := range ref {
									if acc {
										ref[i] += float64(init[i])
									}
									if math.Abs(float64(c[i])-ref[i]) > 1e-4*(1+math.Abs(ref[i]))*math.Sqrt(float64(k)) {
										t.Fatalf("%v ta=%v tb=%v acc=%v: c[%d] = %v, want %v", sh, ta, tb, acc, i, c[i], ref[i])
									}
								}
								continue
							}
							for i := range want {
								if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%v ta=%v tb=%v acc=%v GOMAXPROCS %d, %d workers: c[%d] = %v, one worker gives %v",
										sh, ta, tb, acc, procs, workers, i, c[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestMulEdgeCases(t *testing.T) {
	c := []float32{5, 5}
	Mul(c, nil, nil, 1, 0, 2, false, false, false)
	if c[0] != 0 || c[1] != 0 {
		t.Fatalf("k = 0 without acc: %v", c)
	}
	c = []float32{5, 5}
	Mul(c, nil, nil, 1, 0, 2, false, false, true)
	if c[0] != 5 {
		t.Fatalf("k = 0 with acc: %v", c)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short slice accepted")
		}
	}()
	Mul(make([]float32, 3), make([]float32, 4), make([]float32, 4), 2, 2, 2, false, false, false)
}

// BenchmarkMul reports GFLOP/s on the shapes of the mfeat and avmnist models.
func BenchmarkMul(b *testing.B) {
	for _, s := range [][3]int{{64, 384, 128}, {64, 240, 128}, {32, 144, 496}, {32, 496, 144}, {144, 32, 496}, {16, 9, 2016}, {64, 3840, 64}} {
		m, k, n := s[0], s[1], s[2]
		a, bb, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = 1
		}
		for i := range bb {
			bb[i] = 1
		}
		var w Workspace
		b.Run(fmt.Sprintf("%dx%dx%d", m, k, n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				w.Mul(c, a, bb, m, k, n, false, false, false, 1)
			}
			b.ReportMetric(2*float64(m*k*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkPackB(b *testing.B) {
	const k, n = 144, 496
	src := make([]float32, k*n)
	dst := make([]float32, (n+15)/16*16*k)
	b.Run("notrans", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			packB(dst, src, k, n, 0, k, false)
		}
	})
	dst2 := make([]float32, (k+15)/16*16*256)
	b.Run("trans", func(b *testing.B) { // colsT as in dW = dz cols^T: k=hw, n=kk
		for i := 0; i < b.N; i++ {
			packB(dst2, src, n, k, 0, 256, true)
			packB(dst2, src, n, k, 256, n-256, true)
		}
	})
}

func BenchmarkPackA(b *testing.B) {
	const m, k = 144, 496 // cols of a convolution as the left operand
	src := make([]float32, m*k)
	dst := make([]float32, (m+5)/6*6*256)
	for i := 0; i < b.N; i++ {
		packA(dst, src, m, k, 0, 256, false)
		packA(dst, src, m, k, 256, k-256, false)
	}
}

package model

import (
	"github.com/viterin/vek/vek32"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// gemm computes c = op(a) op(b) (+ c when acc), row-major, with op(a) m x k and op(b) k x n;
// ta/tb say that a is stored k x m / b is stored n x k. float32 products run on vek's AVX2
// kernels (pure Go assembly, with a Go fallback on CPUs without AVX2): transposed operands are
// copied into scratch first, which costs far less than the product. float64 products use
// gonum's BLAS, as the float64 path exists for exactness, not speed.
func gemm[T float](c, a, b []T, m, k, n int, ta, tb, acc bool, s *scratch[T]) {
	switch cc := any(c).(type) {
	case []float32:
		gemm32(cc, any(a).([]float32), any(b).([]float32), m, k, n, ta, tb, acc, any(s).(*scratch[float32]))
	case []float64:
		beta := 0.0
		if acc {
			beta = 1
		}
		tA, lda := blas.NoTrans, k
		if ta {
			tA, lda = blas.Trans, m
		}
		tB, ldb := blas.NoTrans, n
		if tb {
			tB, ldb = blas.Trans, k
		}
		blas64.Implementation().Dgemm(tA, tB, m, n, k, 1, any(a).([]float64), lda, any(b).([]float64), ldb, beta, cc, n)
	}
}

func gemm32(c, a, b []float32, m, k, n int, ta, tb, acc bool, s *scratch[float32]) {
	if ta {
		a = transpose(s.get(0, m*k), a, k, m)
	}
	if tb {
		b = transpose(s.get(1, k*n), b, n, k)
	}
	if !acc {
		vek32.MatMul_Into(c[:m*n], a[:m*k], b[:k*n], k)
		return
	}
	tmp := s.get(2, m*n)
	vek32.MatMul_Into(tmp, a[:m*k], b[:k*n], k)
	vek32.Add_Inplace(c[:m*n], tmp)
}

// transpose writes the transpose of the r x c matrix src into dst (c x r) and returns dst.
func transpose[T float](dst, src []T, r, c int) []T {
	const blk = 32
	for i0 := 0; i0 < r; i0 += blk {
		for j0 := 0; j0 < c; j0 += blk {
			for i := i0; i < min(i0+blk, r); i++ {
				row := src[i*c : (i+1)*c]
				for j := j0; j < min(j0+blk, c); j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
	return dst
}

// scratch holds reusable buffers, indexed by purpose.
type scratch[T float] struct{ bufs [6][]T }

func (s *scratch[T]) get(i, n int) []T {
	if cap(s.bufs[i]) < n {
		s.bufs[i] = make([]T, n)
	}
	return s.bufs[i][:n]
}

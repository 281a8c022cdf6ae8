package model

import (
	"github.com/dmrnet/dmrnet/internal/sgemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// gemm computes c = op(a) op(b) (+ c when acc), row-major, with op(a) m x k and op(b) k x n;
// ta/tb say that a is stored k x m / b is stored n x k. float32 products run on
// internal/sgemm's packed assembly kernels (AVX-512, AVX2 or NEON, chosen at run time);
// float64 products use gonum's BLAS, as the float64 path exists for exactness, not speed. Neither's result depends on the number of goroutines:
// sgemm splits the rows of c, gonum's Dgemm blocks of c, and both sum every element over k
// in a fixed order.
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
	s.ws.Mul(c, a, b, m, k, n, ta, tb, acc, max(s.workers, 1))
}

// scratch holds reusable buffers, indexed by purpose, and the GEMM workspace. workers is how
// many goroutines a product may use (0 or 1: the caller's only); it changes the speed, never
// the result.
type scratch[T float] struct {
	bufs    [6][]T
	ws      sgemm.Workspace
	workers int
}

func (s *scratch[T]) get(i, n int) []T {
	if cap(s.bufs[i]) < n {
		s.bufs[i] = make([]T, n)
	}
	return s.bufs[i][:n]
}

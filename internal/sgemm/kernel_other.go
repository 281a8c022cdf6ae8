//go:build !amd64 && !arm64

package sgemm

// archKernels is empty: this architecture has no assembly micro-kernel (amd64 and arm64 have
// theirs), and products run on the portable Go loop.
var archKernels []microKernel

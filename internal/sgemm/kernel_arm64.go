package sgemm

import "golang.org/x/sys/cpu"

// archKernels are the arm64 micro-kernels: a 6 x 16 NEON (ASIMD) tile with the contract of
// the amd64 kernels (see kernel_amd64.s), summing every element of c with one fused
// multiply-add per p in increasing p, from zero for each pass of depth kc, so it gives the
// same bits as the AVX2 and AVX-512 kernels. ASIMD is mandatory on arm64; the check documents
// the requirement.
var archKernels = []microKernel{
	{name: "neon", mr: 6, nr: 16, fn: kernel6x16, runs: cpu.ARM64.HasASIMD, need: "ASIMD"},
}

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, acc bool)

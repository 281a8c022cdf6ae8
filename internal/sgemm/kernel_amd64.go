package sgemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_avx512.go -tiles 8x32,12x16 -o kernel_avx512_amd64.s

// archKernels are the amd64 micro-kernels, fastest first. x/sys/cpu reports AVX-512 and AVX2
// only when the operating system also saves their registers. The AVX-512 tiles are 8 x 32
// (16 accumulators: the models' m of 16, 32 and 64 fill whole panels), or 12 x 16 for
// products of at most 16 columns. All of them sum every element of c with one FMA per p in
// increasing p, from zero for each pass of depth kc, so they give the same bits.
var archKernels = []microKernel{
	{name: "avx512", mr: 8, nr: 32, fn: kernel8x32, runs: cpu.X86.HasAVX512F, need: "AVX512F",
		narrow: &microKernel{name: "avx512", mr: 12, nr: 16, fn: kernel12x16, runs: cpu.X86.HasAVX512F, need: "AVX512F"}},
	{name: "avx2", mr: 6, nr: 16, fn: kernel6x16, runs: cpu.X86.HasAVX2 && cpu.X86.HasFMA, need: "AVX2 and FMA"},
}

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kernel8x32(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kernel12x16(k int, a, b, c *float32, ldc int, acc bool)

package sgemm

import "golang.org/x/sys/cpu"

// hasKernel reports whether the CPU runs the AVX2/FMA micro-kernel.
var hasKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, acc bool)

package model

import "golang.org/x/sys/cpu"

// hasPoolKernel reports whether the CPU runs the AVX2/FMA pooling kernel.
var hasPoolKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func pool2x2AVX2(d *float32, a *int32, r0, r1 *float32, n int, k *[4]float32, base, w int32)

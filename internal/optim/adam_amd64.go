package optim

import "golang.org/x/sys/cpu"

// hasAdamKernel reports whether the CPU runs the AVX2/FMA float32 Adam kernel.
var hasAdamKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func adamAVX2(w, gr, m, v *float32, n int, k *[9]float32)

package model

import "golang.org/x/sys/cpu"

// hasPoolKernel reports whether the CPU runs the AVX2 kernels (pooling, patch packing);
// hasFMAKernel whether it runs the ones that also need FMA (affineAVX2, momentsAVX2). Every
// kernel is VEX-encoded only and ends in VZEROUPPER: on Intel CPUs one legacy-SSE
// instruction run with dirty upper register halves costs a state transition (about 1 µs
// on the VMs measured), which once made pooling as slow as the GEMM.
var (
	hasPoolKernel = cpu.X86.HasAVX2
	hasFMAKernel  = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// pool2x2MaxAVX2 writes the maxima of n (a multiple of 8) 2x2 windows of the rows r0, r1
// into d and their positions (base + 2j + {0, 1, w, w+1}, the first on ties) into a.
//
//go:noescape
func pool2x2MaxAVX2(d *float32, a *int32, r0, r1 *float32, n int, base, w int32)

// affineAVX2 writes dst[i] = c0 - src[i]*c1, with one rounding (a fused multiply-add), for n
// values, n a multiple of 8.
//
//go:noescape
func affineAVX2(dst, src *float32, n int, c0, c1 float32)

// packRunsAVX2 copies, for each of rows panel rows of nr values from dst, every run of runs
// (nruns of them) from xp at offs[row] + run.src to the row's column run.j, 16 values at a
// time (packPatches' inner loops; see there for the bounds the caller keeps).
//
//go:noescape
func packRunsAVX2(dst, xp *float32, offs *int, rows int, runs *patchRun, nruns, nr int)

// gatherRowsAVX2 fills rows panel rows of nr values (a multiple of 8) from dst: row p, column j
// gets xp[pos[p] + idx[j]] where mask[j] is -1 and 0 where it is 0 (packPatchesT's loop).
//
//go:noescape
func gatherRowsAVX2(dst, xp *float32, idx, mask, pos *int32, rows, nr int)

// momentsAVX2 writes the eight lane sums of z (lane l: z[8i+l]) and of its squares (each
// square added with one rounding) into lanes[:8] and lanes[8:], for n values, n a multiple
// of 8.
//
//go:noescape
func momentsAVX2(z *float32, n int, lanes *[16]float32)

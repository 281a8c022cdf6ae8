#include "textflag.h"

// func pool2x2MaxAVX2(d *float32, a *int32, r0, r1 *float32, n int, base, w int32)
//
// For n windows (a multiple of 8) of two rows r0, r1 (2n values each): write each 2x2
// window's maximum into d and its position into a: base + 2j + {0, 1, w, w+1}, the first in
// row order on ties. The rows are only read.
TEXT ·pool2x2MaxAVX2(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ r0+16(FP), R8
	MOVQ r1+24(FP), R9
	MOVQ n+32(FP), CX
	MOVL base+40(FP), AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11    // base
	MOVL w+44(FP), AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10    // w
	// Y9 = 2j for j = 0..7; Y8 = 16 (the step of 2j per group)
	MOVQ $0x0000000200000000, AX
	VMOVQ AX, X9
	MOVQ $0x0000000600000004, AX
	VMOVQ AX, X0
	VPUNPCKLQDQ X0, X9, X9
	MOVQ $0x0000000A00000008, AX
	VMOVQ AX, X0
	MOVQ $0x0000000E0000000C, AX
	VMOVQ AX, X1
	VPUNPCKLQDQ X1, X0, X0
	VINSERTI128 $1, X0, Y9, Y9
	MOVL $16, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	VPADDD Y11, Y9, Y9       // base + 2j
	SHRQ $3, CX
	JE done

loop:
	VMOVUPS (R8), Y0
	VMOVUPS 32(R8), Y1
	VMOVUPS (R9), Y2
	VMOVUPS 32(R9), Y3
	// de-interleave: a0 = even columns of r0, a1 = odd; b0, b1 of r1
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VSHUFPS $0x88, Y3, Y2, Y6
	VSHUFPS $0xDD, Y3, Y2, Y7
	VPERMPD $0xD8, Y4, Y4 // a0
	VPERMPD $0xD8, Y5, Y5 // a1
	VPERMPD $0xD8, Y6, Y6 // b0
	VPERMPD $0xD8, Y7, Y7 // b1
	// top = a1 > a0 ? a1 : a0, index base + 2j + (a1 > a0)
	VCMPPS $0x0E, Y4, Y5, Y0      // Y0 = a1 > a0 (GT_OS)
	VBLENDVPS Y0, Y5, Y4, Y4      // Y4 = top
	VPSUBD Y0, Y9, Y0             // minus the all-ones mask: + 1 where a1 > a0
	// bot = b1 > b0 ? b1 : b0, index base + w + 2j + (b1 > b0)
	VCMPPS $0x0E, Y6, Y7, Y1      // b1 > b0
	VBLENDVPS Y1, Y7, Y6, Y6      // Y6 = bot
	VPSUBD Y1, Y9, Y1
	VPADDD Y10, Y1, Y1
	// bot > top: take the bottom row
	VCMPPS $0x0E, Y4, Y6, Y2      // bot > top
	VBLENDVPS Y2, Y6, Y4, Y4      // max
	VBLENDVPS Y2, Y1, Y0, Y0      // its index (integers moved as bit patterns)
	VMOVDQU Y0, (SI)
	VMOVUPS Y4, (DI)
	VPADDD Y8, Y9, Y9
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop

done:
	VZEROUPPER
	RET

// func affineAVX2(dst, src *float32, n int, c0, c1 float32)
//
// dst[i] = c0 - src[i]*c1 (one fused multiply-add) for n values, n a multiple of 8.
TEXT ·affineAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS c0+24(FP), Y14
	VBROADCASTSS c1+28(FP), Y15
	SHRQ $3, CX
	JE affdone
	TESTQ $1, CX
	JE affpairs
	VMOVAPS Y14, Y0
	VFNMADD231PS (SI), Y15, Y0 // y0 = -(src*c1) + c0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SHRQ $1, CX
	JE affdone
	JMP affloop

affpairs:
	SHRQ $1, CX

affloop:
	VMOVAPS Y14, Y0
	VMOVAPS Y14, Y1
	VFNMADD231PS (SI), Y15, Y0
	VFNMADD231PS 32(SI), Y15, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNE affloop

affdone:
	VZEROUPPER
	RET

// func packRunsAVX2(dst, xp *float32, offs *int, rows int, runs *patchRun, nruns, nr int)
//
// For every row p < rows of one panel (nr values a row from dst) and every run r (j, n, src
// as three ints): copy n values from xp[offs[p] + r.src] to the row's column r.j, 16 at a
// time (so up to 15 values past each run are read and written; the caller makes sure that
// this is within both buffers and that those values are overwritten later).
TEXT ·packRunsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ xp+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ rows+24(FP), R9
	MOVQ runs+32(FP), R10
	MOVQ nruns+40(FP), R11
	MOVQ nr+48(FP), R12
	SHLQ $2, R12             // row stride in bytes
	TESTQ R9, R9
	JE prdone
	TESTQ R11, R11
	JE prdone

prrow:
	MOVQ (R8), R13           // offs[p]
	LEAQ (SI)(R13*4), R13    // xp + offs[p]
	MOVQ R10, R14            // run pointer
	MOVQ R11, R15            // runs left

prrun:
	MOVQ 0(R14), AX          // j
	MOVQ 8(R14), CX          // n
	MOVQ 16(R14), DX         // src
	LEAQ (DI)(AX*4), BX      // destination
	LEAQ (R13)(DX*4), DX     // source

prchunk:
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ $64, DX
	ADDQ $64, BX
	SUBQ $16, CX
	JG prchunk

	ADDQ $24, R14
	DECQ R15
	JNE prrun

	ADDQ $8, R8
	ADDQ R12, DI
	DECQ R9
	JNE prrow

prdone:
	VZEROUPPER
	RET

// func gatherRowsAVX2(dst, xp *float32, idx, mask, pos *int32, rows, nr int)
//
// For every row p < rows of one panel (nr values a row, nr a multiple of 8): row[j] =
// xp[pos[p] + idx[j]] where mask[j] is -1, and 0 where it is 0, gathered 8 at a time.
TEXT ·gatherRowsAVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ xp+8(FP), SI
	MOVQ idx+16(FP), R8
	MOVQ mask+24(FP), R9
	MOVQ pos+32(FP), R10
	MOVQ rows+40(FP), R11
	MOVQ nr+48(FP), R12
	SHRQ $3, R12             // groups of 8 a row
	TESTQ R11, R11
	JE gdone
	TESTQ R12, R12
	JE gdone

grow:
	VPBROADCASTD (R10), Y5   // pos[p]
	MOVQ R8, R13
	MOVQ R9, R14
	MOVQ R12, CX

ggroup:
	VMOVDQU (R13), Y1
	VPADDD Y5, Y1, Y1        // indices
	VMOVDQU (R14), Y2        // mask (consumed by the gather)
	VXORPS Y0, Y0, Y0
	VGATHERDPS Y2, (SI)(Y1*4), Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, R13
	ADDQ $32, R14
	ADDQ $32, DI
	DECQ CX
	JNE ggroup

	ADDQ $4, R10
	DECQ R11
	JNE grow

gdone:
	VZEROUPPER
	RET

// func momentsAVX2(z *float32, n int, lanes *[16]float32)
//
// For n values (a multiple of 8): lanes[l] = sum of z[8i+l] and lanes[8+l] = sum of
// z[8i+l]^2 (each square added with one rounding), in increasing i.
TEXT ·momentsAVX2(SB), NOSPLIT, $0-24
	MOVQ z+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ lanes+16(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	SHRQ $3, CX
	JE mdone

mloop:
	VMOVUPS (SI), Y2
	VADDPS Y2, Y0, Y0
	VFMADD231PS Y2, Y2, Y1
	ADDQ $32, SI
	DECQ CX
	JNE mloop

mdone:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VZEROUPPER
	RET

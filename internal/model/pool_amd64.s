#include "textflag.h"

// func pool2x2AVX2(d *float32, a *int32, r0, r1 *float32, n int, k *[4]float32, base, w int32)
//
// For n windows (a multiple of 8) of two rows r0, r1 (2n values each): normalise every value
// in place (x = x*sc + sh, k = {sc, sh, g, bt}), then write the 2x2 maximum of y = g*x + bt
// (g > 0, so the maximum of x) through ReLU into d, and its position into a:
// base + 2j + {0, 1, w, w+1}, the first in row order on ties.
TEXT ·pool2x2AVX2(SB), NOSPLIT, $0-56
	MOVQ d+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ r0+16(FP), R8
	MOVQ r1+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 0(AX), Y12  // sc
	VBROADCASTSS 4(AX), Y13  // sh
	VBROADCASTSS 8(AX), Y14  // g
	VBROADCASTSS 12(AX), Y15 // bt
	MOVL base+48(FP), AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11    // base
	MOVL w+52(FP), AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10    // w
	// Y9 = 2j for j = 0..7; Y8 = 16 (the step of 2j per group)
	MOVQ $0x0000000200000000, AX
	MOVQ AX, X9
	MOVQ $0x0000000600000004, AX
	MOVQ AX, X0
	VPUNPCKLQDQ X0, X9, X9
	MOVQ $0x0000000A00000008, AX
	MOVQ AX, X0
	MOVQ $0x0000000E0000000C, AX
	MOVQ AX, X1
	VPUNPCKLQDQ X1, X0, X0
	VINSERTI128 $1, X0, Y9, Y9
	MOVL $16, AX
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	SHRQ $3, CX
	JE done

loop:
	// load and normalise 16 values of each row, store them back
	VMOVUPS (R8), Y0
	VMOVUPS 32(R8), Y1
	VMOVUPS (R9), Y2
	VMOVUPS 32(R9), Y3
	VFMADD213PS Y13, Y12, Y0 // y0 = y0*sc + sh
	VFMADD213PS Y13, Y12, Y1
	VFMADD213PS Y13, Y12, Y2
	VFMADD213PS Y13, Y12, Y3
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, 32(R8)
	VMOVUPS Y2, (R9)
	VMOVUPS Y3, 32(R9)
	// de-interleave: a0 = even columns of r0, a1 = odd; b0, b1 of r1
	VSHUFPS $0x88, Y1, Y0, Y4
	VSHUFPS $0xDD, Y1, Y0, Y5
	VSHUFPS $0x88, Y3, Y2, Y6
	VSHUFPS $0xDD, Y3, Y2, Y7
	VPERMPD $0xD8, Y4, Y4 // a0
	VPERMPD $0xD8, Y5, Y5 // a1
	VPERMPD $0xD8, Y6, Y6 // b0
	VPERMPD $0xD8, Y7, Y7 // b1
	// top = a1 > a0 ? a1 : a0, index 2j + (a1 > a0)
	VCMPPS $0x0E, Y4, Y5, Y0      // Y0 = a1 > a0 (GT_OS)
	VBLENDVPS Y0, Y5, Y4, Y4      // Y4 = top
	VPSUBD Y0, Y9, Y0             // 2j - mask = 2j + 1 where a1 > a0
	// bot = b1 > b0 ? b1 : b0, index w + 2j + (b1 > b0)
	VCMPPS $0x0E, Y6, Y7, Y1      // b1 > b0
	VBLENDVPS Y1, Y7, Y6, Y6      // Y6 = bot
	VPSUBD Y1, Y9, Y1
	VPADDD Y10, Y1, Y1
	// bot > top: take the bottom row
	VCMPPS $0x0E, Y4, Y6, Y2      // bot > top
	VBLENDVPS Y2, Y6, Y4, Y4      // max
	VBLENDVPS Y2, Y1, Y0, Y0      // its index (integers moved as bit patterns)
	VPADDD Y11, Y0, Y0
	VMOVDQU Y0, (SI)
	// d = max(g*max + bt, 0)
	VFMADD213PS Y15, Y14, Y4
	VXORPS Y3, Y3, Y3
	VMAXPS Y3, Y4, Y4
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

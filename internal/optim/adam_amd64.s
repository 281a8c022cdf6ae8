#include "textflag.h"

// func adamAVX2(w, gr, m, v *float32, n int, k *[8]float32)
//
// For n (a multiple of 8) elements, with k = {wd, b1, 1-b1, b2, 1-b2, -step, 1/sqrt(bc2), eps}:
//   gd = g + wd*w;  m = b1*m + (1-b1)*gd;  v = b2*v + (1-b2)*gd*gd
//   w  = w - step * m / (sqrt(v)/sqrt(bc2) + eps)
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // wd
	VBROADCASTSS 4(AX), Y9   // b1
	VBROADCASTSS 8(AX), Y10  // 1-b1
	VBROADCASTSS 12(AX), Y11 // b2
	VBROADCASTSS 16(AX), Y12 // 1-b2
	VBROADCASTSS 20(AX), Y13 // -step
	VBROADCASTSS 24(AX), Y14 // 1/sqrt(bc2)
	VBROADCASTSS 28(AX), Y15 // eps
	SHRQ $3, CX
	JE done

loop:
	VMOVUPS (DI), Y0        // w
	VMOVUPS (SI), Y1        // g
	VFMADD231PS Y8, Y0, Y1  // g += w*wd
	VMOVUPS (R8), Y2        // m
	VMULPS Y9, Y2, Y2       // m *= b1
	VFMADD231PS Y10, Y1, Y2 // m += g*(1-b1)
	VMOVUPS Y2, (R8)
	VMOVUPS (R9), Y3        // v
	VMULPS Y11, Y3, Y3      // v *= b2
	VMULPS Y1, Y1, Y4       // g*g
	VFMADD231PS Y12, Y4, Y3 // v += g*g*(1-b2)
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y5          // sqrt(v)
	VMULPS Y14, Y5, Y5      // / sqrt(bc2)
	VADDPS Y15, Y5, Y5      // + eps
	VDIVPS Y5, Y2, Y6       // m / denom
	VFMADD231PS Y13, Y6, Y0 // w += -step * ...
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNE loop

done:
	VZEROUPPER
	RET

#include "textflag.h"

// Go's arm64 assembler has the vector form of FMLA but neither the by-element form nor the
// vector FADD, so this file encodes those two as WORDs (Arm ARM, "Advanced SIMD vector x indexed
// element" and "three same" classes; checked against `go tool objdump`, which decodes them):
//
//	FMLAE(d, n, m, i):  FMLA Vd.4S, Vn.4S, Vm.S[i]   d += n * m[i], fused (one rounding)
//	FADD4(d, n, m):     FADD Vd.4S, Vn.4S, Vm.4S     d = n + m
//
// FMLA (by element), single precision, Q=1: 0 1 0 01111 1 0 L M Rm 0001 H 0 Rn Rd, where the
// lane index is H:L and M:Rm is the 5-bit register number. FADD (vector), single precision,
// Q=1: 0 1 0 01110 0 0 1 Rm 110101 Rn Rd.
#define FMLAE(d, n, m, i) WORD $(0x4f801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
#define FADD4(d, n, m) WORD $(0x4e20d400 | ((m)<<16) | ((n)<<5) | (d))

// func kernel6x16(k int, a, b, c *float32, ldc int, acc bool)
//
// C[0:6][0:16] (row stride ldc floats) = (acc ? C : 0) + A * B, where A is a packed 6 x k
// panel (a[p*6+i] = A[i][p]) and B a packed k x 16 panel (b[p*16+j] = B[p][j]).
//
// The same arithmetic as the AVX2 kernel: every element's sum starts at zero, takes one
// fused multiply-add per p in increasing p, and C is added once at the end when acc, so the
// two kernels give the same bits. Registers: V0-V23 hold the tile (row i, columns 4q..4q+3
// in V(4i+q)), V24-V27 one row of the B panel, V28-V30 the six A values of one column as
// pairs (A[i][p] is lane i%2 of V(28+i/2)).
TEXT ·kernel6x16(SB), NOSPLIT, $0-41
	MOVD k+0(FP), R3
	MOVD a+8(FP), R0
	MOVD b+16(FP), R1
	MOVD c+24(FP), R2
	MOVD ldc+32(FP), R4
	LSL $2, R4
	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	CBZ R3, store

loop:
	VLD1.P 64(R1), [V24.S4, V25.S4, V26.S4, V27.S4]
	VLD1.P 24(R0), [V28.S2, V29.S2, V30.S2]
	FMLAE(0, 24, 28, 0)
	FMLAE(1, 25, 28, 0)
	FMLAE(2, 26, 28, 0)
	FMLAE(3, 27, 28, 0)
	FMLAE(4, 24, 28, 1)
	FMLAE(5, 25, 28, 1)
	FMLAE(6, 26, 28, 1)
	FMLAE(7, 27, 28, 1)
	FMLAE(8, 24, 29, 0)
	FMLAE(9, 25, 29, 0)
	FMLAE(10, 26, 29, 0)
	FMLAE(11, 27, 29, 0)
	FMLAE(12, 24, 29, 1)
	FMLAE(13, 25, 29, 1)
	FMLAE(14, 26, 29, 1)
	FMLAE(15, 27, 29, 1)
	FMLAE(16, 24, 30, 0)
	FMLAE(17, 25, 30, 0)
	FMLAE(18, 26, 30, 0)
	FMLAE(19, 27, 30, 0)
	FMLAE(20, 24, 30, 1)
	FMLAE(21, 25, 30, 1)
	FMLAE(22, 26, 30, 1)
	FMLAE(23, 27, 30, 1)
	SUBS $1, R3, R3
	BNE loop

store:
	MOVBU acc+40(FP), R5
	CBZ R5, nocc
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(0, 0, 24)
	FADD4(1, 1, 25)
	FADD4(2, 2, 26)
	FADD4(3, 3, 27)
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R2)
	ADD R4, R2, R2
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(4, 4, 24)
	FADD4(5, 5, 25)
	FADD4(6, 6, 26)
	FADD4(7, 7, 27)
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R2)
	ADD R4, R2, R2
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(8, 8, 24)
	FADD4(9, 9, 25)
	FADD4(10, 10, 26)
	FADD4(11, 11, 27)
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R2)
	ADD R4, R2, R2
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(12, 12, 24)
	FADD4(13, 13, 25)
	FADD4(14, 14, 26)
	FADD4(15, 15, 27)
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R2)
	ADD R4, R2, R2
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(16, 16, 24)
	FADD4(17, 17, 25)
	FADD4(18, 18, 26)
	FADD4(19, 19, 27)
	VST1 [V16.S4, V17.S4, V18.S4, V19.S4], (R2)
	ADD R4, R2, R2
	VLD1 (R2), [V24.S4, V25.S4, V26.S4, V27.S4]
	FADD4(20, 20, 24)
	FADD4(21, 21, 25)
	FADD4(22, 22, 26)
	FADD4(23, 23, 27)
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R2)
	RET

nocc:
	VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R2)
	ADD R4, R2, R2
	VST1 [V4.S4, V5.S4, V6.S4, V7.S4], (R2)
	ADD R4, R2, R2
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R2)
	ADD R4, R2, R2
	VST1 [V12.S4, V13.S4, V14.S4, V15.S4], (R2)
	ADD R4, R2, R2
	VST1 [V16.S4, V17.S4, V18.S4, V19.S4], (R2)
	ADD R4, R2, R2
	VST1 [V20.S4, V21.S4, V22.S4, V23.S4], (R2)
	RET

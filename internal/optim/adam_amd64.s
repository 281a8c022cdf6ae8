#include "textflag.h"

// func adamAVX2(w, gr, m, v *float32, n int, k *[9]float32)
//
// For n (a multiple of 8) elements, with
// k = {wd, b1, 1-b1, b2, 1-b2, -step, 1/sqrt(bc2), eps, 0x1p-126/wd}:
//   gd = g + wd*w;  m = b1*m + (1-b1)*gd;  v = b2*v + (1-b2)*gd*gd
//   w  = w - step * m / (sqrt(v)/sqrt(bc2) + eps)
// The products wd*w and gd*gd are taken as 0 where they would be subnormal (|w| < k[8],
// |gd| < 0x1p-63; NaN and infinity are kept): a weight that decay has brought just above the
// smallest normal number, and whose moments were flushed, would otherwise make a subnormal
// number, and take a microcode assist, at every step.
// m, v and w are flushed to a zero of their sign when subnormal (|x| < 0x1p-126, see package
// ftz) before they are stored or used: FLUSH(x) computes t = |x| & (|x| < min), x ^= t,
// which leaves zeros, normal numbers, infinities and NaNs (the compare is false) unchanged.

DATA absmask<>+0(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+8(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+16(SB)/8, $0x7fffffff7fffffff
DATA absmask<>+24(SB)/8, $0x7fffffff7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $32

DATA minnormal<>+0(SB)/4, $0x00800000 // 0x1p-126, the smallest normal float32
GLOBL minnormal<>(SB), RODATA|NOPTR, $4

DATA sqrtminnormal<>+0(SB)/4, $0x20000000 // 0x1p-63: smaller numbers square to subnormals
GLOBL sqrtminnormal<>(SB), RODATA|NOPTR, $4

// FLUSH flushes the subnormal lanes of x, using t and k as scratch; Y7 holds the minimum.
#define FLUSH(x, t, k) \
	VANDPS absmask<>(SB), x, t; \
	VCMPPS $0x11, Y7, t, k; \
	VANDPS k, t, t; \
	VXORPS t, x, x

// KEEP sets out to x where !(|x| < thr) (NaN included) and to 0 elsewhere; out may be thr.
#define KEEP(x, thr, t, out) \
	VANDPS absmask<>(SB), x, t; \
	VCMPPS $0x15, thr, t, t; \
	VANDPS x, t, out

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
	VBROADCASTSS minnormal<>(SB), Y7
	SHRQ $3, CX
	JE done

loop:
	VMOVUPS (DI), Y0        // w
	VMOVUPS (SI), Y1        // g
	VBROADCASTSS 32(AX), Y5 // 0x1p-126/wd
	KEEP(Y0, Y5, Y4, Y5)    // w where wd*w is normal
	VFMADD231PS Y8, Y5, Y1  // g += w*wd
	VMOVUPS (R8), Y2        // m
	VMULPS Y9, Y2, Y2       // m *= b1
	VFMADD231PS Y10, Y1, Y2 // m += g*(1-b1)
	FLUSH(Y2, Y4, Y5)
	VMOVUPS Y2, (R8)
	VMOVUPS (R9), Y3        // v
	VMULPS Y11, Y3, Y3      // v *= b2
	VBROADCASTSS sqrtminnormal<>(SB), Y5
	KEEP(Y1, Y5, Y4, Y5)    // g where g*g is normal
	VMULPS Y5, Y5, Y4       // g*g
	VFMADD231PS Y12, Y4, Y3 // v += g*g*(1-b2)
	FLUSH(Y3, Y4, Y5)
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y5          // sqrt(v)
	VMULPS Y14, Y5, Y5      // / sqrt(bc2)
	VADDPS Y15, Y5, Y5      // + eps
	VDIVPS Y5, Y2, Y6       // m / denom
	VFMADD231PS Y13, Y6, Y0 // w += -step * ...
	FLUSH(Y0, Y4, Y5)
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

// Package ftz flushes subnormal floating-point values to zero.
//
// A value smaller in magnitude than the smallest normal number (0x1p-126 for float32,
// 0x1p-1022 for float64) is subnormal, and x86 CPUs take a microcode assist, tens to
// hundreds of cycles, for every arithmetic operation that reads or produces one. Weights
// that weight decay shrinks without a gradient to pull them back (the encoders of modalities
// a model never sees, BatchNorm statistics of constant channels) sink into that range and
// then slow every step several times over. The CPU's own flush-to-zero mode (MXCSR's FTZ
// and DAZ bits) cannot be used from Go, whose goroutines move between threads, so the
// optimisers and the BatchNorm statistics flush the values they store with this package.
//
// A flushed value keeps its sign (a negative subnormal becomes -0, as the CPU's FTZ mode
// does); zeros, normal numbers, infinities and NaNs are returned unchanged.
package ftz

import (
	"math"
	"unsafe"
)

// MinNormal32 and MinNormal64 are the smallest positive normal float32 and float64: values
// of smaller magnitude, other than zero, are subnormal.
const (
	MinNormal32 = 0x1p-126
	MinNormal64 = 0x1p-1022
)

// Flush32 returns x, or a zero of x's sign when x is subnormal.
func Flush32(x float32) float32 {
	b := math.Float32bits(x)
	if b&0x7f800000 == 0 { // a zero exponent: zero or subnormal
		return math.Float32frombits(b & 0x80000000)
	}
	return x
}

// Flush64 returns x, or a zero of x's sign when x is subnormal.
func Flush64(x float64) float64 {
	b := math.Float64bits(x)
	if b&0x7ff0000000000000 == 0 {
		return math.Float64frombits(b & (1 << 63))
	}
	return x
}

// Flush is Flush32 or Flush64 by the size of T.
func Flush[T ~float32 | ~float64](x T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(Flush32(float32(x)))
	}
	return T(Flush64(float64(x)))
}

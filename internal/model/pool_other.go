//go:build !amd64

package model

const hasPoolKernel = false

func pool2x2AVX2(d *float32, a *int32, r0, r1 *float32, n int, k *[4]float32, base, w int32) {
	panic("model: no pooling kernel")
}

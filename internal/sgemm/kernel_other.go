//go:build !amd64

package sgemm

const hasKernel = false

func kernel6x16(k int, a, b, c *float32, ldc int, acc bool) { panic("sgemm: no kernel") }

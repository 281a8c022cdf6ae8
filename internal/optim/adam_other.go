//go:build !amd64

package optim

const hasAdamKernel = false

func adamAVX2(w, gr, m, v *float32, n int, k *[9]float32) { panic("optim: no kernel") }

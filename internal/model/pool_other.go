//go:build !amd64

package model

// the kernels exist on amd64 only (variables, so that tests can switch them off anywhere)
var (
	hasPoolKernel = false
	hasFMAKernel  = false
)

func pool2x2MaxAVX2(d *float32, a *int32, r0, r1 *float32, n int, base, w int32) {
	panic("model: no pooling kernel")
}

func affineAVX2(dst, src *float32, n int, c0, c1 float32) {
	panic("model: no affine kernel")
}

func packRunsAVX2(dst, xp *float32, offs *int, rows int, runs *patchRun, nruns, nr int) {
	panic("model: no packing kernel")
}

func gatherRowsAVX2(dst, xp *float32, idx, mask, pos *int32, rows, nr int) {
	panic("model: no gathering kernel")
}

func momentsAVX2(z *float32, n int, lanes *[16]float32) {
	panic("model: no moments kernel")
}

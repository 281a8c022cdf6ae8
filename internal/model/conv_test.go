package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// poolShapes are channel sizes for the pooling tests: the avmnist blocks (63 -> 31 floors a
// column, 14 -> 7 windows a row take the loop, 28 -> 14 the kernel and an overlapping group),
// odd heights and widths, and a 3 x 3 pool.
var poolShapes = []struct{ c, h, w, p int }{
	{16, 32, 63, 2}, {32, 16, 31, 2}, {16, 28, 28, 2}, {32, 14, 14, 2}, {3, 7, 37, 2}, {2, 5, 16, 2}, {2, 9, 10, 3}, {1, 1, 1, 1},
}

// randomPlane fills n values with a mix of ties, signed zeros and normal values.
func randomPlane(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		switch rng.IntN(4) {
		case 0:
			x[i] = float64(rng.IntN(3)) - 1 // many ties
		case 1:
			x[i] = math.Copysign(0, rng.NormFloat64())
		default:
			x[i] = rng.NormFloat64()
		}
	}
	return x
}

// TestPoolRaw checks the forward pooling of both precisions against the plain definition:
// each window's first maximum (gamma > 0), first minimum (gamma < 0) or first value (gamma =
// 0) of z, and, once finished by normRelu, the window's maximum of the block output
// max(gamma*(z*scale + shift) + beta, 0) computed value by value.
func TestPoolRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for _, sh := range poolShapes {
		t.Run(fmt.Sprintf("%dx%dx%d/%d", sh.c, sh.h, sh.w, sh.p), func(t *testing.T) {
			x := randomPlane(rng, sh.c*sh.h*sh.w)
			gammas := make([]float64, sh.c)
			for ch := range gammas {
				gammas[ch] = []float64{2, 0.5, -0.7, 0}[ch%4]
			}
			checkPoolRaw(t, x, gammas, sh.c, sh.h, sh.w, sh.p)
			checkPoolRaw(t, toF32(x), toF32(gammas), sh.c, sh.h, sh.w, sh.p)
		})
	}
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func checkPoolRaw[T float](t *testing.T, z, gamma []T, c, h, w, p int) {
	t.Helper()
	oh, ow := h/p, w/p
	d, a := make([]T, c*oh*ow), make([]int32, c*oh*ow)
	poolRaw(d, a, z, gamma, c, h, w, p)
	const sc, sh, bt = 1.5, -0.25, 0.1
	for ch := 0; ch < c; ch++ {
		g := gamma[ch]
		img := z[ch*h*w : (ch+1)*h*w]
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best := (i*p)*w + j*p
				bestY := T(math.Inf(-1))
				for di := 0; di < p; di++ {
					for dj := 0; dj < p; dj++ {
						pos := (i*p+di)*w + j*p + dj
						v := img[pos]
						if (g > 0 && v > img[best]) || (g < 0 && v < img[best]) {
							best = pos
						}
						bestY = max(bestY, max(g*(v*sc+sh)+bt, 0))
					}
				}
				q := ch*oh*ow + i*ow + j
				if int(a[q]) != best || d[q] != img[best] {
					t.Fatalf("%T channel %d window (%d, %d): %v at %d, want %v at %d", z, ch, i, j, d[q], a[q], img[best], best)
				}
				y := []T{d[q]}
				normRelu(y, sc, sh, g, bt)
				if y[0] != bestY {
					t.Fatalf("%T channel %d window (%d, %d): output %v, want %v", z, ch, i, j, y[0], bestY)
				}
			}
		}
	}
}

// TestPoolBackward checks the routed-gradient sums of both precisions (the float32 one
// branch-free, in four lanes) against plain loops, with outputs of exactly +0 that ReLU does
// not pass.
func TestPoolBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1))
	for _, q := range []int{1, 9, 31} {
		hw := 4 * q
		z, dOut, out := make([]float64, hw), make([]float64, q), make([]float64, q)
		arg := make([]int32, q)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for i := range dOut {
			dOut[i] = rng.NormFloat64()
			out[i] = max(rng.NormFloat64(), 0)
			arg[i] = int32(4*i + rng.IntN(4))
		}
		const sc, sh = 0.75, 0.5
		var sdy, sdyx float64
		for k, pos := range arg {
			if out[k] > 0 {
				sdy += dOut[k]
				sdyx += dOut[k] * (z[pos]*sc + sh)
			}
		}
		s1, x1 := poolBackward(dOut, out, arg, z, sc, sh)
		if s1 != sdy || x1 != sdyx {
			t.Fatalf("float64 q=%d: sums %v %v, want %v %v", q, s1, x1, sdy, sdyx)
		}
		// float32: in the four lanes of window index mod 4, added in lane order
		var ls, lx [4]float32
		z32, d32, o32 := toF32(z), toF32(dOut), toF32(out)
		for k, pos := range arg {
			if o32[k] > 0 {
				ls[k%4] += d32[k]
				lx[k%4] += d32[k] * (z32[pos]*sc + sh)
			}
		}
		sdy32, sdyx32 := ls[0]+ls[1]+ls[2]+ls[3], lx[0]+lx[1]+lx[2]+lx[3]
		s2, x2 := poolBackward(d32, o32, arg, z32, sc, sh)
		if s2 != sdy32 || x2 != sdyx32 {
			t.Fatalf("float32 q=%d: sums %v %v, want %v %v", q, s2, x2, sdy32, sdyx32)
		}
	}
}

// TestBNBackwardSample checks BatchNorm's per-sample input gradient against the formula
// kc*v - ks - kx*xhat written out, on a layout with ragged pooling.
func TestBNBackwardSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 2))
	const c, h, w = 3, 5, 7
	hw, phw := h*w, (h/2)*(w/2)
	z := randomPlane(rng, c*hw)
	dOut, out := randomPlane(rng, c*phw), randomPlane(rng, c*phw)
	gamma := []float64{1, -1, 0}
	_ = out
	arg := make([]int32, c*phw)
	pooled := make([]float64, c*phw)
	poolRaw(pooled, arg, z, gamma, c, h, w, 2)
	for i := range out {
		out[i] = max(out[i], 0)
	}
	kc, ks, kx := []float64{1.5, 0.5, 2}, []float64{0.1, -0.2, 0.3}, []float64{0.05, 0.4, -1}
	sc, sh := []float64{2, 0.5, 1}, []float64{-1, 0.25, 0}
	dz := make([]float64, c*hw)
	bnBackwardSample(dz, z, dOut, out, arg, kc, ks, kx, sc, sh, c, hw, phw)
	for ch := 0; ch < c; ch++ {
		v := make([]float64, hw)
		for q := 0; q < phw; q++ {
			if out[ch*phw+q] > 0 {
				v[arg[ch*phw+q]] = dOut[ch*phw+q]
			}
		}
		for p := 0; p < hw; p++ {
			xh := z[ch*hw+p]*sc[ch] + sh[ch]
			want := kc[ch]*v[p] - ks[ch] - kx[ch]*xh
			if got := dz[ch*hw+p]; math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
				t.Fatalf("dz[%d, %d] = %v, want %v", ch, p, got, want)
			}
		}
	}
}

// naivePatches is im2col written out from its definition.
func naivePatches(x []float32, c, h, w, k int) [][]float32 {
	pad := k / 2
	rows := make([][]float32, c*k*k)
	for ch := 0; ch < c; ch++ {
		for ki := 0; ki < k; ki++ {
			for kj := 0; kj < k; kj++ {
				row := make([]float32, h*w)
				for i := 0; i < h; i++ {
					for j := 0; j < w; j++ {
						si, sj := i+ki-pad, j+kj-pad
						if si >= 0 && si < h && sj >= 0 && sj < w {
							row[i*w+j] = x[(ch*h+si)*w+sj]
						}
					}
				}
				rows[(ch*k+ki)*k+kj] = row
			}
		}
	}
	return rows
}

// TestPackPatches checks both patch packers (with and without their AVX2 kernels) against
// im2col's definition for panel widths 4, 16 and 32 and depth ranges starting mid-matrix, on
// image widths below, at and above the panel width, and checks im2col itself (the float64
// path's).
func TestPackPatches(t *testing.T) {
	saved := hasPoolKernel
	t.Cleanup(func() { hasPoolKernel = saved })
	for _, kernel := range []bool{false, saved} {
		hasPoolKernel = kernel
		checkPackPatches(t)
	}
}

func checkPackPatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 7))
	shapes := []struct{ c, h, w, k int }{{1, 32, 63, 3}, {16, 16, 31, 3}, {16, 14, 14, 3}, {2, 5, 16, 3}, {3, 4, 3, 5}, {2, 3, 2, 1}}
	for _, sh := range shapes {
		x := toF32(randomPlane(rng, sh.c*sh.h*sh.w))
		for i := range x {
			x[i] += 3 // no zeros, so a missing copy shows
		}
		want := naivePatches(x, sh.c, sh.h, sh.w, sh.k)
		kk, hw := sh.c*sh.k*sh.k, sh.h*sh.w
		col := make([]float32, kk*hw)
		im2col(col, x, sh.c, sh.h, sh.w, sh.k)
		for r := 0; r < kk; r++ {
			for q := 0; q < hw; q++ {
				if col[r*hw+q] != want[r][q] {
					t.Fatalf("%v: im2col (%d, %d) = %v, want %v", sh, r, q, col[r*hw+q], want[r][q])
				}
			}
		}
		for _, nr := range []int{4, 16, 32} {
			// patches: k x n = kk x hw; transposed: hw x kk
			for _, tr := range []bool{false, true} {
				k, n := kk, hw
				if tr {
					k, n = hw, kk
				}
				np := (n + nr - 1) / nr
				for _, rg := range [][2]int{{0, k}, {k / 3, k - k/3}, {k - 1, 1}} {
					p0, rows := rg[0], rg[1]
					dst := make([]float32, np*nr*rows)
					for i := range dst {
						dst[i] = float32(math.NaN())
					}
					xp := padImage(make([]float32, paddedSize(sh.c, sh.h, sh.w, sh.k)), x, sh.c, sh.h, sh.w, sh.k)
					for i := range xp {
						if xp[i] != 0 && !slices.Contains(x, xp[i]) {
							t.Fatalf("%v: padded image has %v at %d, not from x", sh, xp[i], i)
						}
					}
					if tr {
						packPatchesT(dst, xp, sh.c, sh.h, sh.w, sh.k, p0, rows, nr)
					} else {
						packPatches(dst, xp, sh.c, sh.h, sh.w, sh.k, p0, rows, nr)
					}
					for jp := 0; jp < np; jp++ {
						for p := 0; p < rows; p++ {
							for j := 0; j < nr; j++ {
								var v float32
								if col := jp*nr + j; col < n {
									if tr {
										v = want[col][p0+p]
									} else {
										v = want[p0+p][col]
									}
								}
								if got := dst[jp*nr*rows+p*nr+j]; got != v {
									t.Fatalf("%v nr=%d transposed=%v rows [%d, %d): panel %d (%d, %d) = %v, want %v", sh, nr, tr, p0, p0+rows, jp, p, j, got, v)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestConvInputGradientIsFlippedConv checks the identity the backward pass relies on: the
// input gradient W^T dz of a 'same' stride-1 convolution, scattered back onto the image
// (col2im), equals the 'same' convolution of dz by the flipped, channel-swapped kernel, in
// both precisions (float32 on the fused packer).
func TestConvInputGradientIsFlippedConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, sh := range []struct{ c, out, h, w, k int }{{16, 32, 14, 14, 3}, {3, 5, 7, 9, 5}, {2, 2, 3, 3, 1}} {
		w := randomPlane(rng, sh.out*sh.c*sh.k*sh.k)
		dz := randomPlane(rng, sh.out*sh.h*sh.w)
		kk, hw := sh.c*sh.k*sh.k, sh.h*sh.w
		// reference: dcol = W^T dz, then col2im
		want := make([]float64, sh.c*hw)
		pad := sh.k / 2
		for r := 0; r < kk; r++ {
			ch, ki, kj := r/(sh.k*sh.k), (r/sh.k)%sh.k, r%sh.k
			for q := 0; q < hw; q++ {
				var s float64
				for o := 0; o < sh.out; o++ {
					s += w[o*kk+r] * dz[o*hw+q]
				}
				si, sj := q/sh.w+ki-pad, q%sh.w+kj-pad
				if si >= 0 && si < sh.h && sj >= 0 && sj < sh.w {
					want[ch*hw+si*sh.w+sj] += s
				}
			}
		}
		wf := make([]float64, len(w))
		flipKernel(wf, w, sh.out, sh.c, sh.k)
		got := make([]float64, sh.c*hw)
		convMul(got, wf, dz, sh.c, sh.out, sh.h, sh.w, sh.k, false, &scratch[float64]{})
		wf32 := make([]float32, len(w))
		flipKernel(wf32, toF32(w), sh.out, sh.c, sh.k)
		got32 := make([]float32, sh.c*hw)
		convMul(got32, wf32, toF32(dz), sh.c, sh.out, sh.h, sh.w, sh.k, false, &scratch[float32]{})
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-10*(1+math.Abs(want[i])) || math.Abs(float64(got32[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
				t.Fatalf("%v: dIn[%d] = %v (float32 %v), want %v", sh, i, got[i], got32[i], want[i])
			}
		}
	}
}

// TestConvMulT checks the weight-gradient product of both precisions against its definition
// dW[o, r] = sum_q a[o, q] patches[r, q], accumulating onto a non-zero start.
func TestConvMulT(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	for _, sh := range []struct{ c, m, h, w, k int }{{1, 16, 32, 63, 3}, {16, 32, 16, 31, 3}, {3, 5, 7, 9, 5}} {
		x := randomPlane(rng, sh.c*sh.h*sh.w)
		a := randomPlane(rng, sh.m*sh.h*sh.w)
		kk, hw := sh.c*sh.k*sh.k, sh.h*sh.w
		cols := naivePatches(toF32(x), sh.c, sh.h, sh.w, sh.k) // exact: x's values are float32-rounded below
		x32 := toF32(x)
		for i := range x {
			x[i] = float64(x32[i])
		}
		got := make([]float64, sh.m*kk)
		got32 := make([]float32, sh.m*kk)
		for i := range got {
			got[i] = 1
			got32[i] = 1
		}
		convMulT(got, a, x, sh.m, sh.c, sh.h, sh.w, sh.k, true, &scratch[float64]{})
		convMulT(got32, toF32(a), x32, sh.m, sh.c, sh.h, sh.w, sh.k, true, &scratch[float32]{})
		for o := 0; o < sh.m; o++ {
			for r := 0; r < kk; r++ {
				want := 1.0
				for q := 0; q < hw; q++ {
					want += a[o*hw+q] * float64(cols[r][q])
				}
				i := o*kk + r
				if math.Abs(got[i]-want) > 1e-10*(1+math.Abs(want)) || math.Abs(float64(got32[i])-want) > 1e-4*math.Sqrt(float64(hw))*(1+math.Abs(want)) {
					t.Fatalf("%v: dW[%d, %d] = %v (float32 %v), want %v", sh, o, r, got[i], got32[i], want)
				}
			}
		}
	}
}

// TestMoments checks the lane-wise sums (with and without the AVX2 kernel) against float64
// sums on lengths around the lane counts.
func TestMoments(t *testing.T) {
	saved := hasFMAKernel
	t.Cleanup(func() { hasFMAKernel = saved })
	for _, kernel := range []bool{false, saved} {
		hasFMAKernel = kernel
		checkMoments(t)
	}
}

func checkMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 17, 196, 2016} {
		z := randomPlane(rng, n)
		var s, q float64
		for _, v := range z {
			s += v
			q += v * v
		}
		gs, gq := moments(z)
		fs, fq := moments(toF32(z))
		if math.Abs(gs-s) > 1e-12*(1+math.Abs(s)) || math.Abs(gq-q) > 1e-12*(1+q) ||
			math.Abs(float64(fs)-s) > 1e-4*(1+math.Abs(s)) || math.Abs(float64(fq)-q) > 1e-4*(1+q) {
			t.Fatalf("n=%d: moments %v %v (float32 %v %v), want %v %v", n, gs, gq, fs, fq, s, q)
		}
	}
}

// TestAffine checks c0 - src*c1 (kernel and loop) against the fused multiply-add written out,
// bit for bit, on lengths around the kernel's group of 8.
func TestAffine(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 17, 196, 2016} {
		src := toF32(randomPlane(rng, n))
		dst := make([]float32, n)
		const c0, c1 = 0.3, -1.7
		affine(dst, src, c0, c1)
		for i, v := range src {
			if want := float32(math.FMA(-float64(v), float64(float32(c1)), float64(float32(c0)))); dst[i] != want {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want)
			}
		}
	}
}

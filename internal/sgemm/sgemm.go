// Package sgemm multiplies row-major float32 matrices. It packs the operands into panels
// and runs a micro-kernel written in Go assembly (so the build stays pure Go, without cgo),
// chosen when the package loads from what the CPU supports: on amd64 an 8 x 32 AVX-512 tile
// (12 x 16 for products of at most 16 columns) where AVX512F is available, else a 6 x 16
// AVX2/FMA tile; elsewhere, or when forced, a portable Go loop computes the same product.
// The environment variable DMRNET_GEMM_KERNEL (EnvKernel) or Use force a kernel, and Kernel
// names the one in use. Transposed operands are read while packing, never copied separately;
// MulPackB lets the caller pack the right operand itself.
//
// Determinism: the result does not depend on the number of goroutines or on GOMAXPROCS.
// Every element of c is computed by exactly one goroutine, with its sum over k taken in the
// same order (passes of depth kc in increasing k, one FMA per k) however the rows are split,
// so a product is bitwise identical with 1 or any number of workers. The AVX-512 and AVX2
// kernels sum in that same order and so give the same bits; the portable loop rounds
// differently (no FMA), so machines without AVX2/FMA, or of other architectures, may disagree
// in the last bits.
package sgemm

import (
	"runtime"
	"sync"
)

const kc = 256 // depth of one pass, so that the panels stay in cache

// Workspace holds the packing buffers of one goroutine; reusing it avoids allocating them for
// every product. The zero value is ready to use; a Workspace is not safe for concurrent use.
type Workspace struct {
	ap, bp []float32
	tiles  [][]float32 // one mr x nr tile per worker, for the ragged edges of c
}

// Mul computes, with a new Workspace,
//
//	c = op(a) op(b)          (c += op(a) op(b) when acc)
//
// where op(a) is m x k (a is stored k x m when ta), op(b) is k x n (b is stored n x k when tb)
// and c is m x n, all row-major with no padding between rows.
func Mul(c, a, b []float32, m, k, n int, ta, tb, acc bool) {
	var w Workspace
	w.Mul(c, a, b, m, k, n, ta, tb, acc, 1)
}

// Mul is the package-level Mul on w's buffers, splitting the rows of c over up to workers
// goroutines (at most GOMAXPROCS) when the product is large enough to gain from it. The split
// never changes the result's bits (see the package documentation).
func (w *Workspace) Mul(c, a, b []float32, m, k, n int, ta, tb, acc bool, workers int) {
	if len(c) < m*n || len(a) < m*k || len(b) < k*n {
		panic("sgemm: slice too short for the dimensions")
	}
	kern := active().forWidth(n)
	if empty(c, m, k, n, acc) {
		return
	}
	if kern.fn == nil {
		portable(c, a, b, m, k, n, ta, tb, acc)
		return
	}
	pb := func(dst []float32, p0, kk int) { packB(dst, b, k, n, p0, kk, tb, kern.nr) }
	w.kernelMul(kern, c, a, m, k, n, ta, pb, acc, workers)
}

// empty computes the products that have no terms: nothing for m or n of 0, c = 0 (or c
// unchanged when acc) for k of 0. It reports whether the product was one of them.
func empty(c []float32, m, k, n int, acc bool) bool {
	if m == 0 || n == 0 {
		return true
	}
	if k == 0 {
		if !acc {
			clear(c[:m*n])
		}
		return true
	}
	return false
}

// PackB writes rows p0..p0+kk of the right operand B (k x n) of MulPackB into dst as panels
// of nr columns: panel jp holds at dst[jp*nr*kk + p*nr + j] the element (p0+p, jp*nr+j), and
// zeros past column n. len(dst) is ceil(n/nr)*nr*kk. It lets a caller build B while packing
// it (an im2col fused into the packing) instead of materialising it first.
type PackB func(dst []float32, p0, kk, nr int)

// MulPackB computes c = op(a) B (c += op(a) B when acc) like Mul, where B (k x n) is given by
// the packer pb rather than stored. MulPackB calls pb on the calling goroutine, before the
// workers of that pass start, once for every pass over k in increasing order (p0 = 0, kc,
// 2kc, ...; kk = min(kc, k-p0), kc = 256), with the panel width nr of the kernel in use (see
// NR). The result is bitwise what Mul gives for the same B, at any number of workers.
func (w *Workspace) MulPackB(c, a []float32, m, k, n int, ta bool, pb PackB, acc bool, workers int) {
	if len(c) < m*n || len(a) < m*k {
		panic("sgemm: slice too short for the dimensions")
	}
	kern := active().forWidth(n)
	if empty(c, m, k, n, acc) {
		return
	}
	if kern.fn == nil {
		w.portablePacked(c, a, m, k, n, ta, pb, kern.nr, acc)
		return
	}
	w.kernelMul(kern, c, a, m, k, n, ta, func(dst []float32, p0, kk int) { pb(dst, p0, kk, kern.nr) }, acc, workers)
}

// NR is the width of the panels of B that a PackB given to MulPackB writes for a product of
// more than 16 columns: the columns of the micro-kernel in use (16 for AVX2, NEON and the
// portable path, 32 for AVX-512; narrower products may use 16). pb always receives the width
// to use.
func (w *Workspace) NR() int { return active().nr }

// packFunc writes the packed panels of one operand for the depths [p0, p0+kk): for the
// left operand (m x k), panel ip holds at [ip*mr*kk + p*mr + i] the element (ip*mr+i, p0+p),
// zero past m; for the right operand (k x n), panel jp holds at [jp*nr*kk + p*nr + j] the
// element (p0+p, jp*nr+j), zero past n.
type packFunc func(dst []float32, p0, kk int)

// kernelMul runs the product on kern in passes of depth kc: each pass packs its slices of
// op(a) and of B (with pb) and accumulates into c.
func (w *Workspace) kernelMul(kern *microKernel, c, a []float32, m, k, n int, ta bool, pb packFunc, acc bool, workers int) {
	pa := func(dst []float32, p0, kk int) { packA(dst, a, m, k, p0, kk, ta, kern.mr) }
	for p0 := 0; p0 < k; p0 += kc {
		w.pass(kern, c, pa, pb, m, n, min(kc, k-p0), p0, acc || p0 > 0, workers)
	}
}

// pass accumulates A[:, p0:p0+kk] B[p0:p0+kk, :] into c (or stores it when !acc). The
// workers take disjoint panels of mr rows of c: the split is over rows, never over k, and
// every tile is computed the same way whichever worker owns it.
func (w *Workspace) pass(kern *microKernel, c []float32, pa, pb packFunc, m, n, kk, p0 int, acc bool, workers int) {
	mr, nr, kernel := kern.mr, kern.nr, kern.fn
	mp, np := (m+mr-1)/mr, (n+nr-1)/nr
	w.bp = grow(w.bp, np*nr*kk)
	pb(w.bp, p0, kk)
	w.ap = grow(w.ap, mp*mr*kk)
	pa(w.ap, p0, kk)
	k := kk
	workers = max(1, min(workers, mp, runtime.GOMAXPROCS(0)))
	if m*n*k < 1<<22 { // smaller products lose more to goroutine hand-offs than they gain
		workers = 1
	}
	for len(w.tiles) < workers {
		w.tiles = append(w.tiles, nil)
	}
	run := func(wk, lo, hi int) {
		w.tiles[wk] = grow(w.tiles[wk], mr*nr)
		tile := w.tiles[wk]
		for ip := lo; ip < hi; ip++ {
			i0 := ip * mr
			ap := &w.ap[ip*mr*k]
			rows := min(mr, m-i0)
			for jp := 0; jp < np; jp++ {
				j0 := jp * nr
				bp := &w.bp[jp*nr*k]
				cols := min(nr, n-j0)
				if rows == mr && cols == nr {
					kernel(k, ap, bp, &c[i0*n+j0], n, acc)
					continue
				}
				kernel(k, ap, bp, &tile[0], nr, false)
				for i := 0; i < rows; i++ {
					dst := c[(i0+i)*n+j0 : (i0+i)*n+j0+cols]
					src := tile[i*nr : i*nr+cols]
					if acc {
						for j, v := range src {
							dst[j] += v
						}
					} else {
						copy(dst, src)
					}
				}
			}
		}
	}
	if workers == 1 {
		run(0, 0, mp)
		return
	}
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		lo, hi := wk*mp/workers, (wk+1)*mp/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(wk, lo, hi)
		}()
	}
	wg.Wait()
}

// packB writes rows p0..p0+kk of op(b) (k x n) as panels of nr columns: panel jp holds, for
// every p, op(b)[p0+p][jp*nr : jp*nr+nr], zero-padded past n.
func packB(dst, b []float32, k, n, p0, kk int, tb bool, nr int) {
	np := (n + nr - 1) / nr
	for jp := 0; jp < np; jp++ {
		j0 := jp * nr
		cols := min(nr, n-j0)
		panel := dst[jp*nr*kk : (jp+1)*nr*kk]
		switch {
		case !tb && cols == nr && nr == 16:
			for p := 0; p < kk; p++ {
				off := (p0+p)*n + j0
				*(*[16]float32)(panel[p*16:]) = [16]float32(b[off : off+16])
			}
		case !tb && cols == nr && nr == 32:
			for p := 0; p < kk; p++ {
				off := (p0+p)*n + j0
				*(*[32]float32)(panel[p*32:]) = [32]float32(b[off : off+32])
			}
		case !tb:
			for p := 0; p < kk; p++ {
				row := panel[p*nr : p*nr+nr]
				copy(row, b[(p0+p)*n+j0:(p0+p)*n+j0+cols])
				clear(row[cols:])
			}
		case cols >= 8:
			// read the columns of op(b), which are rows of b, side by side, 8 at a time, so
			// that the panel is written in order; the last cols%8 one by one
			if cols < nr {
				clear(panel)
			}
			h := 0
			for ; h+8 <= cols; h += 8 {
				s0 := b[(j0+h)*k+p0 : (j0+h)*k+p0+kk]
				s1 := b[(j0+h+1)*k+p0:][:len(s0)]
				s2 := b[(j0+h+2)*k+p0:][:len(s0)]
				s3 := b[(j0+h+3)*k+p0:][:len(s0)]
				s4 := b[(j0+h+4)*k+p0:][:len(s0)]
				s5 := b[(j0+h+5)*k+p0:][:len(s0)]
				s6 := b[(j0+h+6)*k+p0:][:len(s0)]
				s7 := b[(j0+h+7)*k+p0:][:len(s0)]
				for p := range s0 {
					o := (*[8]float32)(panel[p*nr+h:])
					o[0], o[1], o[2], o[3] = s0[p], s1[p], s2[p], s3[p]
					o[4], o[5], o[6], o[7] = s4[p], s5[p], s6[p], s7[p]
				}
			}
			for ; h < cols; h++ {
				for p, v := range b[(j0+h)*k+p0 : (j0+h)*k+p0+kk] {
					panel[p*nr+h] = v
				}
			}
		default:
			clear(panel)
			for j := 0; j < cols; j++ {
				src := b[(j0+j)*k+p0 : (j0+j)*k+p0+kk]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
		}
	}
}

// packA writes columns p0..p0+kk of op(a) (m x k) as panels of mr rows: panel ip holds, for
// every p, op(a)[ip*mr : ip*mr+mr][p0+p], zero-padded past m.
func packA(dst, a []float32, m, k, p0, kk int, ta bool, mr int) {
	mp := (m + mr - 1) / mr
	for ip := 0; ip < mp; ip++ {
		i0 := ip * mr
		rows := min(mr, m-i0)
		panel := dst[ip*mr*kk : (ip+1)*mr*kk]
		if rows < mr {
			clear(panel)
		}
		switch {
		case ta && rows == 8 && mr == 8: // array copies, which need no call to memmove
			for p := 0; p < kk; p++ {
				off := (p0+p)*m + i0
				*(*[8]float32)(panel[p*8:]) = [8]float32(a[off : off+8])
			}
			continue
		case ta && rows == 6 && mr == 6:
			for p := 0; p < kk; p++ {
				off := (p0+p)*m + i0
				*(*[6]float32)(panel[p*6:]) = [6]float32(a[off : off+6])
			}
			continue
		case ta:
			for p := 0; p < kk; p++ {
				copy(panel[p*mr:p*mr+rows], a[(p0+p)*m+i0:(p0+p)*m+i0+rows])
			}
			continue
		}
		// read the rows side by side, up to 4 at a time (6 or 8 for the tiles of the AVX2
		// and AVX-512 kernels), so that each p writes neighbouring elements of the panel
		for h := 0; h < rows; {
			s0 := a[(i0+h)*k+p0 : (i0+h)*k+p0+kk]
			switch g := rows - h; {
			case g >= 8 && mr == 8:
				s1, s2, s3 := a[(i0+h+1)*k+p0:][:kk], a[(i0+h+2)*k+p0:][:kk], a[(i0+h+3)*k+p0:][:kk]
				s4, s5, s6, s7 := a[(i0+h+4)*k+p0:][:kk], a[(i0+h+5)*k+p0:][:kk], a[(i0+h+6)*k+p0:][:kk], a[(i0+h+7)*k+p0:][:kk]
				for p := range s0 {
					o := (*[8]float32)(panel[p*8:])
					o[0], o[1], o[2], o[3] = s0[p], s1[p], s2[p], s3[p]
					o[4], o[5], o[6], o[7] = s4[p], s5[p], s6[p], s7[p]
				}
				h += 8
			case g >= 6 && mr == 6:
				s1, s2, s3 := a[(i0+h+1)*k+p0:][:kk], a[(i0+h+2)*k+p0:][:kk], a[(i0+h+3)*k+p0:][:kk]
				s4, s5 := a[(i0+h+4)*k+p0:][:kk], a[(i0+h+5)*k+p0:][:kk]
				for p := range s0 {
					o := (*[6]float32)(panel[p*6:])
					o[0], o[1], o[2], o[3], o[4], o[5] = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
				}
				h += 6
			case g >= 4:
				s1, s2, s3 := a[(i0+h+1)*k+p0:][:kk], a[(i0+h+2)*k+p0:][:kk], a[(i0+h+3)*k+p0:][:kk]
				for p := range s0 {
					o := (*[4]float32)(panel[p*mr+h:])
					o[0], o[1], o[2], o[3] = s0[p], s1[p], s2[p], s3[p]
				}
				h += 4
			default:
				for p, v := range s0 {
					panel[p*mr+h] = v
				}
				h++
			}
		}
	}
}

// portablePacked is MulPackB without a micro-kernel: for every pass over k it packs B with pb
// (panels of nr columns) and adds a(i, p) times row p of the panels to row i of c, in the
// order of portable, so that it gives portable's bits.
func (w *Workspace) portablePacked(c, a []float32, m, k, n int, ta bool, pb PackB, nr int, acc bool) {
	if !acc {
		clear(c[:m*n])
	}
	np := (n + nr - 1) / nr
	for p0 := 0; p0 < k; p0 += kc {
		kk := min(kc, k-p0)
		w.bp = grow(w.bp, np*nr*kk)
		pb(w.bp, p0, kk, nr)
		for i := 0; i < m; i++ {
			row := c[i*n : (i+1)*n]
			for p := 0; p < kk; p++ {
				av := a[i*k+p0+p]
				if ta {
					av = a[(p0+p)*m+i]
				}
				if av == 0 {
					continue
				}
				for j0 := 0; j0 < n; j0 += nr {
					dst := row[j0:min(j0+nr, n)]
					src := w.bp[j0*kk+p*nr:][:len(dst)]
					for j, bv := range src {
						dst[j] += av * bv
					}
				}
			}
		}
	}
}

// portable is the product without the assembly kernel.
func portable(c, a, b []float32, m, k, n int, ta, tb, acc bool) {
	if !acc {
		clear(c[:m*n])
	}
	for i := 0; i < m; i++ {
		row := c[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			if ta {
				av = a[p*m+i]
			}
			if av == 0 {
				continue
			}
			if tb {
				for j := range row {
					row[j] += av * b[j*k+p]
				}
				continue
			}
			for j, bv := range b[p*n : (p+1)*n] {
				row[j] += av * bv
			}
		}
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Package sgemm multiplies row-major float32 matrices. On amd64 CPUs with AVX2 and FMA it
// packs the operands into panels and runs a 6 x 16 micro-kernel written in Go assembly (so
// the build stays pure Go, without cgo); elsewhere a portable Go loop computes the same
// product. Transposed operands are read while packing, never copied separately.
//
// Determinism: the result does not depend on the number of goroutines or on GOMAXPROCS.
// Every element of c is computed by exactly one goroutine, with its sum over k taken in the
// same order (passes of depth kc in increasing k, the same micro-kernel) however the rows are
// split, so a product is bitwise identical with 1 or any number of workers. (The FMA kernel
// and the portable loop round differently: machines with and without AVX2/FMA, or of other
// architectures, may disagree in the last bits.)
package sgemm

import (
	"runtime"
	"sync"
)

const (
	mr = 6   // rows of the micro-kernel's tile
	nr = 16  // columns of the micro-kernel's tile
	kc = 256 // depth of one pass, so that the panels stay in cache
)

// Workspace holds the packing buffers of one goroutine; reusing it avoids allocating them for
// every product. The zero value is ready to use; a Workspace is not safe for concurrent use.
type Workspace struct {
	ap, bp []float32
	tiles  [][mr * nr]float32
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
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !acc {
			clear(c[:m*n])
		}
		return
	}
	if !hasKernel {
		portable(c, a, b, m, k, n, ta, tb, acc)
		return
	}
	w.kernelMul(c, a, b, m, k, n, ta, tb, acc, workers)
}

// packFunc writes the packed panels of one operand for the depths [p0, p0+kk): for the
// left operand (m x k), panel ip holds at [ip*mr*kk + p*mr + i] the element (ip*mr+i, p0+p),
// zero past m; for the right operand (k x n), panel jp holds at [jp*nr*kk + p*nr + j] the
// element (p0+p, jp*nr+j), zero past n.
type packFunc func(dst []float32, p0, kk int)

// kernelMul runs the product in passes of depth kc: each pass packs its slices of op(a) and
// op(b) and accumulates into c.
func (w *Workspace) kernelMul(c, a, b []float32, m, k, n int, ta, tb, acc bool, workers int) {
	pa := func(dst []float32, p0, kk int) { packA(dst, a, m, k, p0, kk, ta) }
	pb := func(dst []float32, p0, kk int) { packB(dst, b, k, n, p0, kk, tb) }
	for p0 := 0; p0 < k; p0 += kc {
		w.pass(c, pa, pb, m, n, p0, min(kc, k-p0), acc || p0 > 0, workers)
	}
}

// pass accumulates A[:, p0:p0+kk] B[p0:p0+kk, :] into c (or stores it when !acc). The
// workers take disjoint panels of mr rows of c: the split is over rows, never over k, and
// every tile is computed the same way whichever worker owns it.
func (w *Workspace) pass(c []float32, pa, pb packFunc, m, n, p0, kk int, acc bool, workers int) {
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
		w.tiles = append(w.tiles, [mr * nr]float32{})
	}
	run := func(wk, lo, hi int) {
		tile := &w.tiles[wk]
		for ip := lo; ip < hi; ip++ {
			i0 := ip * mr
			ap := &w.ap[ip*mr*k]
			rows := min(mr, m-i0)
			for jp := 0; jp < np; jp++ {
				j0 := jp * nr
				bp := &w.bp[jp*nr*k]
				cols := min(nr, n-j0)
				if rows == mr && cols == nr {
					kernel6x16(k, ap, bp, &c[i0*n+j0], n, acc)
					continue
				}
				kernel6x16(k, ap, bp, &tile[0], nr, false)
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
func packB(dst, b []float32, k, n, p0, kk int, tb bool) {
	np := (n + nr - 1) / nr
	for jp := 0; jp < np; jp++ {
		j0 := jp * nr
		cols := min(nr, n-j0)
		panel := dst[jp*nr*kk : (jp+1)*nr*kk]
		switch {
		case !tb && cols == nr:
			for p := 0; p < kk; p++ {
				off := (p0+p)*n + j0
				*(*[nr]float32)(panel[p*nr:]) = [nr]float32(b[off : off+nr])
			}
		case !tb:
			for p := 0; p < kk; p++ {
				row := panel[p*nr : p*nr+nr]
				copy(row, b[(p0+p)*n+j0:(p0+p)*n+j0+cols])
				clear(row[cols:])
			}
		case cols == nr:
			// read the nr rows of b side by side, in two halves of 8, so that the panel is
			// written sequentially
			for h := 0; h < nr; h += 8 {
				s0 := b[(j0+h)*k+p0 : (j0+h)*k+p0+kk]
				s1 := b[(j0+h+1)*k+p0:][:len(s0)]
				s2 := b[(j0+h+2)*k+p0:][:len(s0)]
				s3 := b[(j0+h+3)*k+p0:][:len(s0)]
				s4 := b[(j0+h+4)*k+p0:][:len(s0)]
				s5 := b[(j0+h+5)*k+p0:][:len(s0)]
				s6 := b[(j0+h+6)*k+p0:][:len(s0)]
				s7 := b[(j0+h+7)*k+p0:][:len(s0)]
				out := panel[:len(s0)*nr]
				for p := range s0 {
					o := (*[8]float32)(out[p*nr+h:])
					o[0], o[1], o[2], o[3] = s0[p], s1[p], s2[p], s3[p]
					o[4], o[5], o[6], o[7] = s4[p], s5[p], s6[p], s7[p]
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
func packA(dst, a []float32, m, k, p0, kk int, ta bool) {
	mp := (m + mr - 1) / mr
	for ip := 0; ip < mp; ip++ {
		i0 := ip * mr
		rows := min(mr, m-i0)
		panel := dst[ip*mr*kk : (ip+1)*mr*kk]
		if rows < mr {
			clear(panel)
		}
		if ta {
			for p := 0; p < kk; p++ {
				copy(panel[p*mr:p*mr+rows], a[(p0+p)*m+i0:(p0+p)*m+i0+rows])
			}
			continue
		}
		if rows == mr {
			// read the mr rows side by side so that the panel is written sequentially
			s0 := a[i0*k+p0 : i0*k+p0+kk]
			s1 := a[(i0+1)*k+p0:][:len(s0)]
			s2 := a[(i0+2)*k+p0:][:len(s0)]
			s3 := a[(i0+3)*k+p0:][:len(s0)]
			s4 := a[(i0+4)*k+p0:][:len(s0)]
			s5 := a[(i0+5)*k+p0:][:len(s0)]
			out := panel[:len(s0)*mr]
			for p := range s0 {
				o := (*[mr]float32)(out[p*mr:])
				o[0], o[1], o[2], o[3], o[4], o[5] = s0[p], s1[p], s2[p], s3[p], s4[p], s5[p]
			}
			continue
		}
		for p := 0; p < kk; p++ {
			o := panel[p*mr : p*mr+rows]
			for i := range o {
				o[i] = a[(i0+i)*k+p0+p]
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

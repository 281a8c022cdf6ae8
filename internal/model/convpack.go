package model

// The convolutions' GEMMs read the k x k patches of an image (im2col) as their right
// operand. For float32 the patches are built straight into the GEMM's packed panels
// (sgemm.PackB), so no patch matrix is written out and read back; the float64 path, which
// exists for exactness, not speed, writes the patch matrix and multiplies with gemm.

// convMul computes c (m x h*w) = a (m x ch*k*k) times the patches of x (ch, h, w) (c += when
// acc): a 'same' convolution with stride 1 of x by the kernels in a's rows.
func convMul[T float](c, a, x []T, m, ch, h, w, k int, acc bool, s *scratch[T]) {
	kk, hw := ch*k*k, h*w
	if cf, ok := any(c).([]float32); ok {
		xp := padImage(any(s.get(5, paddedSize(ch, h, w, k))).([]float32), any(x).([]float32), ch, h, w, k)
		pb := func(dst []float32, p0, rows, nr int) { packPatches(dst, xp, ch, h, w, k, p0, rows, nr) }
		any(s).(*scratch[float32]).ws.MulPackB(cf, any(a).([]float32), m, kk, hw, false, pb, acc, max(s.workers, 1))
		return
	}
	col := s.get(4, kk*hw)
	im2col(col, x, ch, h, w, k)
	gemm(c, a, col, m, kk, hw, false, false, acc, s)
}

// convMulT computes c (m x ch*k*k) = a (m x h*w) times the transposed patches of x (ch, h, w)
// (c += when acc): the weight gradient of a convolution from its output gradient a.
func convMulT[T float](c, a, x []T, m, ch, h, w, k int, acc bool, s *scratch[T]) {
	kk, hw := ch*k*k, h*w
	if cf, ok := any(c).([]float32); ok {
		xp := padImage(any(s.get(5, paddedSize(ch, h, w, k))).([]float32), any(x).([]float32), ch, h, w, k)
		pb := func(dst []float32, p0, rows, nr int) { packPatchesT(dst, xp, ch, h, w, k, p0, rows, nr) }
		any(s).(*scratch[float32]).ws.MulPackB(cf, any(a).([]float32), m, hw, kk, false, pb, acc, max(s.workers, 1))
		return
	}
	col := s.get(4, kk*hw)
	im2col(col, x, ch, h, w, k)
	gemm(c, a, col, m, hw, kk, false, true, acc, s)
}

// packSlack is how many values past the padded image packPatches may read (and ignore).
const packSlack = 16

// paddedSize is the length of padImage's output for a (ch, h, w) image and k x k patches.
func paddedSize(ch, h, w, k int) int { return ch*(h+k-1)*(w+k-1) + packSlack }

// padImage writes x (ch, h, w) with k/2 zeros on every side, (ch, h+k-1, w+k-1), followed by
// packSlack zeros into dst (paddedSize long) and returns it: every patch row then reads
// plain runs of it, with no bounds to check.
func padImage(dst, x []float32, ch, h, w, k int) []float32 {
	pad := k / 2
	hp, wp := h+k-1, w+k-1
	dst = dst[:paddedSize(ch, h, w, k)]
	for c := 0; c < ch; c++ {
		img := dst[c*hp*wp : (c+1)*hp*wp]
		clear(img[:pad*wp+pad])
		for i := 0; i < h; i++ {
			row := img[(i+pad)*wp+pad:]
			copy(row[:w], x[(c*h+i)*w:(c*h+i+1)*w])
			clear(row[w : w+2*pad]) // this row's right and the next row's left padding
		}
		clear(img[(h+pad)*wp+pad:])
	}
	clear(dst[ch*hp*wp:])
	return dst
}

// patchRun is a run of a panel's positions in one image row: panel columns [j, j+n), whose
// first position's top-left patch corner is at src in the padded image.
type patchRun struct{ j, n, src int }

// packPatches packs rows p0..p0+rows of the patch matrix of an image (ch, h, w) (im2col's
// (ch*k*k, h*w) layout: row (c, ki, kj), column (i, j) holds x[c, i+ki-k/2, j+kj-k/2], zero
// outside) as GEMM panels of nr columns (sgemm.PackB), reading xp, the image padded by
// padImage. A panel's positions fall into a few runs within image rows, and every run of a
// patch row is a plain copy from xp, done 16 values at a time: a copy may write past its run
// into values that a later run, row or panel (all written in increasing order) overwrites,
// and read up to 15 values past it (padImage's slack). The AVX2 kernel copies all but the
// last panel (whose last row has nothing after it to absorb a copy's overrun).
func packPatches(dst, xp []float32, ch, h, w, k, p0, rows, nr int) {
	hp, wp := h+k-1, w+k-1
	hw := h * w
	np := (hw + nr - 1) / nr
	var offBuf [256]int
	offs := offBuf[:0]
	for p, c, ki, kj := 0, p0/(k*k), (p0/k)%k, p0%k; p < rows; p++ {
		offs = append(offs, c*hp*wp+ki*wp+kj)
		if kj++; kj == k {
			kj = 0
			if ki++; ki == k {
				ki = 0
				c++
			}
		}
	}
	var buf [64]patchRun
	for jp := 0; jp < np; jp++ {
		q := jp * nr
		end := min(nr, hw-q) // columns past end are past the last position: zero
		runs := buf[:0]
		for j, i, jj := 0, q/w, q%w; j < end; i, jj = i+1, 0 {
			n := min(end-j, w-jj)
			runs = append(runs, patchRun{j, n, i*wp + jj})
			j += n
		}
		if hasPoolKernel && jp < np-1 && rows > 0 {
			packRunsAVX2(&dst[jp*rows*nr], &xp[0], &offs[0], rows, &runs[0], len(runs), nr)
			continue
		}
		for p, off := range offs {
			row := dst[(jp*rows+p)*nr:]
			for _, r := range runs {
				d, src := row[r.j:], xp[off+r.src:]
				t := 0
				for ; t < r.n && t+16 <= len(d); t += 16 {
					copy16(d[t:t+16], src[t:t+16])
				}
				if t < r.n {
					copy(d[t:r.n], src[t:r.n])
				}
			}
			clear(row[end:nr])
		}
	}
}

// packPatchesT packs rows p0..p0+rows of the transposed patch matrix of an image (ch, h, w)
// (h*w x ch*k*k: row (i, j), column (c, ki, kj) holds x[c, i+ki-k/2, j+kj-k/2], zero outside)
// as GEMM panels of nr columns (sgemm.PackB), reading xp, the image padded by padImage, where
// element (q, r) sits at pos(q) + idx(r). With AVX2, for nr a multiple of 8 (up to 64) and
// up to 256 rows, each panel row is gathered 8 values at a time; otherwise each column is
// written as a few runs of a padded image row, with stride nr.
func packPatchesT(dst, xp []float32, ch, h, w, k, p0, rows, nr int) {
	hp, wp := h+k-1, w+k-1
	kk := ch * k * k
	np := (kk + nr - 1) / nr
	i0, jj0 := p0/w, p0%w
	if hasPoolKernel && nr%8 == 0 && nr <= 64 && rows > 0 && rows <= 256 && len(xp) < 1<<31 {
		var pos [256]int32
		for p, i, jj := 0, i0, jj0; p < rows; p++ {
			pos[p] = int32(i*wp + jj)
			if jj++; jj == w {
				i, jj = i+1, 0
			}
		}
		var idx, mask [64]int32
		for jp := 0; jp < np; jp++ {
			for j := 0; j < nr; j++ {
				idx[j], mask[j] = 0, 0
				if r := jp*nr + j; r < kk {
					idx[j], mask[j] = int32((r/(k*k))*hp*wp+((r/k)%k)*wp+r%k), -1
				}
			}
			panel := dst[jp*nr*rows : (jp+1)*nr*rows]
			gatherRowsAVX2(&panel[0], &xp[0], &idx[0], &mask[0], &pos[0], rows, nr)
		}
		return
	}
	for jp := 0; jp < np; jp++ {
		panel := dst[jp*nr*rows : (jp+1)*nr*rows]
		for j := 0; j < nr; j++ {
			out := panel[j:]
			r := jp*nr + j
			if r >= kk {
				for p := 0; p < rows; p++ {
					out[p*nr] = 0
				}
				continue
			}
			base := (r/(k*k))*hp*wp + ((r/k)%k)*wp + r%k
			for p, i, jj := 0, i0, jj0; p < rows; i, jj = i+1, 0 {
				n := min(rows-p, w-jj)
				o := out[p*nr:]
				for t, v := range xp[base+i*wp+jj:][:n] {
					o[t*nr] = v
				}
				p += n
			}
		}
	}
}

// copy16 copies 16 values as four 16-byte moves: inline, where a 64-byte array copy or copy()
// would call memmove.
func copy16(d, s []float32) {
	d, s = d[:16], s[:16]
	*(*[4]float32)(d[0:]) = *(*[4]float32)(s[0:])
	*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
	*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
}

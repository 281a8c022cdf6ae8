package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the fused convolution stack: blocks of Conv (k x k, stride 1, 'same'
// padding) -> BatchNorm -> ReLU -> MaxPool (p x p, stride p) over NCHW inputs, computed by one
// Gorgonia op. Convolutions are per-sample im2col products on the fast GEMM (for float32 the
// patches are packed straight into the GEMM's panels, convpack.go), split over the batch
// across GOMAXPROCS goroutines; the backward pass is shared by the gradient ops like the
// dense stack's. Per sample and block, the forward pass pools the raw conv output while it is
// in cache (BatchNorm and ReLU are monotone per channel) and keeps it for the backward pass,
// which recomputes BatchNorm's xhat from it instead of storing xhat.
//
// Determinism: a stack computes the same bits at any GOMAXPROCS. The goroutines only decide
// who computes what, never how a floating-point sum is grouped: everything computed per
// sample (im2col products, pooling, normalisation, input gradients, each sample's BatchNorm
// partial sums, each in a fixed order of its own) is written to that sample's own slots; the
// BatchNorm sums over the batch add the per-sample partials in sample order; the weight
// gradients are summed within fixed chunks of samples (gradChunks, set by the batch size
// alone) and the chunks' partials are then added in chunk order.

// convBlock is one block of a conv stack.
type convBlock struct {
	c, h, w  int // input channels and size
	out      int // output channels
	k, pool  int
	bn       *BNState
	wIdx     int // position of W (b, gamma, beta follow) among the op's inputs
	name     string
	oh, ow   int // size after pooling
	kk, hw   int // c*k*k and h*w
	pooledHW int
}

type convStackOp struct {
	baseOp
	blocks   []convBlock
	training bool

	cache  any
	gen    int64
	bgen   int64
	inputs []G.Value
}

func newConvStackOp(name string, blocks []convBlock, training bool) *convStackOp {
	mode := "eval"
	if training {
		mode = "train"
	}
	for i := range blocks {
		b := &blocks[i]
		b.wIdx = 1 + 4*i
		b.kk = b.c * b.k * b.k
		b.hw = b.h * b.w
		b.oh, b.ow = b.h/b.pool, b.w/b.pool
		b.pooledHW = b.oh * b.ow
	}
	return &convStackOp{baseOp: newBase("conv(" + name + "," + mode + ")"), blocks: blocks, training: training}
}

func (op *convStackOp) outSize() int {
	l := op.blocks[len(op.blocks)-1]
	return l.out * l.pooledHW
}

func (op *convStackOp) Arity() int { return 1 + 4*len(op.blocks) }
func (op *convStackOp) Type() hm.Type {
	ts := []hm.Type{tensorType(2)}
	for range op.blocks {
		ts = append(ts, tensorType(4), tensorType(1), tensorType(1), tensorType(1))
	}
	return hm.NewFnType(append(ts, tensorType(2))...)
}
func (op *convStackOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.outSize()}, nil
}

// convCache holds a training forward pass's intermediates and reusable buffers.
type convCache[T float] struct {
	n    int
	acts [][]T     // acts[l]: input of block l, (n, c, h, w); acts[L] the output
	z    [][]T     // raw conv outputs (n, out, hw), without the bias (BatchNorm cancels it)
	arg  [][]int32 // position in its channel of every pooling window's chosen value, (n, out, pooledHW)
	inv  [][]float64
	// per-block affine maps of BatchNorm: xhat = z*scale + shift (training: the batch's)
	scale, shift [][]T
	grads        [][]T // per op input (index 0 unused: the data input needs no gradient)
	// per-sample BatchNorm partial sums (n, 2*channels), per-channel coefficients, reused
	sampleSums []float64
	kc, ks, kx []T
	ws         []*scratch[T] // one per worker
	wflip      []T           // a block's kernel flipped and channel-swapped (input gradient)
	dAct       [][]T
	dwPar      [][]T // one weight-gradient partial per chunk of samples (gradChunks)
}

// gradChunks is the most chunks a batch's samples are cut into for the weight gradients:
// each chunk sums its samples' contributions in sample order, then the chunks' partials are
// added in chunk order. The chunks depend on the batch size only, never on GOMAXPROCS, so the
// gradient's rounding is the same however many workers share the chunks; 16 keeps up to 16
// cores busy at the cost of 16 small partial buffers per layer.
const gradChunks = 16

// numChunks is how many gradient chunks a batch of n samples is cut into.
func numChunks(n int) int { return max(1, min(n, gradChunks)) }

// chunkBounds returns the samples [lo, hi) of chunk i of n samples cut into nc chunks.
func chunkBounds(n, nc, i int) (lo, hi int) { return i * n / nc, (i + 1) * n / nc }

// workers is how many goroutines share a loop over n items: GOMAXPROCS, at most n.
func workers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// scratchFor returns the number of workers for loops over n items (read once per pass, as
// GOMAXPROCS may change at any time) and makes sure there is a GEMM scratch for each.
func (c *convCache[T]) scratchFor(n int) int {
	nw := workers(n)
	for len(c.ws) < nw {
		c.ws = append(c.ws, &scratch[T]{})
	}
	return nw
}

// parallelFor runs f(w, lo, hi) over [0, n) split into contiguous ranges, one per worker w
// of min(nw, n). The split depends on GOMAXPROCS, so f must compute each index's result the
// same way wherever the range boundaries fall: write per-index outputs, and never sum across
// indices into a per-worker accumulator (use per-index slots or fixed chunks instead).
func parallelFor(nw, n int, f func(w, lo, hi int)) {
	nw = max(1, min(nw, n))
	if nw == 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < nw; w++ {
		lo, hi := w*n/nw, (w+1)*n/nw
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, lo, hi)
		}()
	}
	wg.Wait()
}

func (op *convStackOp) Do(vals ...G.Value) (G.Value, error) {
	x := dense(vals[0], op.name)
	n := x.Shape()[0]
	b0 := op.blocks[0]
	if x.Shape()[1] != b0.c*b0.hw {
		return nil, fmt.Errorf("%s: input has %d values per sample, want %d", op.name, x.Shape()[1], b0.c*b0.hw)
	}
	out := newLike(x.Dtype(), n, op.outSize())
	switch x.Dtype() {
	case tensor.Float32:
		convForward[float32](op, vals, n, out)
	case tensor.Float64:
		convForward[float64](op, vals, n, out)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
	}
	return out, nil
}

// convForward runs the stack on a batch of n samples into outT. Per block, each sample's
// convolution, its BatchNorm partial sums and its pooling run back to back while the
// sample's conv output is in cache: BatchNorm's map and ReLU are monotone per channel, so the
// window maxima of the block's output sit where the raw conv output is largest (smallest
// when gamma < 0), which is known before the batch statistics are. Once they are, only the
// pooled values go through BatchNorm and ReLU.
func convForward[T float](op *convStackOp, vals []G.Value, n int, outT *tensor.Dense) {
	c, _ := op.cache.(*convCache[T])
	L := len(op.blocks)
	if c == nil || c.n != n {
		c = &convCache[T]{n: n}
		c.acts = make([][]T, L+1)
		c.z = make([][]T, L)
		c.arg = make([][]int32, L)
		c.inv = make([][]float64, L)
		c.scale, c.shift = make([][]T, L), make([][]T, L)
		for i, b := range op.blocks {
			c.z[i] = make([]T, n*b.out*b.hw)
			c.arg[i] = make([]int32, n*b.out*b.pooledHW)
			c.inv[i] = make([]float64, b.out)
			c.scale[i], c.shift[i] = make([]T, b.out), make([]T, b.out)
			c.acts[i+1] = make([]T, n*b.out*b.pooledHW)
		}
		op.cache = c
	}
	nw := c.scratchFor(n)
	op.gen++
	op.inputs = append(op.inputs[:0], vals...)
	c.acts[0] = data[T](vals[0], op.name) // a data input: untouched until the next step
	for i, b := range op.blocks {
		w := data[T](vals[b.wIdx], op.name)
		bias := data[T](vals[b.wIdx+1], op.name)
		gamma, beta := data[T](vals[b.wIdx+2], op.name), data[T](vals[b.wIdx+3], op.name)
		in, z, next, arg := c.acts[i], c.z[i], c.acts[i+1], c.arg[i]
		// per sample, per channel: sum and sum of squares of z - bias (shifted moments),
		// summed over the batch in sample order below; evaluation needs none
		var mom []float64
		if op.training {
			mom = growF64(&c.sampleSums, n*2*b.out)
		}
		parallelFor(nw, n, func(wk, lo, hi int) {
			for s := lo; s < hi; s++ {
				zs := z[s*b.out*b.hw : (s+1)*b.out*b.hw]
				convMul(zs, w, in[s*b.c*b.hw:(s+1)*b.c*b.hw], b.out, b.c, b.h, b.w, b.k, false, c.ws[wk])
				// the raw maxima go into the output for now; finished below
				poolRaw(next[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW], arg[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW],
					zs, gamma, b.out, b.h, b.w, b.pool)
				if mom == nil {
					continue
				}
				ms := mom[s*2*b.out : (s+1)*2*b.out]
				for ch := 0; ch < b.out; ch++ {
					ps, pq := moments(zs[ch*b.hw : (ch+1)*b.hw])
					ms[2*ch], ms[2*ch+1] = float64(ps), float64(pq)
				}
			}
		})
		// the bias shifts z and its mean alike, so it cancels in BatchNorm's output; it only
		// enters the running mean
		scale, shift := c.scale[i], c.shift[i]
		rm, rv := b.bn.mean.Data().([]T), b.bn.variance.Data().([]T)
		if op.training {
			cnt := float64(n * b.hw)
			m := b.bn.Momentum
			tot := sumSamples(mom, n, 2*b.out)
			for ch := 0; ch < b.out; ch++ {
				sum, sq := tot[2*ch], tot[2*ch+1]
				mean := sum / cnt
				v := max(sq/cnt-mean*mean, 0)
				inv := 1 / math.Sqrt(v+b.bn.Eps)
				c.inv[i][ch] = inv
				rm[ch] = runningStat(rm[ch], m, mean+float64(bias[ch]))
				unbiased := v
				if cnt > 1 {
					unbiased = v * cnt / (cnt - 1)
				}
				rv[ch] = runningStat(rv[ch], m, unbiased)
				scale[ch], shift[ch] = T(inv), T(-mean*inv) // xhat = z*scale + shift
			}
		} else {
			for ch := 0; ch < b.out; ch++ {
				inv := 1 / math.Sqrt(float64(rv[ch])+b.bn.Eps)
				scale[ch], shift[ch] = T(inv), T((float64(bias[ch])-float64(rm[ch]))*inv)
			}
		}
		parallelFor(nw, n, func(_, lo, hi int) {
			for s := lo; s < hi; s++ {
				for ch := 0; ch < b.out; ch++ {
					o := (s*b.out + ch) * b.pooledHW
					normRelu(next[o:o+b.pooledHW], scale[ch], shift[ch], gamma[ch], beta[ch])
				}
			}
		})
	}
	copy(outT.Data().([]T), c.acts[L])
}

// moments returns the sum and the sum of squares of z. The float32 sums run on the AVX2
// kernel in eight interleaved lanes (z[j] goes to lane j%8), added in lane order, then the
// values past the last group of 8 are added in order; otherwise in four lanes likewise. The
// grouping is fixed, so the bits are the same every time, and no single long chain of
// dependent additions holds the loop up.
func moments[T float](z []T) (sum, sq T) {
	j := 0
	if f, ok := any(z).([]float32); ok && hasFMAKernel && len(f) >= 8 {
		var l [16]float32
		j = len(f) &^ 7
		momentsAVX2(&f[0], j, &l)
		var s, q float32
		for i := 0; i < 8; i++ {
			s += l[i]
			q += l[8+i]
		}
		sum, sq = T(s), T(q)
		for _, v := range z[j:] {
			sum += v
			sq += v * v
		}
		return sum, sq
	}
	var s0, s1, s2, s3, q0, q1, q2, q3 T
	for ; j+4 <= len(z); j += 4 {
		v := (*[4]T)(z[j:])
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		q0 += v[0] * v[0]
		q1 += v[1] * v[1]
		q2 += v[2] * v[2]
		q3 += v[3] * v[3]
	}
	for ; j < len(z); j++ {
		v := z[j]
		switch j % 4 {
		case 0:
			s0, q0 = s0+v, q0+v*v
		case 1:
			s1, q1 = s1+v, q1+v*v
		default:
			s2, q2 = s2+v, q2+v*v
		}
	}
	return ((s0 + s1) + s2) + s3, ((q0 + q1) + q2) + q3
}

// sumSamples adds the n per-sample rows of width w in per (n, w) in sample order into the
// first row, which it returns: the same order and rounding whatever the worker split that
// filled them.
func sumSamples(per []float64, n, w int) []float64 {
	tot := per[:w]
	for s := 1; s < n; s++ {
		for j, v := range per[s*w : (s+1)*w] {
			tot[j] += v
		}
	}
	return tot
}

func growF64(p *[]float64, n int) []float64 {
	if cap(*p) < n {
		*p = make([]float64, n)
	}
	*p = (*p)[:n]
	clear(*p)
	return *p
}

func growT[T float](p *[]T, n int) []T {
	if cap(*p) < n {
		*p = make([]T, n)
	}
	*p = (*p)[:n]
	return *p
}

// normRelu finishes pooled values of one channel in place: a raw conv output z becomes the
// block's output max(gamma*(z*scale + shift) + beta, 0).
func normRelu[T float](d []T, sc, sh, g, bt T) {
	if f, ok := any(d).([]float32); ok {
		// ReLU on the bits: a set sign bit (negative or -0) gives +0, with no branch and
		// none of the builtin max's NaN and signed-zero handling
		c0, c1, c2, c3 := float32(sc), float32(sh), float32(g), float32(bt)
		for j, v := range f {
			y := math.Float32bits(c2*(v*c0+c1) + c3)
			f[j] = math.Float32frombits(y &^ uint32(int32(y)>>31))
		}
		return
	}
	for j, v := range d {
		d[j] = max(g*(v*sc+sh)+bt, 0)
	}
}

// poolRaw pools the raw conv outputs z (c, h, w) of one sample over p x p windows (stride p;
// rows and columns past the last whole window are in none): per channel it writes into dst
// the value of z where the block's output g*xhat + beta is largest, and its position in the
// channel into arg. BatchNorm's map to xhat is increasing, so that is z's maximum when the
// channel's gamma g > 0, its minimum when g < 0 (the first in row order on ties), and the
// window's first value when g = 0 (all equal then).
func poolRaw[T float](dst []T, arg []int32, z, gamma []T, c, h, w, p int) {
	oh, ow := h/p, w/p
	for ch := 0; ch < c; ch++ {
		img := z[ch*h*w : (ch+1)*h*w]
		o := ch * oh * ow
		d, a := dst[o:o+oh*ow], arg[o:o+oh*ow]
		g := gamma[ch]
		if f, ok := any(img).([]float32); ok && p == 2 && g > 0 {
			df := any(d).([]float32)
			for i := 0; i < oh; i++ {
				pool2x2Max(df[i*ow:(i+1)*ow], a[i*ow:(i+1)*ow], f[2*i*w:(2*i+1)*w], f[(2*i+1)*w:(2*i+2)*w], int32(2*i*w), int32(w))
			}
			continue
		}
		poolGeneric(d, a, img, g, h, w, p)
	}
}

// pool2x2Max writes the maxima of len(d) 2x2 windows of the rows r0, r1 into d and their
// positions (base + 2j + {0, 1, w, w+1}, the first on ties) into a. The AVX2 kernel takes
// groups of 8 windows; a ragged end is one more group overlapping the last (the rows are only
// read, so windows computed twice come out the same), and rows of fewer than 8 windows take
// the branch-free loop.
func pool2x2Max(d []float32, a []int32, r0, r1 []float32, base, w int32) {
	n := len(d)
	r0, r1, a = r0[:2*n], r1[:2*n], a[:n]
	if hasPoolKernel && n >= 8 {
		full := n &^ 7
		pool2x2MaxAVX2(&d[0], &a[0], &r0[0], &r1[0], full, base, w)
		if full < n {
			s := n - 8
			pool2x2MaxAVX2(&d[s], &a[s], &r0[2*s], &r1[2*s], 8, base+int32(2*s), w)
		}
		return
	}
	for j := 0; j < n; j++ {
		a0, a1, b0, b1 := r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1]
		// select with masks from the comparisons (the compiler sets them without branches,
		// so random data costs no mispredictions); ties keep the first, as in the kernel
		ta, tb, c := b2u(a1 > a0), b2u(b1 > b0), uint32(0)
		ua, ub := math.Float32bits(a0), math.Float32bits(b0)
		ua ^= (ua ^ math.Float32bits(a1)) & -ta
		ub ^= (ub ^ math.Float32bits(b1)) & -tb
		if math.Float32frombits(ub) > math.Float32frombits(ua) {
			c = 1
		}
		d[j] = math.Float32frombits(ua ^ ((ua ^ ub) & -c))
		a[j] = base + int32(2*j) + int32(ta) + int32(c)*(w+int32(tb)-int32(ta))
	}
}

// b2u is 1 for true and 0 for false.
func b2u(b bool) uint32 {
	var u uint32
	if b {
		u = 1
	}
	return u
}

// poolGeneric is poolRaw for one channel: per p x p window of z (h, w), the value and
// position of the maximum (g > 0), the minimum (g < 0) or the first value (g = 0), the first
// in row order on ties.
func poolGeneric[T float](d []T, a []int32, z []T, g T, h, w, p int) {
	oh, ow := h/p, w/p
	for i := 0; i < oh; i++ {
		for j := 0; j < ow; j++ {
			best := int32((i*p)*w + j*p)
			bv := z[best]
			for di := 0; di < p && g != 0; di++ {
				for dj := 0; dj < p; dj++ {
					idx := int32((i*p+di)*w + j*p + dj)
					if v := z[idx]; (g > 0 && v > bv) || (g < 0 && v < bv) {
						best, bv = idx, v
					}
				}
			}
			d[i*ow+j] = bv
			a[i*ow+j] = best
		}
	}
}

// poolBackward returns, for one channel of one sample, the sums over its windows of the
// routed gradient v (the output gradient dOut where the block's output out is positive, as
// ReLU passes nothing else; 0 elsewhere) and of v*xhat at the window's chosen position, xhat
// = z*sc + sh. BatchNorm's backward needs both.
func poolBackward[T float](dOut, out []T, arg []int32, z []T, sc, sh T) (sdy, sdyx T) {
	if f, ok := any(dOut).([]float32); ok {
		a, b := poolBackwardF32(f, any(out).([]float32), arg, any(z).([]float32), float32(sc), float32(sh))
		return T(a), T(b)
	}
	out = out[:len(arg)]
	for q, pos := range arg {
		if out[q] > 0 {
			v := dOut[q]
			sdy += v
			sdyx += v * (z[pos]*sc + sh)
		}
	}
	return sdy, sdyx
}

// poolBackwardF32 is poolBackward without branches: ReLU's outputs are +0 or positive, so
// the mask is whether the output's bits are non-zero. The sums run in four interleaved lanes
// (window q goes to lane q%4), added in lane order at the end: a fixed grouping, so the same
// bits every time, without one long chain of dependent additions.
func poolBackwardF32(dOut, out []float32, arg []int32, z []float32, sc, sh float32) (sdy, sdyx float32) {
	dOut, out = dOut[:len(arg)], out[:len(arg)]
	var s, x [4]float32
	for q, pos := range arg {
		y := math.Float32bits(out[q])
		v := dOut[q] * float32((y|-y)>>31)
		s[q&3] += v
		x[q&3] += v * (z[pos]*sc + sh)
	}
	return ((s[0] + s[1]) + s[2]) + s[3], ((x[0] + x[1]) + x[2]) + x[3]
}

// bnBackwardSample writes BatchNorm's input gradient of one sample into dz (c, hw):
//
//	dz = kc*v - ks - kx*xhat,  xhat = z*sc + sh
//
// per channel, with v the routed gradient (poolBackward) at each window's chosen position and
// 0 elsewhere, computed as dz = c0 - z*c1 everywhere (the constants folded: c0 = -ks - sh*kx,
// c1 = sc*kx), then + kc*v at the chosen positions.
func bnBackwardSample[T float](dz, z, dOut, out []T, arg []int32, kc, ks, kx, sc, sh []T, c, hw, phw int) {
	for ch := 0; ch < c; ch++ {
		c1 := sc[ch] * kx[ch]
		c0 := -ks[ch] - sh[ch]*kx[ch]
		a1 := kc[ch]
		row, zr := dz[ch*hw:(ch+1)*hw], z[ch*hw:(ch+1)*hw]
		affine(row, zr, c0, c1)
		o := ch * phw
		ar, dr, or := arg[o:o+phw], dOut[o:o+phw], out[o:o+phw]
		dr, or = dr[:len(ar)], or[:len(ar)]
		for q, pos := range ar {
			if or[q] > 0 {
				row[pos] += a1 * dr[q]
			}
		}
	}
}

// affine writes dst[i] = c0 - src[i]*c1 with one rounding (fused multiply-add), on the AVX2
// kernel where it can.
func affine[T float](dst, src []T, c0, c1 T) {
	dst = dst[:len(src)]
	j := 0
	if d, ok := any(dst).([]float32); ok && hasFMAKernel && len(src) >= 8 {
		j = len(src) &^ 7
		affineAVX2(&d[0], &any(src).([]float32)[0], j, float32(c0), float32(c1))
	}
	for ; j < len(src); j++ {
		dst[j] = T(math.FMA(-float64(src[j]), float64(c1), float64(c0)))
	}
}

// im2col writes the k x k patches (zero-padded by k/2) of a (c, h, w) image as a
// (c*k*k, h*w) matrix: row (ch, ki, kj), column (i, j) holds x[ch, i+ki-k/2, j+kj-k/2].
func im2col[T float](dst, x []T, c, h, w, k int) {
	pad := k / 2
	hw := h * w
	for ch := 0; ch < c; ch++ {
		img := x[ch*hw : (ch+1)*hw]
		for ki := 0; ki < k; ki++ {
			for kj := 0; kj < k; kj++ {
				row := dst[((ch*k+ki)*k+kj)*hw : ((ch*k+ki)*k+kj+1)*hw]
				dj := kj - pad
				for i := 0; i < h; i++ {
					si := i + ki - pad
					out := row[i*w : (i+1)*w]
					if si < 0 || si >= h {
						clear(out)
						continue
					}
					src := img[si*w : (si+1)*w]
					lo, hi := max(0, -dj), min(w, w-dj)
					clear(out[:lo])
					copy(out[lo:hi], src[lo+dj:hi+dj])
					clear(out[hi:])
				}
			}
		}
	}
}

func (op *convStackOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := 1; i < n; i++ {
		out[i] = true
	}
	return out
}

func (op *convStackOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.training {
		return nil, fmt.Errorf("%s: no gradient in evaluation mode", op.name)
	}
	out := make(G.Nodes, len(inputs))
	for i := 1; i < len(inputs); i++ {
		g, err := G.ApplyOp(&convGradOp{baseOp: newBase(fmt.Sprintf("%s.d%d", op.name, i)), fwd: op, which: i}, grad)
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// convGradOp stands for one parameter's gradient of a conv stack in the graph; the first
// to run in a step computes all of them into the stack's cache, where gradOf reads them.
type convGradOp struct {
	baseOp
	fwd   *convStackOp
	which int
	stand *tensor.Dense
}

func (op *convGradOp) Arity() int { return 1 }
func (op *convGradOp) shape() tensor.Shape {
	b := op.fwd.blocks[(op.which-1)/4]
	if (op.which-1)%4 == 0 {
		return tensor.Shape{b.out, b.c, b.k, b.k}
	}
	return tensor.Shape{b.out}
}
func (op *convGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(op.shape().Dims()))
}
func (op *convGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }

func (op *convGradOp) Do(vals ...G.Value) (G.Value, error) {
	dy := dense(vals[0], op.name)
	switch dy.Dtype() {
	case tensor.Float32:
		convBackward[float32](op.fwd, dy.Data().([]float32))
	case tensor.Float64:
		convBackward[float64](op.fwd, dy.Data().([]float64))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	// the gradient is read from the cache (gradOf); the graph gets a stand-in
	if op.stand == nil {
		op.stand = newLike(dy.Dtype(), op.shape()...)
	}
	return op.stand, nil
}

// gradOf returns the gradient of the stack's input i computed by the last backward pass.
func (op *convStackOp) gradOf(i int) any {
	switch c := op.cache.(type) {
	case *convCache[float32]:
		return c.grads[i]
	case *convCache[float64]:
		return c.grads[i]
	}
	return nil
}

// convBackward computes every parameter gradient of a conv stack from the output gradient:
// max-pool routes each window's gradient to its chosen position, ReLU masks it, BatchNorm
// backward as in bnBackward2D per channel over (n, hw), then for every sample
//
//	db += sum dz,  dW += dz patches(in)^T,  dIn = flip(W) * patches(dz) (all but the first block)
//
// The input gradient of a stride-1 'same' convolution (odd k) is the 'same' convolution of
// dz with the kernel flipped in space and with input and output channels swapped, so it runs
// on the same fused patch packing as the forward pass, with no col2im.
func convBackward[T float](op *convStackOp, dy []T) [][]T {
	c := op.cache.(*convCache[T])
	if op.bgen == op.gen {
		return c.grads
	}
	n := c.n
	L := len(op.blocks)
	nc := numChunks(n)
	nw := c.scratchFor(n)
	if c.grads == nil {
		c.grads = make([][]T, 1+4*L)
		c.dAct = make([][]T, L+1)
		for i, b := range op.blocks {
			c.grads[b.wIdx] = make([]T, b.out*b.kk)
			for j := 1; j < 4; j++ {
				c.grads[b.wIdx+j] = make([]T, b.out)
			}
			if i > 0 {
				c.dAct[i] = make([]T, n*b.c*b.hw)
			}
		}
		c.dwPar = make([][]T, nc)
	}
	c.dAct[L] = dy // only read, before this op returns
	for i := L - 1; i >= 0; i-- {
		b := op.blocks[i]
		dOut, out, arg, z := c.dAct[i+1], c.acts[i+1], c.arg[i], c.z[i]
		sc, sh := c.scale[i], c.shift[i]
		gamma := data[T](op.inputs[b.wIdx+2], op.name)
		// max-pool and ReLU backward: the BatchNorm sums need only the windows' chosen
		// positions (per sample, summed over the batch in sample order below)
		per := growF64(&c.sampleSums, n*2*b.out)
		parallelFor(nw, n, func(wk, lo, hi int) {
			for s := lo; s < hi; s++ {
				sums := per[s*2*b.out : (s+1)*2*b.out]
				for ch := 0; ch < b.out; ch++ {
					base := (s*b.out + ch) * b.hw
					o := (s*b.out + ch) * b.pooledHW
					sdy, sdyx := poolBackward(dOut[o:o+b.pooledHW], out[o:o+b.pooledHW], arg[o:o+b.pooledHW], z[base:base+b.hw], sc[ch], sh[ch])
					sums[2*ch], sums[2*ch+1] = float64(sdy), float64(sdyx)
				}
			}
		})
		dgamma, dbeta, db := c.grads[b.wIdx+2], c.grads[b.wIdx+3], c.grads[b.wIdx+1]
		cnt := float64(n * b.hw)
		kc, ks, kx := growT(&c.kc, b.out), growT(&c.ks, b.out), growT(&c.kx, b.out)
		tot := sumSamples(per, n, 2*b.out)
		for ch := 0; ch < b.out; ch++ {
			sdy, sdyx := tot[2*ch], tot[2*ch+1]
			dgamma[ch], dbeta[ch] = T(sdyx), T(sdy)
			k := float64(gamma[ch]) * c.inv[i][ch] / cnt
			kc[ch], ks[ch], kx[ch] = T(k*cnt), T(k*sdy), T(k*sdyx)
			// the bias before BatchNorm has no effect on the loss: its exact gradient is 0
			db[ch] = 0
		}
		w := data[T](op.inputs[b.wIdx], op.name)
		var wflip, dIn []T
		if i > 0 {
			dIn = c.dAct[i]
			wflip = growT(&c.wflip, b.c*b.out*b.k*b.k)
			flipKernel(wflip, w, b.out, b.c, b.k)
		}
		for k := range c.dwPar {
			growT(&c.dwPar[k], b.out*b.kk)
		}
		// the workers share the fixed chunks; a chunk's samples add into its own partial in
		// sample order (the first one stores)
		parallelFor(nw, nc, func(wk, c0, c1 int) {
			ws := c.ws[wk]
			for ci := c0; ci < c1; ci++ {
				lo, hi := chunkBounds(n, nc, ci)
				for s := lo; s < hi; s++ {
					convSampleBackward(b, wflip, c.acts[i], dIn, z, dOut, out, arg, kc, ks, kx, sc, sh, c.dwPar[ci], s, s > lo, ws)
				}
			}
		})
		// sum the chunks' dW in chunk order
		dw := c.grads[b.wIdx]
		copy(dw, c.dwPar[0])
		for _, p := range c.dwPar[1:nc] {
			for j, v := range p {
				dw[j] += v
			}
		}
	}
	c.dAct[L] = nil
	op.bgen = op.gen
	return c.grads
}

// flipKernel writes the kernel w (out, c, k, k) flipped in space with its channels swapped
// into dst (c, out, k, k): dst[ch, o, ki, kj] = w[o, ch, k-1-ki, k-1-kj].
func flipKernel[T float](dst, w []T, out, c, k int) {
	kk := k * k
	for ch := 0; ch < c; ch++ {
		for o := 0; o < out; o++ {
			src := w[(o*c+ch)*kk : (o*c+ch+1)*kk]
			d := dst[(ch*out+o)*kk : (ch*out+o+1)*kk]
			for j := range d {
				d[j] = src[kk-1-j]
			}
		}
	}
}

// convSampleBackward writes BatchNorm's input gradient dz of sample s of block b into the
// worker's scratch (from the per-channel coefficients kc, ks, kx), adds (or with !acc
// stores) its weight gradient dz patches(in)^T into dw (out x kk) and, when dIn is set,
// writes its input gradient flip(W) * patches(dz).
func convSampleBackward[T float](b convBlock, wflip, in, dIn, z, dOut, out []T, arg []int32, kc, ks, kx, sc, sh, dw []T, s int, acc bool, ws *scratch[T]) {
	dz := ws.get(3, b.out*b.hw)
	o, po := s*b.out*b.hw, s*b.out*b.pooledHW
	bnBackwardSample(dz, z[o:o+b.out*b.hw], dOut[po:po+b.out*b.pooledHW], out[po:po+b.out*b.pooledHW], arg[po:po+b.out*b.pooledHW],
		kc, ks, kx, sc, sh, b.out, b.hw, b.pooledHW)
	convMulT(dw, dz, in[s*b.c*b.hw:(s+1)*b.c*b.hw], b.out, b.c, b.h, b.w, b.k, acc, ws)
	if dIn != nil {
		convMul(dIn[s*b.c*b.hw:(s+1)*b.c*b.hw], wflip, dz, b.c, b.out, b.h, b.w, b.k, false, ws)
	}
}

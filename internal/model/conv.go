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
// Gorgonia op. Convolutions are per-sample im2col products on the fast GEMM, split over the
// batch across GOMAXPROCS goroutines; the backward pass is shared by the gradient ops like
// the dense stack's.
//
// Determinism: a stack computes the same bits at any GOMAXPROCS. The goroutines only decide
// who computes what, never how a floating-point sum is grouped: everything computed per
// sample (im2col products, normalisation, pooling, input gradients, each sample's BatchNorm
// partial sums) is written to that sample's own slots; the BatchNorm sums over the batch add
// the per-sample partials in sample order; the weight gradients are summed within fixed
// chunks of samples (gradChunks, set by the batch size alone) and the chunks' partials are
// then added in chunk order.

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
	n     int
	acts  [][]T     // acts[l]: input of block l, (n, c, h, w); acts[L] the output
	xhat  [][]T     // BatchNorm-normalised conv outputs (n, out, hw); the raw outputs before
	arg   [][]int32 // argmax of every pooling window, (n, out, pooledHW)
	inv   [][]float64
	grads [][]T // per op input (index 0 unused: the data input needs no gradient)
	// per-sample BatchNorm partial sums (n, 2*channels), per-channel affine maps, reused
	sampleSums       []float64
	scale, shift, kx []T
	ws               []*scratch[T] // one per worker
	dPre             []T
	dAct             [][]T
	dwPar            [][]T // one weight-gradient partial per chunk of samples (gradChunks)
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

func convForward[T float](op *convStackOp, vals []G.Value, n int, outT *tensor.Dense) {
	c, _ := op.cache.(*convCache[T])
	L := len(op.blocks)
	if c == nil || c.n != n {
		c = &convCache[T]{n: n}
		c.acts = make([][]T, L+1)
		c.xhat = make([][]T, L)
		c.arg = make([][]int32, L)
		c.inv = make([][]float64, L)
		for i, b := range op.blocks {
			c.xhat[i] = make([]T, n*b.out*b.hw)
			c.arg[i] = make([]int32, n*b.out*b.pooledHW)
			c.inv[i] = make([]float64, b.out)
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
		in, z := c.acts[i], c.xhat[i]
		// per sample, per channel: sum and sum of squares of z - bias (shifted moments),
		// summed over the batch in sample order below; evaluation needs none
		var mom []float64
		if op.training {
			mom = growF64(&c.sampleSums, n*2*b.out)
		}
		parallelFor(nw, n, func(wk, lo, hi int) {
			for s := lo; s < hi; s++ {
				// the patches stay in this worker's cache-sized buffer; backward rebuilds them
				col := c.ws[wk].get(4, b.kk*b.hw)
				im2col(col, in[s*b.c*b.hw:(s+1)*b.c*b.hw], b.c, b.h, b.w, b.k)
				zs := z[s*b.out*b.hw : (s+1)*b.out*b.hw]
				gemm(zs, w, col, b.out, b.kk, b.hw, false, false, false, c.ws[wk])
				if mom == nil {
					continue
				}
				ms := mom[s*2*b.out : (s+1)*2*b.out]
				for ch := 0; ch < b.out; ch++ {
					var ps, pq T
					for _, v := range zs[ch*b.hw : (ch+1)*b.hw] {
						ps += v
						pq += v * v
					}
					ms[2*ch], ms[2*ch+1] = float64(ps), float64(pq)
				}
			}
		})
		// the bias shifts z and its mean alike, so it cancels in BatchNorm's output; it only
		// enters the running mean
		scale, shift := growT(&c.scale, b.out), growT(&c.shift, b.out)
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
		next, arg := c.acts[i+1], c.arg[i]
		parallelFor(nw, n, func(_, lo, hi int) {
			for s := lo; s < hi; s++ {
				normReluPool(next[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW], arg[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW],
					z[s*b.out*b.hw:(s+1)*b.out*b.hw], scale, shift, gamma, beta, b.out, b.h, b.w, b.pool)
			}
		})
	}
	copy(outT.Data().([]T), c.acts[L])
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

// normReluPool finishes a block for one sample: z (c, h, w) becomes xhat = z*scale + shift in
// place (per channel), the block output y = gamma*xhat + beta goes through ReLU and p x p max
// pooling into dst, and arg records each window's maximum position (the first on ties).
func normReluPool[T float](dst []T, arg []int32, z, scale, shift, gamma, beta []T, c, h, w, p int) {
	oh, ow := h/p, w/p
	for ch := 0; ch < c; ch++ {
		img := z[ch*h*w : (ch+1)*h*w]
		sc, sh := scale[ch], shift[ch]
		g, bt := gamma[ch], beta[ch]
		o := ch * oh * ow
		d, a := dst[o:o+oh*ow], arg[o:o+oh*ow]
		if f, ok := any(img).([]float32); ok && p == 2 && g > 0 {
			// one pass: normalise each window's four values in place while pooling them
			df := any(d).([]float32)
			for i := 0; i < oh; i++ {
				pool2x2f32(df[i*ow:(i+1)*ow], a[i*ow:(i+1)*ow], f[2*i*w:(2*i+1)*w], f[(2*i+1)*w:(2*i+2)*w],
					float32(sc), float32(sh), float32(g), float32(bt), int32(2*i*w), int32(w))
				if w%2 == 1 { // the last column is in no window
					for _, r := range [2]int{2 * i, 2*i + 1} {
						f[r*w+w-1] = f[r*w+w-1]*float32(sc) + float32(sh)
					}
				}
			}
			for r := 2 * oh; r < h; r++ { // rows below the last window
				for j := r * w; j < (r+1)*w; j++ {
					f[j] = f[j]*float32(sc) + float32(sh)
				}
			}
			continue
		}
		for j, v := range img {
			img[j] = v*sc + sh
		}
		poolGeneric(d, a, img, g, bt, h, w, p)
	}
}

// poolBackward routes each window's gradient g_q to the window's maximum when the block's
// output there is positive (ReLU), adding into dz, and returns the sums of the routed
// gradients and of their products with xhat (BatchNorm's backward needs them).
func poolBackward[T float](dz, dOut []T, arg []int32, xhat []T, g, bt T) (sdy, sdyx T) {
	if f, ok := any(dz).([]float32); ok {
		a, b := poolBackwardF32(f, any(dOut).([]float32), arg, any(xhat).([]float32), float32(g), float32(bt))
		return T(a), T(b)
	}
	for q, pos := range arg {
		xh := xhat[pos]
		if g*xh+bt > 0 {
			v := dOut[q]
			dz[pos] += v
			sdy += v
			sdyx += v * xh
		}
	}
	return sdy, sdyx
}

// poolBackwardF32 is poolBackward without branches: the ReLU mask comes from the sign of the
// output's bits (positive floats are positive as integers; +0 is not).
func poolBackwardF32(dz, dOut []float32, arg []int32, xhat []float32, g, bt float32) (sdy, sdyx float32) {
	dOut = dOut[:len(arg)]
	for q, pos := range arg {
		xh := xhat[pos]
		y := int32(math.Float32bits(g*xh + bt))
		v := dOut[q] * float32(uint32(-y)>>31)
		dz[pos] += v
		sdy += v
		sdyx += v * xh
	}
	return sdy, sdyx
}

// pool2x2f32 normalises one pair of rows (r0, r1) in place (x*sc + sh) and pools them into
// len(d) windows of y = g*xhat + bt (g > 0) without branches: the sign bit of a difference
// says which value is larger (a difference of 0 keeps the first, as PyTorch does), so random
// data costs no mispredictions.
func pool2x2f32(d []float32, a []int32, r0, r1 []float32, sc, sh, g, bt float32, base, w int32) {
	r0, r1 = r0[:2*len(d)], r1[:2*len(d)]
	a = a[:len(d)]
	start := 0
	if hasPoolKernel && len(d) >= 8 {
		start = len(d) &^ 7
		k := [4]float32{sc, sh, g, bt}
		pool2x2AVX2(&d[0], &a[0], &r0[0], &r1[0], start, &k, base, w)
	}
	for j := start; j < len(d); j++ {
		a0, a1, b0, b1 := r0[2*j]*sc+sh, r0[2*j+1]*sc+sh, r1[2*j]*sc+sh, r1[2*j+1]*sc+sh
		r0[2*j], r0[2*j+1], r1[2*j], r1[2*j+1] = a0, a1, b0, b1
		// select with masks built from sign bits: all exact, no branches
		ta := math.Float32bits(a0-a1) >> 31 // 1 when a1 > a0
		tb := math.Float32bits(b0-b1) >> 31 // 1 when b1 > b0
		ua, ub := math.Float32bits(a0), math.Float32bits(b0)
		ua ^= (ua ^ math.Float32bits(a1)) & -ta
		ub ^= (ub ^ math.Float32bits(b1)) & -tb
		top, bot := math.Float32frombits(ua), math.Float32frombits(ub)
		c := math.Float32bits(top-bot) >> 31 // 1 when bot > top
		ut := ua ^ ((ua ^ ub) & -c)
		ti := int32(ta) + int32(c)*(w+int32(tb)-int32(ta))
		y := math.Float32bits(g*math.Float32frombits(ut) + bt)
		d[j] = math.Float32frombits(y &^ uint32(int32(y)>>31)) // ReLU: negative -> +0
		a[j] = base + int32(2*j) + ti
	}
}

// poolGeneric is ReLU and max pooling of y = g*xhat + bt over p x p windows of one channel.
func poolGeneric[T float](d []T, a []int32, xhat []T, g, bt T, h, w, p int) {
	oh, ow := h/p, w/p
	for i := 0; i < oh; i++ {
		for j := 0; j < ow; j++ {
			best := int32((i*p)*w + j*p)
			bv := g*xhat[best] + bt
			for di := 0; di < p; di++ {
				for dj := 0; dj < p; dj++ {
					idx := int32((i*p+di)*w + j*p + dj)
					if v := g*xhat[idx] + bt; v > bv {
						best, bv = idx, v
					}
				}
			}
			d[i*ow+j] = max(bv, 0)
			a[i*ow+j] = best
		}
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

// col2im adds the (c*k*k, h*w) patch gradients back onto a (c, h, w) image gradient.
func col2im[T float](dst, cols []T, c, h, w, k int) {
	pad := k / 2
	hw := h * w
	clear(dst[:c*hw])
	for ch := 0; ch < c; ch++ {
		img := dst[ch*hw : (ch+1)*hw]
		for ki := 0; ki < k; ki++ {
			for kj := 0; kj < k; kj++ {
				row := cols[((ch*k+ki)*k+kj)*hw : ((ch*k+ki)*k+kj+1)*hw]
				dj := kj - pad
				for i := 0; i < h; i++ {
					si := i + ki - pad
					if si < 0 || si >= h {
						continue
					}
					lo, hi := max(0, -dj), min(w, w-dj)
					src := row[i*w+lo : i*w+hi]
					d := img[si*w+lo+dj : si*w+hi+dj]
					d = d[:len(src)]
					for j, v := range src {
						d[j] += v
					}
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
// max-pool routes each window's gradient to its maximum, ReLU masks it, BatchNorm backward
// as in bnBackward2D per channel over (n, hw), then for every sample
//
//	db += sum dz,  dW += dz cols^T,  dcols = W^T dz -> col2im (for all but the first block)
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
			c.dAct[i+1] = make([]T, n*b.out*b.pooledHW)
			if i > 0 {
				c.dAct[i] = make([]T, n*b.c*b.hw)
			}
		}
		c.dwPar = make([][]T, nc)
	}
	copy(c.dAct[L], dy)
	for i := L - 1; i >= 0; i-- {
		b := op.blocks[i]
		size := n * b.out * b.hw
		if cap(c.dPre) < size {
			c.dPre = make([]T, size)
		}
		dz := c.dPre[:size]
		dOut, arg, xhat := c.dAct[i+1], c.arg[i], c.xhat[i]
		gamma, beta := data[T](op.inputs[b.wIdx+2], op.name), data[T](op.inputs[b.wIdx+3], op.name)
		// max-pool and ReLU backward: each window's gradient goes to its maximum when that is
		// positive; the BatchNorm sums need only those positions (per sample, summed over
		// the batch in sample order below)
		per := growF64(&c.sampleSums, n*2*b.out)
		parallelFor(nw, n, func(wk, lo, hi int) {
			for s := lo; s < hi; s++ {
				sums := per[s*2*b.out : (s+1)*2*b.out]
				clear(dz[s*b.out*b.hw : (s+1)*b.out*b.hw])
				for ch := 0; ch < b.out; ch++ {
					g, bt := gamma[ch], beta[ch]
					base := (s*b.out + ch) * b.hw
					o := (s*b.out + ch) * b.pooledHW
					sdy, sdyx := poolBackward(dz[base:base+b.hw], dOut[o:o+b.pooledHW], arg[o:o+b.pooledHW], xhat[base:base+b.hw], g, bt)
					sums[2*ch], sums[2*ch+1] = float64(sdy), float64(sdyx)
				}
			}
		})
		dgamma, dbeta, db := c.grads[b.wIdx+2], c.grads[b.wIdx+3], c.grads[b.wIdx+1]
		cnt := float64(n * b.hw)
		kc, ks, kx := growT(&c.scale, b.out), growT(&c.shift, b.out), growT(&c.kx, b.out)
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
		for k := range c.dwPar {
			growT(&c.dwPar[k], b.out*b.kk)
		}
		in := c.acts[i]
		var dIn []T
		if i > 0 {
			dIn = c.dAct[i]
		}
		// the workers share the fixed chunks; a chunk's samples add into its own partial in
		// sample order (the first one stores)
		parallelFor(nw, nc, func(wk, c0, c1 int) {
			ws := c.ws[wk]
			for ci := c0; ci < c1; ci++ {
				lo, hi := chunkBounds(n, nc, ci)
				for s := lo; s < hi; s++ {
					convSampleBackward(b, w, in, dIn, dz, xhat, kc, ks, kx, c.dwPar[ci], s, s > lo, ws)
				}
			}
		})
		// sum the chunks' dW^T in chunk order (into the first) and transpose into dW (out x kk)
		dwT := c.dwPar[0]
		for _, p := range c.dwPar[1:nc] {
			for j, v := range p {
				dwT[j] += v
			}
		}
		dw := c.grads[b.wIdx]
		for o := 0; o < b.out; o++ {
			for r := 0; r < b.kk; r++ {
				dw[o*b.kk+r] = dwT[r*b.out+o]
			}
		}
	}
	op.bgen = op.gen
	return c.grads
}

// convSampleBackward finishes BatchNorm's backward for sample s of block b (dz in place,
// from the per-channel coefficients kc, ks, kx), adds (or with !acc stores) its weight
// gradient dz cols^T into dwT (kk x out) and, when dIn is set, writes its input gradient.
func convSampleBackward[T float](b convBlock, w, in, dIn, dz, xhat, kc, ks, kx, dwT []T, s int, acc bool, ws *scratch[T]) {
	dzs := dz[s*b.out*b.hw : (s+1)*b.out*b.hw]
	xs := xhat[s*b.out*b.hw : (s+1)*b.out*b.hw]
	for ch := 0; ch < b.out; ch++ {
		a1, a2, a3 := kc[ch], ks[ch], kx[ch]
		row, hr := dzs[ch*b.hw:(ch+1)*b.hw], xs[ch*b.hw:(ch+1)*b.hw]
		for j, v := range row {
			row[j] = a1*v - a2 - hr[j]*a3
		}
	}
	col := ws.get(4, b.kk*b.hw)
	im2col(col, in[s*b.c*b.hw:(s+1)*b.c*b.hw], b.c, b.h, b.w, b.k)
	// dW^T (+)= cols dz^T: the large cols is the left operand, packed row-wise
	gemm(dwT, col, dzs, b.kk, b.hw, b.out, false, true, acc, ws)
	if dIn != nil {
		dcol := ws.get(5, b.kk*b.hw)
		gemm(dcol, w, dzs, b.kk, b.out, b.hw, true, false, false, ws)
		col2im(dIn[s*b.c*b.hw:(s+1)*b.c*b.hw], dcol, b.c, b.h, b.w, b.k)
	}
}

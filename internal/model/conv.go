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
	cols  [][]T     // cols[l]: im2col of every sample, (n, kk, hw)
	pre   [][]T     // post-BatchNorm, pre-ReLU values, (n, out, hw)
	xhat  [][]T     // normalised values, (n, out, hw)
	arg   [][]int32 // argmax of every pooling window, (n, out, pooledHW)
	inv   [][]float64
	grads [][]T // per op input (index 0 unused: the data input needs no gradient)
	ws    []*scratch[T]
	dPre  []T
	dAct  [][]T
	dwPar [][]T
}

func workers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// parallelFor runs f(w, lo, hi) over [0, n) split into contiguous chunks, one per worker.
func parallelFor(n int, f func(w, lo, hi int)) {
	nw := workers(n)
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
		c.cols = make([][]T, L)
		c.pre = make([][]T, L)
		c.xhat = make([][]T, L)
		c.arg = make([][]int32, L)
		c.inv = make([][]float64, L)
		c.acts[0] = make([]T, n*op.blocks[0].c*op.blocks[0].hw)
		for i, b := range op.blocks {
			c.cols[i] = make([]T, n*b.kk*b.hw)
			c.pre[i] = make([]T, n*b.out*b.hw)
			c.xhat[i] = make([]T, n*b.out*b.hw)
			c.arg[i] = make([]int32, n*b.out*b.pooledHW)
			c.inv[i] = make([]float64, b.out)
			c.acts[i+1] = make([]T, n*b.out*b.pooledHW)
		}
		for w := 0; w < workers(n); w++ {
			c.ws = append(c.ws, &scratch[T]{})
		}
		op.cache = c
	}
	op.gen++
	op.inputs = append(op.inputs[:0], vals...)
	copy(c.acts[0], data[T](vals[0], op.name))
	for i, b := range op.blocks {
		w := data[T](vals[b.wIdx], op.name)
		bias := data[T](vals[b.wIdx+1], op.name)
		gamma, beta := data[T](vals[b.wIdx+2], op.name), data[T](vals[b.wIdx+3], op.name)
		in, cols, pre := c.acts[i], c.cols[i], c.pre[i]
		parallelFor(n, func(wk, lo, hi int) {
			for s := lo; s < hi; s++ {
				col := cols[s*b.kk*b.hw : (s+1)*b.kk*b.hw]
				im2col(col, in[s*b.c*b.hw:(s+1)*b.c*b.hw], b.c, b.h, b.w, b.k)
				z := pre[s*b.out*b.hw : (s+1)*b.out*b.hw]
				gemm(z, w, col, b.out, b.kk, b.hw, false, false, false, c.ws[wk])
				for ch := 0; ch < b.out; ch++ {
					bv := bias[ch]
					row := z[ch*b.hw : (ch+1)*b.hw]
					for j := range row {
						row[j] += bv
					}
				}
			}
		})
		if op.training {
			bnTrainNCHW(pre, c.xhat[i], c.inv[i], gamma, beta, b.bn, n, b.out, b.hw)
		} else {
			bnEvalNCHW(pre, gamma, beta, b.bn, n, b.out, b.hw)
		}
		next, arg := c.acts[i+1], c.arg[i]
		parallelFor(n, func(_, lo, hi int) {
			for s := lo; s < hi; s++ {
				reluPool(next[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW], arg[s*b.out*b.pooledHW:(s+1)*b.out*b.pooledHW],
					pre[s*b.out*b.hw:(s+1)*b.out*b.hw], b.out, b.h, b.w, b.pool)
			}
		})
	}
	copy(outT.Data().([]T), c.acts[L])
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
					src := row[i*w : (i+1)*w]
					d := img[si*w : (si+1)*w]
					lo, hi := max(0, -dj), min(w, w-dj)
					for j := lo; j < hi; j++ {
						d[j+dj] += src[j]
					}
				}
			}
		}
	}
}

// reluPool applies ReLU and p x p max pooling (stride p, floor) to a (c, h, w) map, recording
// the position of every window's maximum (the first one on ties).
func reluPool[T float](dst []T, arg []int32, x []T, c, h, w, p int) {
	if p == 2 {
		reluPool2(dst, arg, x, c, h, w)
		return
	}
	oh, ow := h/p, w/p
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*w : (ch+1)*h*w]
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best := int32((i*p)*w + j*p)
				bv := img[best]
				for di := 0; di < p; di++ {
					for dj := 0; dj < p; dj++ {
						idx := int32((i*p+di)*w + j*p + dj)
						if img[idx] > bv {
							best, bv = idx, img[idx]
						}
					}
				}
				o := ch*oh*ow + i*ow + j
				dst[o] = max(bv, 0)
				arg[o] = best
			}
		}
	}
}

// reluPool2 is reluPool for 2 x 2 windows.
func reluPool2[T float](dst []T, arg []int32, x []T, c, h, w int) {
	oh, ow := h/2, w/2
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*w : (ch+1)*h*w]
		for i := 0; i < oh; i++ {
			r0 := img[2*i*w : (2*i+1)*w]
			r1 := img[(2*i+1)*w : (2*i+2)*w]
			o := ch*oh*ow + i*ow
			d, a := dst[o:o+ow], arg[o:o+ow]
			base := int32(2 * i * w)
			for j := range d {
				j2 := 2 * j
				best, bv := base+int32(j2), r0[j2]
				if v := r0[j2+1]; v > bv {
					best, bv = base+int32(j2+1), v
				}
				if v := r1[j2]; v > bv {
					best, bv = base+int32(w+j2), v
				}
				if v := r1[j2+1]; v > bv {
					best, bv = base+int32(w+j2+1), v
				}
				d[j] = max(bv, 0)
				a[j] = best
			}
		}
	}
}

// bnTrainNCHW normalises x (n, c, hw) in place per channel with batch statistics (see
// bnTrain2D for the rule).
func bnTrainNCHW[T float](x, xhat []T, invstd []float64, gamma, beta []T, st *BNState, n, c, hw int) {
	cnt := float64(n * hw)
	rm, rv := st.mean.Data().([]T), st.variance.Data().([]T)
	m := st.Momentum
	for ch := 0; ch < c; ch++ {
		// shifted one-pass moments: exact enough in float64 and half the memory traffic
		shift := float64(x[ch*hw])
		var sum, sq float64
		for s := 0; s < n; s++ {
			var ps, pq T
			for _, v := range x[(s*c+ch)*hw : (s*c+ch+1)*hw] {
				d := v - T(shift)
				ps += d
				pq += d * d
			}
			sum += float64(ps)
			sq += float64(pq)
		}
		mean := shift + sum/cnt
		ss := max(sq-sum*sum/cnt, 0)
		v := ss / cnt
		inv := 1 / math.Sqrt(v+st.Eps)
		invstd[ch] = inv
		rm[ch] = T((1-m)*float64(rm[ch]) + m*mean)
		unbiased := v
		if cnt > 1 {
			unbiased = ss / (cnt - 1)
		}
		rv[ch] = T((1-m)*float64(rv[ch]) + m*unbiased)
		g, b, mu, iv := gamma[ch], beta[ch], T(mean), T(inv)
		for s := 0; s < n; s++ {
			row, hr := x[(s*c+ch)*hw:(s*c+ch+1)*hw], xhat[(s*c+ch)*hw:(s*c+ch+1)*hw]
			for j, v := range row {
				h := (v - mu) * iv
				hr[j] = h
				row[j] = g*h + b
			}
		}
	}
}

// bnEvalNCHW normalises x (n, c, hw) in place with the running statistics.
func bnEvalNCHW[T float](x, gamma, beta []T, st *BNState, n, c, hw int) {
	rm, rv := st.mean.Data().([]T), st.variance.Data().([]T)
	for ch := 0; ch < c; ch++ {
		inv := 1 / math.Sqrt(float64(rv[ch])+st.Eps)
		scale := T(float64(gamma[ch]) * inv)
		shift := T(float64(beta[ch]) - float64(rm[ch])*float64(gamma[ch])*inv)
		for s := 0; s < n; s++ {
			row := x[(s*c+ch)*hw : (s*c+ch+1)*hw]
			for j, v := range row {
				row[j] = v*scale + shift
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

// convGradOp returns one parameter's gradient of a conv stack; the first to run in a step
// computes all of them.
type convGradOp struct {
	baseOp
	fwd   *convStackOp
	which int
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
	var buf any
	switch dy.Dtype() {
	case tensor.Float32:
		buf = convBackward[float32](op.fwd, dy.Data().([]float32))[op.which]
	case tensor.Float64:
		buf = convBackward[float64](op.fwd, dy.Data().([]float64))[op.which]
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return tensor.New(tensor.WithShape(op.shape()...), tensor.WithBacking(buf)), nil
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
	nw := len(c.ws)
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
		c.dwPar = make([][]T, nw)
	}
	copy(c.dAct[L], dy)
	for i := L - 1; i >= 0; i-- {
		b := op.blocks[i]
		size := n * b.out * b.hw
		if cap(c.dPre) < size {
			c.dPre = make([]T, size)
		}
		dz := c.dPre[:size]
		clear(dz)
		dOut, arg, pre := c.dAct[i+1], c.arg[i], c.pre[i]
		// max-pool and ReLU backward: only window maxima with positive values pass
		for s := 0; s < n; s++ {
			for ch := 0; ch < b.out; ch++ {
				base := (s*b.out + ch) * b.hw
				o := (s*b.out + ch) * b.pooledHW
				for q := 0; q < b.pooledHW; q++ {
					idx := base + int(arg[o+q])
					if pre[idx] > 0 {
						dz[idx] += dOut[o+q]
					}
				}
			}
		}
		gamma := data[T](op.inputs[b.wIdx+2], op.name)
		bnBackwardNCHW(dz, c.xhat[i], c.inv[i], gamma, c.grads[b.wIdx+2], c.grads[b.wIdx+3], n, b.out, b.hw)
		db := c.grads[b.wIdx+1]
		clear(db)
		for s := 0; s < n; s++ {
			for ch := 0; ch < b.out; ch++ {
				var sum T
				for _, v := range dz[(s*b.out+ch)*b.hw : (s*b.out+ch+1)*b.hw] {
					sum += v
				}
				db[ch] += sum
			}
		}
		w := data[T](op.inputs[b.wIdx], op.name)
		for k := range c.dwPar {
			if cap(c.dwPar[k]) < b.out*b.kk {
				c.dwPar[k] = make([]T, b.out*b.kk)
			}
			c.dwPar[k] = c.dwPar[k][:b.out*b.kk]
			clear(c.dwPar[k])
		}
		cols := c.cols[i]
		var dIn []T
		if i > 0 {
			dIn = c.dAct[i]
		}
		parallelFor(n, func(wk, lo, hi int) {
			ws := c.ws[wk]
			for s := lo; s < hi; s++ {
				dzs := dz[s*b.out*b.hw : (s+1)*b.out*b.hw]
				col := cols[s*b.kk*b.hw : (s+1)*b.kk*b.hw]
				gemm(c.dwPar[wk], dzs, col, b.out, b.hw, b.kk, false, true, true, ws)
				if dIn != nil {
					dcol := ws.get(5, b.kk*b.hw)
					gemm(dcol, w, dzs, b.kk, b.out, b.hw, true, false, false, ws)
					col2im(dIn[s*b.c*b.hw:(s+1)*b.c*b.hw], dcol, b.c, b.h, b.w, b.k)
				}
			}
		})
		dw := c.grads[b.wIdx]
		copy(dw, c.dwPar[0])
		for k := 1; k < nw; k++ {
			for j, v := range c.dwPar[k] {
				dw[j] += v
			}
		}
	}
	op.bgen = op.gen
	return c.grads
}

// bnBackwardNCHW is bnBackward2D per channel over the (n, hw) values of a (n, c, hw) tensor.
func bnBackwardNCHW[T float](g, xhat []T, invstd []float64, gamma, dgamma, dbeta []T, n, c, hw int) {
	cnt := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		var sdy, sdyx float64
		for s := 0; s < n; s++ {
			gr, hr := g[(s*c+ch)*hw:(s*c+ch+1)*hw], xhat[(s*c+ch)*hw:(s*c+ch+1)*hw]
			var a, b T
			for j, v := range gr {
				a += v
				b += v * hr[j]
			}
			sdy += float64(a)
			sdyx += float64(b)
		}
		dgamma[ch], dbeta[ch] = T(sdyx), T(sdy)
		k := float64(gamma[ch]) * invstd[ch] / cnt
		kc, ks, kx := T(k*cnt), T(k*sdy), T(k*sdyx)
		for s := 0; s < n; s++ {
			gr, hr := g[(s*c+ch)*hw:(s*c+ch+1)*hw], xhat[(s*c+ch)*hw:(s*c+ch+1)*hw]
			for j, v := range gr {
				gr[j] = kc*v - ks - hr[j]*kx
			}
		}
	}
}

package model

import (
	"fmt"
	"math"
	"runtime"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the fused dense stack: a sequence of Linear (-> BatchNorm) (-> ReLU) layers
// computed by one Gorgonia op. Its gradient ops share one backward pass, so a whole MLP
// encoder or an embedding head costs one forward and one backward call, with buffers reused
// from step to step, instead of a dozen graph nodes that each allocate.

// denseLayer is one layer of a dense stack.
type denseLayer struct {
	in, out  int
	bn       *BNState // nil: no BatchNorm
	relu     bool
	w, b     int // positions of W and b among the op's inputs
	gamma    int // position of gamma (beta follows); -1 without BatchNorm
	name     string
	paramIdx []int
}

// denseStackOp computes a dense stack over a (B, in) input. Inputs: x, then per layer W, b
// and, with BatchNorm, gamma and beta. Training mode normalises with batch statistics and
// updates the running ones; evaluation mode uses the running statistics.
type denseStackOp struct {
	baseOp
	layers   []denseLayer
	training bool
	needDX   bool // whether the input's gradient is wanted (false for data inputs)
	nIn      int

	cache any // *denseCache[T] of the last training forward pass
	gen   int64
	bgen  int64
	// inputs of the last forward pass: the parameters (not x) are read again by backward
	inputs []G.Value
}

// denseCache keeps what the backward pass needs and the reusable buffers.
type denseCache[T float] struct {
	n      int
	acts   [][]T // acts[l]: input of layer l (acts[0] is a copy of x); acts[L] the output
	xhat   [][]T // normalised pre-activations of BatchNorm layers
	pre    [][]T // pre-ReLU values (after BatchNorm if any)
	invstd [][]float64
	grads  [][]T // per op input: dx, then each parameter's gradient
	out    *tensor.Dense
	s      scratch[T]
}

func newDenseStackOp(name string, layers []denseLayer, training, needDX bool) *denseStackOp {
	mode := "eval"
	if training {
		mode = "train"
	}
	nIn := 1
	for i := range layers {
		l := &layers[i]
		l.w, l.b = nIn, nIn+1
		nIn += 2
		l.gamma = -1
		if l.bn != nil {
			l.gamma = nIn
			nIn += 2
		}
	}
	return &denseStackOp{baseOp: newBase("dense(" + name + "," + mode + ")"), layers: layers, training: training, needDX: needDX, nIn: nIn}
}

func (op *denseStackOp) Arity() int { return op.nIn }
func (op *denseStackOp) Type() hm.Type {
	ts := []hm.Type{tensorType(2)}
	for _, l := range op.layers {
		ts = append(ts, tensorType(2), tensorType(1))
		if l.bn != nil {
			ts = append(ts, tensorType(1), tensorType(1))
		}
	}
	ts = append(ts, tensorType(2))
	return hm.NewFnType(ts...)
}
func (op *denseStackOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.layers[len(op.layers)-1].out}, nil
}

func (op *denseStackOp) Do(vals ...G.Value) (G.Value, error) {
	x := dense(vals[0], op.name)
	n := x.Shape()[0]
	if x.Shape()[1] != op.layers[0].in {
		return nil, fmt.Errorf("%s: input has %d features, want %d", op.name, x.Shape()[1], op.layers[0].in)
	}
	switch x.Dtype() {
	case tensor.Float32:
		return denseForward[float32](op, vals, n), nil
	case tensor.Float64:
		return denseForward[float64](op, vals, n), nil
	}
	return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
}

func data[T float](v G.Value, name string) []T { return dense(v, name).Data().([]T) }

// denseForward runs the stack. The returned tensor is the cache's own output buffer, reused
// from call to call: nothing here reads it again, so Gorgonia may overwrite it in place.
func denseForward[T float](op *denseStackOp, vals []G.Value, n int) *tensor.Dense {
	c, _ := op.cache.(*denseCache[T])
	if c == nil || c.n != n {
		c = &denseCache[T]{n: n}
		c.s.workers = runtime.GOMAXPROCS(0) // speed only: the products' bits do not depend on it
		L := len(op.layers)
		c.acts = make([][]T, L+1)
		c.xhat = make([][]T, L)
		c.pre = make([][]T, L)
		c.invstd = make([][]float64, L)
		if op.needDX {
			c.acts[0] = make([]T, n*op.layers[0].in)
		}
		for i, l := range op.layers {
			c.acts[i+1] = make([]T, n*l.out)
			c.pre[i] = make([]T, n*l.out)
			if l.bn != nil {
				c.xhat[i] = make([]T, n*l.out)
				c.invstd[i] = make([]float64, l.out)
			}
		}
		c.out = tensor.New(tensor.WithShape(n, op.layers[L-1].out), tensor.WithBacking(c.acts[L]))
		op.cache = c
	}
	op.gen++
	op.inputs = append(op.inputs[:0], vals...)
	if op.needDX {
		// the input is another op's output, which Gorgonia may overwrite before backward
		copy(c.acts[0], data[T](vals[0], op.name))
	} else {
		// a data input stays untouched until the next step
		c.acts[0] = data[T](vals[0], op.name)
	}
	for i, l := range op.layers {
		in, z := c.acts[i], c.pre[i]
		w, b := data[T](vals[l.w], op.name), data[T](vals[l.b], op.name)
		gemm(z, in, w, n, l.in, l.out, false, false, false, &c.s)
		if l.bn == nil {
			for r := 0; r < n; r++ {
				row := z[r*l.out : (r+1)*l.out]
				for j := range row {
					row[j] += b[j]
				}
			}
		} else {
			// BatchNorm removes a constant shift, so the bias only moves the running mean
			gamma, beta := data[T](vals[l.gamma], op.name), data[T](vals[l.gamma+1], op.name)
			if op.training {
				bnTrain2D(z, c.xhat[i], c.invstd[i], gamma, beta, b, l.bn, n, l.out)
			} else {
				bnEval2D(z, gamma, beta, b, l.bn, n, l.out)
			}
		}
		a := c.acts[i+1]
		if l.relu {
			for j, v := range z {
				a[j] = max(v, 0)
			}
		} else {
			copy(a, z)
		}
	}
	return c.out
}

// bnTrain2D normalises z + bias (z is (n, ch), bias per channel) in place with its batch
// statistics (biased variance), scales and shifts it, records xhat and 1/std, and moves the
// running statistics (unbiased variance) by the state's momentum. The bias cancels in the
// normalised value, so it is only added to the running mean.
func bnTrain2D[T float](z, xhat []T, invstd []float64, gamma, beta, bias []T, st *BNState, n, ch int) {
	mean := make([]float64, ch)
	vr := make([]float64, ch)
	for r := 0; r < n; r++ {
		for j, v := range z[r*ch : (r+1)*ch] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for r := 0; r < n; r++ {
		for j, v := range z[r*ch : (r+1)*ch] {
			d := float64(v) - mean[j]
			vr[j] += d * d
		}
	}
	rm, rv := st.mean.Data().([]T), st.variance.Data().([]T)
	m := st.Momentum
	for j := range vr {
		v := vr[j] / float64(n)
		invstd[j] = 1 / math.Sqrt(v+st.Eps)
		unbiased := v
		if n > 1 {
			unbiased = vr[j] / float64(n-1)
		}
		rm[j] = runningStat(rm[j], m, mean[j]+float64(bias[j]))
		rv[j] = runningStat(rv[j], m, unbiased)
	}
	for r := 0; r < n; r++ {
		zr, hr := z[r*ch:(r+1)*ch], xhat[r*ch:(r+1)*ch]
		for j, v := range zr {
			h := T((float64(v) - mean[j]) * invstd[j])
			hr[j] = h
			zr[j] = gamma[j]*h + beta[j]
		}
	}
}

// bnEval2D normalises z + bias (z is (n, ch)) in place with the running statistics.
func bnEval2D[T float](z, gamma, beta, bias []T, st *BNState, n, ch int) {
	scale, shift := make([]T, ch), make([]T, ch)
	bnEvalCoefs(scale, shift, gamma, beta, bias, st)
	bnEvalApply(z, scale, shift, n, ch)
}

// bnEvalCoefs writes the per-channel scale and shift of an evaluation-mode BatchNorm over
// z + bias: out = z*scale + shift. The cached-encoder inference (infer.go) shares it and
// bnEvalApply with bnEval2D so that both round alike.
func bnEvalCoefs[T float](scale, shift, gamma, beta, bias []T, st *BNState) {
	rm, rv := st.mean.Data().([]T), st.variance.Data().([]T)
	for j := range scale {
		inv := 1 / math.Sqrt(float64(rv[j])+st.Eps)
		scale[j] = T(float64(gamma[j]) * inv)
		shift[j] = T(float64(beta[j]) + (float64(bias[j])-float64(rm[j]))*float64(gamma[j])*inv)
	}
}

// bnEvalApply computes z = z*scale + shift in place for the n rows of ch channels of z.
func bnEvalApply[T float](z, scale, shift []T, n, ch int) {
	for r := 0; r < n; r++ {
		zr := z[r*ch : (r+1)*ch]
		for j, v := range zr {
			zr[j] = v*scale[j] + shift[j]
		}
	}
}

func (op *denseStackOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = i > 0 || op.needDX
	}
	return out
}

func (op *denseStackOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.training {
		return nil, fmt.Errorf("%s: no gradient in evaluation mode", op.name)
	}
	out := make(G.Nodes, len(inputs))
	for i := range inputs {
		if i == 0 && !op.needDX {
			continue
		}
		g, err := G.ApplyOp(&denseGradOp{baseOp: newBase(fmt.Sprintf("%s.d%d", op.name, i)), fwd: op, which: i}, grad)
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// denseGradOp returns the gradient of one input of a dense stack. The first of the stack's
// gradient ops to run in a step computes every gradient; the others return theirs.
type denseGradOp struct {
	baseOp
	fwd   *denseStackOp
	which int
	stand *tensor.Dense
}

func (op *denseGradOp) Arity() int { return 1 }
func (op *denseGradOp) Type() hm.Type {
	dims := 2
	if op.which > 0 && !op.isWeight() {
		dims = 1
	}
	return hm.NewFnType(tensorType(2), tensorType(dims))
}

func (op *denseGradOp) isWeight() bool {
	for _, l := range op.fwd.layers {
		if l.w == op.which {
			return true
		}
	}
	return false
}

func (op *denseGradOp) shape(n int) tensor.Shape {
	if op.which == 0 {
		return tensor.Shape{n, op.fwd.layers[0].in}
	}
	for _, l := range op.fwd.layers {
		switch op.which {
		case l.w:
			return tensor.Shape{l.in, l.out}
		case l.b, l.gamma, l.gamma + 1:
			return tensor.Shape{l.out}
		}
	}
	panic("model: bad dense gradient index")
}

func (op *denseGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return op.shape(in[0].(tensor.Shape)[0]), nil
}

func (op *denseGradOp) Do(vals ...G.Value) (G.Value, error) {
	dy := dense(vals[0], op.name)
	n := dy.Shape()[0]
	var buf any
	switch dy.Dtype() {
	case tensor.Float32:
		buf = denseBackward[float32](op.fwd, dy.Data().([]float32), n)[op.which]
	case tensor.Float64:
		buf = denseBackward[float64](op.fwd, dy.Data().([]float64), n)[op.which]
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	if op.which == 0 {
		return tensor.New(tensor.WithShape(op.shape(n)...), tensor.WithBacking(buf)), nil
	}
	// Parameter gradients are read from the stack's cache (gradOf); the graph gets a stand-in
	// of the right shape, so that no later op can reuse the cache's memory.
	if op.stand == nil {
		op.stand = newLike(dy.Dtype(), op.shape(n)...)
	}
	return op.stand, nil
}

// gradOf returns the gradient of the stack's input i computed by the last backward pass.
func (op *denseStackOp) gradOf(i int) any {
	switch c := op.cache.(type) {
	case *denseCache[float32]:
		return c.grads[i]
	case *denseCache[float64]:
		return c.grads[i]
	}
	return nil
}

// denseBackward computes (once per forward pass) the gradients of every input of the stack
// from the output gradient dy:
//
//	ReLU:      dpre = dy * [pre > 0]
//	BatchNorm: dgamma = sum dpre*xhat, dbeta = sum dpre,
//	           dz = gamma*invstd/n * (n*dpre - dbeta - xhat*dgamma)
//	Linear:    db = sum dz, dW = a^T dz, da = dz W^T
func denseBackward[T float](op *denseStackOp, dy []T, n int) [][]T {
	c := op.cache.(*denseCache[T])
	if op.bgen == op.gen {
		return c.grads
	}
	if c.grads == nil {
		c.grads = make([][]T, op.nIn)
		c.grads[0] = make([]T, n*op.layers[0].in)
		for _, l := range op.layers {
			c.grads[l.w] = make([]T, l.in*l.out)
			c.grads[l.b] = make([]T, l.out)
			if l.bn != nil {
				c.grads[l.gamma] = make([]T, l.out)
				c.grads[l.gamma+1] = make([]T, l.out)
			}
		}
	}
	L := len(op.layers)
	slot := 3
	g := c.s.get(slot, n*op.layers[L-1].out)
	if !op.layers[L-1].relu {
		copy(g, dy)
	}
	for i := L - 1; i >= 0; i-- {
		l := op.layers[i]
		if l.relu {
			pre := c.pre[i]
			src := g
			if i == L-1 {
				src = dy
			}
			for j, v := range src[:len(pre)] {
				if pre[j] <= 0 {
					v = 0
				}
				g[j] = v
			}
		}
		if l.bn != nil {
			gamma := data[T](op.inputs[l.gamma], op.name)
			bnBackward2D(g, c.xhat[i], c.invstd[i], gamma, c.grads[l.gamma], c.grads[l.gamma+1], n, l.out)
		}
		db := c.grads[l.b]
		clear(db)
		if l.bn == nil { // before BatchNorm the bias has no effect on the loss: db = 0
			for r := 0; r < n; r++ {
				for j, v := range g[r*l.out : (r+1)*l.out] {
					db[j] += v
				}
			}
		}
		gemm(c.grads[l.w], c.acts[i], g, l.in, n, l.out, true, false, false, &c.s)
		if i > 0 || op.needDX {
			da := c.grads[0]
			if i > 0 {
				slot = 7 - slot // ping-pong between scratch slots 3 and 4
				da = c.s.get(slot, n*l.in)
			}
			gemm(da, g, data[T](op.inputs[l.w], op.name), n, l.out, l.in, false, true, false, &c.s)
			g = da
		}
	}
	op.bgen = op.gen
	return c.grads
}

// bnBackward2D turns the gradient g of a BatchNorm output into the gradient of its input,
// in place, and writes dgamma and dbeta.
func bnBackward2D[T float](g, xhat []T, invstd []float64, gamma, dgamma, dbeta []T, n, ch int) {
	sdy := make([]float64, ch)
	sdyx := make([]float64, ch)
	for r := 0; r < n; r++ {
		gr, hr := g[r*ch:(r+1)*ch], xhat[r*ch:(r+1)*ch]
		for j, v := range gr {
			sdy[j] += float64(v)
			sdyx[j] += float64(v) * float64(hr[j])
		}
	}
	k := make([]float64, ch)
	fn := float64(n)
	for j := range k {
		dgamma[j], dbeta[j] = T(sdyx[j]), T(sdy[j])
		k[j] = float64(gamma[j]) * invstd[j] / fn
	}
	for r := 0; r < n; r++ {
		gr, hr := g[r*ch:(r+1)*ch], xhat[r*ch:(r+1)*ch]
		for j, v := range gr {
			gr[j] = T(k[j] * (fn*float64(v) - sdy[j] - float64(hr[j])*sdyx[j]))
		}
	}
}

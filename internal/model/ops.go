package model

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sync/atomic"

	"github.com/chewxy/hm"
	"github.com/dmrnet/dmrnet/internal/ftz"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds dmrnet's own Gorgonia ops: BatchNorm with running statistics shared by every
// graph of a model (training graphs of several batch sizes and the evaluation graph), and a
// fused, numerically stable per-sample cross-entropy. Both are differentiated symbolically:
// their SymDiff returns nodes of the small backward ops defined below.

// float is the element type of a graph.
type float interface{ ~float32 | ~float64 }

var opIDs atomic.Int64

// baseOp carries the Op methods every custom op shares. id keeps two ops of the same kind on
// the same inputs apart in Gorgonia's hash-consed graph.
type baseOp struct {
	id   int64
	name string
}

func newBase(name string) baseOp { return baseOp{id: opIDs.Add(1), name: name} }

func (o baseOp) ReturnsPtr() bool      { return false }
func (o baseOp) CallsExtern() bool     { return false }
func (o baseOp) OverwritesInput() int  { return -1 }
func (o baseOp) String() string        { return o.name }
func (o baseOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.name, o.id) }
func (o baseOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func tensorType(dims int) hm.Type { return G.TensorType{Dims: dims, Of: hm.TypeVariable('a')} }

// dense returns an op input as a contiguous *tensor.Dense whose Data() is laid out row-major.
// Gorgonia hands ops views (the gradient slices of Concat, for example) whose backing array
// is strided: those are copied into contiguous memory first.
func dense(v G.Value, op string) *tensor.Dense {
	d, ok := v.(*tensor.Dense)
	if !ok {
		panic(fmt.Sprintf("model: %s: input is %T, want *tensor.Dense", op, v))
	}
	if d.RequiresIterator() || d.IsMaterializable() {
		return d.Materialize().(*tensor.Dense)
	}
	return d
}

func newLike(dt tensor.Dtype, shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// BNState is one BatchNorm layer's running statistics. Every graph of a model (each training
// batch size and the evaluation graph) shares it, so they agree on what evaluation uses.
type BNState struct {
	Name     string
	Momentum float64 // weight of the new batch, as PyTorch's momentum
	Eps      float64

	mean     *tensor.Dense // running mean, shape (C)
	variance *tensor.Dense // running (unbiased) variance, shape (C)
}

// Stats returns the running mean and variance, each a []float32 or []float64 by the model's
// dtype; they are the statistics themselves, not copies.
func (s *BNState) Stats() (mean, variance any) { return s.mean.Data(), s.variance.Data() }

// bnOp normalises a (N, C) or (N, C, H, W) input per channel C:
//
//	y = gamma * (x - mean) / sqrt(var + eps) + beta
//
// In training mode mean and var are the batch's (biased variance), and the running
// statistics move towards them (unbiased variance, PyTorch's rule); in evaluation mode the
// running statistics are used and nothing changes.
type bnOp struct {
	baseOp
	state    *BNState
	training bool
	dims     int
	// Set by the last training forward pass and read by the backward ops of the same run.
	xhat   *tensor.Dense
	invstd []float64
}

func newBNOp(state *BNState, dims int, training bool) *bnOp {
	mode := "eval"
	if training {
		mode = "train"
	}
	return &bnOp{baseOp: newBase("batchnorm(" + state.Name + "," + mode + ")"), state: state, training: training, dims: dims}
}

func (op *bnOp) Arity() int { return 3 }
func (op *bnOp) Type() hm.Type {
	return hm.NewFnType(tensorType(op.dims), tensorType(1), tensorType(1), tensorType(op.dims))
}
func (op *bnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

// channelLayout returns N*spatial (the count per channel), C and the spatial size.
func channelLayout(shape tensor.Shape) (count, c, spatial int) {
	c = shape[1]
	spatial = 1
	for _, d := range shape[2:] {
		spatial *= d
	}
	return shape[0] * spatial, c, spatial
}

func (op *bnOp) Do(vals ...G.Value) (G.Value, error) {
	x := dense(vals[0], op.name)
	out := newLike(x.Dtype(), x.Shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		bnForward[float32](op, x, dense(vals[1], op.name), dense(vals[2], op.name), out)
	case tensor.Float64:
		bnForward[float64](op, x, dense(vals[1], op.name), dense(vals[2], op.name), out)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
	}
	return out, nil
}

func bnForward[T float](op *bnOp, xt, gt, bt, outt *tensor.Dense) {
	x, gamma, beta, out := xt.Data().([]T), gt.Data().([]T), bt.Data().([]T), outt.Data().([]T)
	n, c, sp := channelLayout(xt.Shape())
	rm, rv := op.state.mean.Data().([]T), op.state.variance.Data().([]T)
	if !op.training {
		for ch := 0; ch < c; ch++ {
			inv := 1 / math.Sqrt(float64(rv[ch])+op.state.Eps)
			scale := T(float64(gamma[ch]) * inv)
			shift := T(float64(beta[ch]) - float64(rm[ch])*float64(gamma[ch])*inv)
			forEachOfChannel(len(x), c, sp, ch, func(i int) { out[i] = x[i]*scale + shift })
		}
		return
	}
	if op.xhat == nil || !op.xhat.Shape().Eq(xt.Shape()) || op.xhat.Dtype() != xt.Dtype() {
		op.xhat = newLike(xt.Dtype(), xt.Shape()...)
		op.invstd = make([]float64, c)
	}
	xhat := op.xhat.Data().([]T)
	m := op.state.Momentum
	for ch := 0; ch < c; ch++ {
		var sum float64
		forEachOfChannel(len(x), c, sp, ch, func(i int) { sum += float64(x[i]) })
		mean := sum / float64(n)
		var ss float64
		forEachOfChannel(len(x), c, sp, ch, func(i int) { d := float64(x[i]) - mean; ss += d * d })
		v := ss / float64(n)
		inv := 1 / math.Sqrt(v+op.state.Eps)
		op.invstd[ch] = inv
		g, b := gamma[ch], beta[ch]
		forEachOfChannel(len(x), c, sp, ch, func(i int) {
			h := T((float64(x[i]) - mean) * inv)
			xhat[i] = h
			out[i] = g*h + b
		})
		rm[ch] = runningStat(rm[ch], m, mean)
		unbiased := v
		if n > 1 {
			unbiased = ss / float64(n-1)
		}
		rv[ch] = runningStat(rv[ch], m, unbiased)
	}
}

// runningStat moves a BatchNorm running statistic towards a batch's value by momentum m,
// (1-m)*old + m*batch, flushed to zero when subnormal (package ftz): the running mean or
// variance of a channel that is constant (e.g. a modality that never varies) decays
// geometrically, and subnormal statistics would make every later use of them slow.
func runningStat[T float](old T, m, batch float64) T {
	return ftz.Flush(T((1-m)*float64(old) + m*batch))
}

// forEachOfChannel calls f with every flat index of channel ch in a (N, C, spatial) layout.
func forEachOfChannel(total, c, sp, ch int, f func(i int)) {
	stride := c * sp
	for base := ch * sp; base < total; base += stride {
		for i := base; i < base+sp; i++ {
			f(i)
		}
	}
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.training {
		return nil, fmt.Errorf("%s: no gradient in evaluation mode", op.name)
	}
	dx, err := G.ApplyOp(&bnGradOp{baseOp: newBase(op.name + ".dx"), fwd: op, which: 0}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dg, err := G.ApplyOp(&bnGradOp{baseOp: newBase(op.name + ".dgamma"), fwd: op, which: 1}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	db, err := G.ApplyOp(&bnGradOp{baseOp: newBase(op.name + ".dbeta"), fwd: op, which: 2}, inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dg, db}, nil
}

// bnGradOp computes one of BatchNorm's three gradients from (gamma, dy) and the forward pass's
// cached normalised input:
//
//	dbeta  = sum dy
//	dgamma = sum dy * xhat
//	dx     = gamma * invstd / n * (n*dy - dbeta - xhat*dgamma)
type bnGradOp struct {
	baseOp
	fwd   *bnOp
	which int // 0 dx, 1 dgamma, 2 dbeta
}

func (op *bnGradOp) Arity() int { return 2 }
func (op *bnGradOp) Type() hm.Type {
	out := tensorType(op.fwd.dims)
	if op.which != 0 {
		out = tensorType(1)
	}
	return hm.NewFnType(tensorType(1), tensorType(op.fwd.dims), out)
}
func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.which == 0 {
		return in[1].(tensor.Shape).Clone(), nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *bnGradOp) Do(vals ...G.Value) (G.Value, error) {
	gamma, dy := dense(vals[0], op.name), dense(vals[1], op.name)
	if op.fwd.xhat == nil {
		return nil, fmt.Errorf("%s: backward before forward", op.name)
	}
	var out *tensor.Dense
	if op.which == 0 {
		out = newLike(dy.Dtype(), dy.Shape()...)
	} else {
		out = newLike(dy.Dtype(), gamma.Shape()...)
	}
	switch dy.Dtype() {
	case tensor.Float32:
		bnBackward[float32](op, gamma, dy, out)
	case tensor.Float64:
		bnBackward[float64](op, gamma, dy, out)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return out, nil
}

func bnBackward[T float](op *bnGradOp, gt, dyt, outt *tensor.Dense) {
	gamma, dy, out := gt.Data().([]T), dyt.Data().([]T), outt.Data().([]T)
	xhat := op.fwd.xhat.Data().([]T)
	n, c, sp := channelLayout(dyt.Shape())
	for ch := 0; ch < c; ch++ {
		var sdy, sdyx float64
		forEachOfChannel(len(dy), c, sp, ch, func(i int) {
			sdy += float64(dy[i])
			sdyx += float64(dy[i]) * float64(xhat[i])
		})
		switch op.which {
		case 1:
			out[ch] = T(sdyx)
		case 2:
			out[ch] = T(sdy)
		default:
			k := float64(gamma[ch]) * op.fwd.invstd[ch] / float64(n)
			fn := float64(n)
			forEachOfChannel(len(dy), c, sp, ch, func(i int) {
				out[i] = T(k * (fn*float64(dy[i]) - sdy - float64(xhat[i])*sdyx))
			})
		}
	}
}

// xentOp is the per-sample cross-entropy of logits (B, C) against target distributions
// (B, C), usually one-hot:
//
//	ce_i = -sum_c t_ic * log softmax(logits_i)_c
//
// computed with the log-sum-exp shift, so it is finite for any finite logits.
type xentOp struct{ baseOp }

func newXentOp() *xentOp { return &xentOp{newBase("xent")} }

func (op *xentOp) Arity() int { return 2 }
func (op *xentOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(1))
}
func (op *xentOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[0]}, nil
}

func (op *xentOp) Do(vals ...G.Value) (G.Value, error) {
	logits, target := dense(vals[0], op.name), dense(vals[1], op.name)
	b := logits.Shape()[0]
	out := newLike(logits.Dtype(), b)
	switch logits.Dtype() {
	case tensor.Float32:
		xentForward[float32](logits, target, out)
	case tensor.Float64:
		xentForward[float64](logits, target, out)
	default:
		return nil, fmt.Errorf("xent: unsupported dtype %v", logits.Dtype())
	}
	return out, nil
}

func xentForward[T float](lt, tt, outt *tensor.Dense) {
	logits, target, out := lt.Data().([]T), tt.Data().([]T), outt.Data().([]T)
	c := lt.Shape()[1]
	for i := range out {
		row, t := logits[i*c:(i+1)*c], target[i*c:(i+1)*c]
		lse := logSumExp(row)
		var ce, tsum float64
		for j, v := range row {
			ce -= float64(t[j]) * float64(v)
			tsum += float64(t[j])
		}
		out[i] = T(ce + tsum*lse)
	}
}

func logSumExp[T float](row []T) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

func (op *xentOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *xentOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&xentGradOp{newBase("xent.dlogits")}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, nil}, nil
}

// xentGradOp is d ce_i / d logits_ic = (softmax_ic * sum_c t_ic - t_ic) * g_i.
type xentGradOp struct{ baseOp }

func (op *xentGradOp) Arity() int { return 3 }
func (op *xentGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(1), tensorType(2))
}
func (op *xentGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *xentGradOp) Do(vals ...G.Value) (G.Value, error) {
	logits, target, g := dense(vals[0], op.name), dense(vals[1], op.name), dense(vals[2], op.name)
	out := newLike(logits.Dtype(), logits.Shape()...)
	switch logits.Dtype() {
	case tensor.Float32:
		xentBackward[float32](logits, target, g, out)
	case tensor.Float64:
		xentBackward[float64](logits, target, g, out)
	default:
		return nil, fmt.Errorf("xent: unsupported dtype %v", logits.Dtype())
	}
	return out, nil
}

func xentBackward[T float](lt, tt, gt, outt *tensor.Dense) {
	logits, target, g, out := lt.Data().([]T), tt.Data().([]T), gt.Data().([]T), outt.Data().([]T)
	c := lt.Shape()[1]
	for i := range g {
		row, t, o := logits[i*c:(i+1)*c], target[i*c:(i+1)*c], out[i*c:(i+1)*c]
		lse := logSumExp(row)
		var tsum float64
		for _, v := range t {
			tsum += float64(v)
		}
		gi := float64(g[i])
		for j, v := range row {
			o[j] = T((math.Exp(float64(v)-lse)*tsum - float64(t[j])) * gi)
		}
	}
}

// biasOp adds a per-channel bias b (C) to x (N, C, ...) without materialising a broadcast.
type biasOp struct {
	baseOp
	dims int
}

func newBiasOp(name string, dims int) *biasOp { return &biasOp{newBase("bias(" + name + ")"), dims} }

func (op *biasOp) Arity() int { return 2 }
func (op *biasOp) Type() hm.Type {
	return hm.NewFnType(tensorType(op.dims), tensorType(1), tensorType(op.dims))
}
func (op *biasOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *biasOp) Do(vals ...G.Value) (G.Value, error) {
	x, b := dense(vals[0], op.name), dense(vals[1], op.name)
	out := newLike(x.Dtype(), x.Shape()...)
	_, c, sp := channelLayout(x.Shape())
	switch x.Dtype() {
	case tensor.Float32:
		addBias(x.Data().([]float32), b.Data().([]float32), out.Data().([]float32), c, sp)
	case tensor.Float64:
		addBias(x.Data().([]float64), b.Data().([]float64), out.Data().([]float64), c, sp)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
	}
	return out, nil
}

func addBias[T float](x, b, out []T, c, sp int) {
	for i := range x {
		out[i] = x[i] + b[(i/sp)%c]
	}
}

func (op *biasOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *biasOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	db, err := G.ApplyOp(&biasGradOp{newBase(op.name + ".db"), op.dims}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, db}, nil
}

// biasGradOp sums dy (N, C, ...) over every axis but the channel axis.
type biasGradOp struct {
	baseOp
	dims int
}

func (op *biasGradOp) Arity() int { return 1 }
func (op *biasGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(op.dims), tensorType(1))
}
func (op *biasGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}

func (op *biasGradOp) Do(vals ...G.Value) (G.Value, error) {
	dy := dense(vals[0], op.name)
	_, c, sp := channelLayout(dy.Shape())
	out := newLike(dy.Dtype(), c)
	switch dy.Dtype() {
	case tensor.Float32:
		sumChannels(dy.Data().([]float32), out.Data().([]float32), c, sp)
	case tensor.Float64:
		sumChannels(dy.Data().([]float64), out.Data().([]float64), c, sp)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return out, nil
}

func sumChannels[T float](dy, out []T, c, sp int) {
	acc := make([]float64, c)
	for i, v := range dy {
		acc[(i/sp)%c] += float64(v)
	}
	for i, v := range acc {
		out[i] = T(v)
	}
}

// fuseOp is DMRNet's masked concatenation: for features e_m (B, E_m) and a presence mask
// (B, M) of 0/1 values,
//
//	h[b] = [mask[b,0] e_0[b], ..., mask[b,M-1] e_{M-1}[b]]
//
// It replaces Gorgonia's Concat, whose gradient is lost for some inputs when the total width
// is large (with six 64-wide inputs the fifth gets none: gorgonia v0.9.18).
type fuseOp struct {
	baseOp
	widths []int
}

func newFuseOp(widths []int) *fuseOp {
	return &fuseOp{newBase("fuse"), append([]int(nil), widths...)}
}

func (op *fuseOp) total() int {
	n := 0
	for _, w := range op.widths {
		n += w
	}
	return n
}

func (op *fuseOp) Arity() int { return len(op.widths) + 1 }
func (op *fuseOp) Type() hm.Type {
	ts := make([]hm.Type, op.Arity()+1)
	for i := range ts {
		ts[i] = tensorType(2)
	}
	return hm.NewFnType(ts...)
}
func (op *fuseOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.total()}, nil
}

func (op *fuseOp) Do(vals ...G.Value) (G.Value, error) {
	mask := dense(vals[0], op.name)
	b := mask.Shape()[0]
	out := newLike(mask.Dtype(), b, op.total())
	feats := make([]*tensor.Dense, len(op.widths))
	for i := range feats {
		feats[i] = dense(vals[i+1], op.name)
	}
	switch mask.Dtype() {
	case tensor.Float32:
		fuseForward[float32](op.widths, mask, feats, out)
	case tensor.Float64:
		fuseForward[float64](op.widths, mask, feats, out)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, mask.Dtype())
	}
	return out, nil
}

func fuseForward[T float](widths []int, mt *tensor.Dense, feats []*tensor.Dense, outt *tensor.Dense) {
	mask, out := mt.Data().([]T), outt.Data().([]T)
	m := len(widths)
	total := outt.Shape()[1]
	for r := 0; r < mt.Shape()[0]; r++ {
		off := r * total
		for i, w := range widths {
			k := mask[r*m+i]
			src := feats[i].Data().([]T)[r*w : (r+1)*w]
			dst := out[off : off+w]
			if k == 0 {
				clear(dst)
			} else {
				for j, v := range src {
					dst[j] = v * k
				}
			}
			off += w
		}
	}
}

func (op *fuseOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for i := 1; i < n; i++ {
		out[i] = true
	}
	return out
}

func (op *fuseOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	off := 0
	for i, w := range op.widths {
		g, err := G.ApplyOp(&fuseGradOp{baseOp: newBase(fmt.Sprintf("fuse.d%d", i)), index: i, offset: off, width: w, m: len(op.widths)}, inputs[0], grad)
		if err != nil {
			return nil, err
		}
		out[i+1] = g
		off += w
	}
	return out, nil
}

// fuseGradOp extracts input index's gradient: dy[:, offset:offset+width] * mask[:, index].
type fuseGradOp struct {
	baseOp
	index, offset, width, m int
}

func (op *fuseGradOp) Arity() int { return 2 }
func (op *fuseGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *fuseGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[0], op.width}, nil
}

func (op *fuseGradOp) Do(vals ...G.Value) (G.Value, error) {
	mask, dy := dense(vals[0], op.name), dense(vals[1], op.name)
	b := mask.Shape()[0]
	out := newLike(dy.Dtype(), b, op.width)
	switch dy.Dtype() {
	case tensor.Float32:
		fuseBackward[float32](op, mask, dy, out)
	case tensor.Float64:
		fuseBackward[float64](op, mask, dy, out)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return out, nil
}

func fuseBackward[T float](op *fuseGradOp, mt, dyt, outt *tensor.Dense) {
	mask, dy, out := mt.Data().([]T), dyt.Data().([]T), outt.Data().([]T)
	total := dyt.Shape()[1]
	for r := 0; r < mt.Shape()[0]; r++ {
		k := mask[r*op.m+op.index]
		dst := out[r*op.width : (r+1)*op.width]
		src := dy[r*total+op.offset : r*total+op.offset+op.width]
		for j, v := range src {
			dst[j] = v * k
		}
	}
}

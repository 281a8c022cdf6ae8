package model

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the fused end of the training graph: the reparameterisation
// z = mu + eps * exp(logvar/2) and the whole loss L = CE + alpha*KL + beta*HCR as single ops.
// The loss op also records what the training loop logs (CE, KL, HCR, per-sample
// cross-entropy and variance, predictions), so nothing has to be read back from the graph.

// reparamOp computes z = mu + eps * exp(lv / 2) from mu, lv and eps, all (B, Z). It keeps
// sigma = exp(lv / 2) for its gradient and for the KL term of the loss.
type reparamOp struct {
	baseOp
	sigma any // []float32 or []float64 of the last forward pass
}

func (op *reparamOp) Arity() int { return 3 }
func (op *reparamOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *reparamOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *reparamOp) Do(vals ...G.Value) (G.Value, error) {
	mu := dense(vals[0], op.name)
	out := newLike(mu.Dtype(), mu.Shape()...)
	switch mu.Dtype() {
	case tensor.Float32:
		op.sigma = reparam(data[float32](vals[0], op.name), data[float32](vals[1], op.name), data[float32](vals[2], op.name), out.Data().([]float32), op.sigma)
	case tensor.Float64:
		op.sigma = reparam(data[float64](vals[0], op.name), data[float64](vals[1], op.name), data[float64](vals[2], op.name), out.Data().([]float64), op.sigma)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, mu.Dtype())
	}
	return out, nil
}

func reparam[T float](mu, lv, eps, z []T, sigmaAny any) []T {
	sigma, _ := sigmaAny.([]T)
	if len(sigma) != len(z) {
		sigma = make([]T, len(z))
	}
	for i := range z {
		sd := T(math.Exp(0.5 * float64(lv[i])))
		sigma[i] = sd
		z[i] = mu[i] + eps[i]*sd
	}
	return sigma
}

func (op *reparamOp) DiffWRT(int) []bool { return []bool{true, true, false} }

func (op *reparamOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dlv, err := G.ApplyOp(&reparamGradOp{newBase(op.name + ".dlv"), op}, inputs[1], inputs[2], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{grad, dlv, nil}, nil
}

// reparamGradOp is dz/dlv * g = g * eps * exp(lv/2) / 2, with exp(lv/2) from the forward pass.
type reparamGradOp struct {
	baseOp
	fwd *reparamOp
}

func (op *reparamGradOp) Arity() int { return 3 }
func (op *reparamGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *reparamGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *reparamGradOp) Do(vals ...G.Value) (G.Value, error) {
	lv := dense(vals[0], op.name)
	out := newLike(lv.Dtype(), lv.Shape()...)
	switch lv.Dtype() {
	case tensor.Float32:
		reparamGrad(op.fwd.sigma.([]float32), data[float32](vals[1], op.name), data[float32](vals[2], op.name), out.Data().([]float32))
	case tensor.Float64:
		reparamGrad(op.fwd.sigma.([]float64), data[float64](vals[1], op.name), data[float64](vals[2], op.name), out.Data().([]float64))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, lv.Dtype())
	}
	return out, nil
}

func reparamGrad[T float](sigma, eps, g, out []T) {
	for i := range out {
		out[i] = g[i] * eps[i] * sigma[i] * 0.5
	}
}

// lossOp is L = CE + alpha*KL + beta*HCR for a batch (see lossTerms for the terms) from
// logits, targets, hard flags and, with a probabilistic embedding, mu and logvar. Its
// gradients are computed with the forward pass, since the loss ends the graph.
type lossOp struct {
	baseOp
	w     LossWeights
	pme   bool
	stats lossStats
	grads []any // per input: nil or the gradient (same type as the input's data)
	// rp, when set, is the reparameterisation of the same graph, whose sigma^2 = exp(lv)
	// the KL term reuses.
	rp *reparamOp
}

// lossStats is what the last forward pass computed besides the loss.
type lossStats struct {
	loss, ce, kl, hcr float64
	cei, variance     []float64
	pred              []int
}

func newLossOp(w LossWeights, pme bool) *lossOp {
	return &lossOp{baseOp: newBase("loss"), w: w, pme: pme}
}

func (op *lossOp) Arity() int {
	if op.pme {
		return 5
	}
	return 3
}

func (op *lossOp) Type() hm.Type {
	ts := []hm.Type{tensorType(2), tensorType(2), tensorType(1)}
	if op.pme {
		ts = append(ts, tensorType(2), tensorType(2))
	}
	return hm.NewFnType(append(ts, hm.TypeVariable('a'))...)
}

func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }

func (op *lossOp) Do(vals ...G.Value) (G.Value, error) {
	logits := dense(vals[0], op.name)
	switch logits.Dtype() {
	case tensor.Float32:
		return G.NewF32(float32(lossForward[float32](op, vals))), nil
	case tensor.Float64:
		return G.NewF64(lossForward[float64](op, vals)), nil
	}
	return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, logits.Dtype())
}

// lossForward computes the loss, the logged statistics and the gradients
//
//	dL/dlogits_ic = (softmax_ic - t_ic) * (1 + beta*hard_i) / B
//	dL/dmu        = alpha * mu / B
//	dL/dlv        = alpha * (exp(lv) - 1) / (2B)
func lossForward[T float](op *lossOp, vals []G.Value) float64 {
	lt := dense(vals[0], op.name)
	logits, target, hard := lt.Data().([]T), data[T](vals[1], op.name), data[T](vals[2], op.name)
	b, c := lt.Shape()[0], lt.Shape()[1]
	st := &op.stats
	if len(st.cei) != b {
		st.cei, st.variance, st.pred = make([]float64, b), make([]float64, b), make([]int, b)
		op.grads = make([]any, op.Arity())
		op.grads[0] = make([]T, b*c)
		if op.pme {
			z := dense(vals[3], op.name).Shape()[1]
			op.grads[3], op.grads[4] = make([]T, b*z), make([]T, b*z)
		}
	}
	dlog := op.grads[0].([]T)
	fb := float64(b)
	var ce, hcr float64
	for i := 0; i < b; i++ {
		row, t := logits[i*c:(i+1)*c], target[i*c:(i+1)*c]
		lse := logSumExp(row)
		var l, tsum float64
		best := 0
		for j, v := range row {
			l -= float64(t[j]) * float64(v)
			tsum += float64(t[j])
			if v > row[best] {
				best = j
			}
		}
		l += tsum * lse
		st.cei[i], st.pred[i] = l, best
		ce += l
		h := float64(hard[i])
		hcr += h * l
		wgt := (1 + op.w.Beta*h) / fb
		for j, v := range row {
			dlog[i*c+j] = T((math.Exp(float64(v)-lse)*tsum - float64(t[j])) * wgt)
		}
	}
	st.ce, st.hcr = ce/fb, hcr/fb
	st.kl = 0
	if op.pme {
		mu, lv := data[T](vals[3], op.name), data[T](vals[4], op.name)
		z := len(mu) / b
		dmu, dlv := op.grads[3].([]T), op.grads[4].([]T)
		var sigma []T
		if op.rp != nil {
			sigma, _ = op.rp.sigma.([]T)
		}
		var kl float64
		for i := 0; i < b; i++ {
			var v float64
			for j := i * z; j < (i+1)*z; j++ {
				var e float64
				if sigma != nil {
					e = float64(sigma[j]) * float64(sigma[j])
				} else {
					e = math.Exp(float64(lv[j]))
				}
				m := float64(mu[j])
				kl += e + m*m - float64(lv[j]) - 1
				v += e
				dmu[j] = T(op.w.Alpha * m / fb)
				dlv[j] = T(op.w.Alpha * (e - 1) / (2 * fb))
			}
			st.variance[i] = v / float64(z)
		}
		st.kl = 0.5 * kl / fb
	} else {
		clear(st.variance)
	}
	st.loss = st.ce + op.w.Beta*st.hcr
	if op.w.Alpha != 0 {
		st.loss += op.w.Alpha * st.kl
	}
	return st.loss
}

func (op *lossOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	out[0] = true
	if op.pme {
		out[3], out[4] = true, true
	}
	return out
}

func (op *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for _, i := range []int{0, 3, 4} {
		if i >= len(inputs) {
			break
		}
		g, err := G.ApplyOp(&lossGradOp{baseOp: newBase(fmt.Sprintf("loss.d%d", i)), fwd: op, which: i}, inputs[i], grad)
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// lossGradOp returns the loss's gradient for one input, scaled by the incoming gradient.
// It takes the input itself only for its shape (and to keep the dependency explicit).
type lossGradOp struct {
	baseOp
	fwd   *lossOp
	which int
}

func (op *lossGradOp) Arity() int { return 2 }
func (op *lossGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), hm.TypeVariable('a'), tensorType(2))
}
func (op *lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *lossGradOp) Do(vals ...G.Value) (G.Value, error) {
	x := dense(vals[0], op.name)
	out := newLike(x.Dtype(), x.Shape()...)
	scale := readFloats(vals[1])[0]
	switch d := out.Data().(type) {
	case []float32:
		for i, v := range op.fwd.grads[op.which].([]float32) {
			d[i] = v * float32(scale)
		}
	case []float64:
		for i, v := range op.fwd.grads[op.which].([]float64) {
			d[i] = v * scale
		}
	}
	return out, nil
}

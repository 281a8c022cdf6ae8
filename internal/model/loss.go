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
	nAux  int     // number of auxiliary heads (0: none)
	auxW  float64 // their loss weight lambda
	iMu   int     // input positions: mu (then lv), the presence mask (then the aux logits)
	iMask int
	stats lossStats
	grads []any // per input: nil or the gradient (same type as the input's data)
	// rp, when set, is the reparameterisation of the same graph, whose sigma^2 = exp(lv)
	// the KL term reuses.
	rp *reparamOp
}

// lossStats is what the last forward pass computed besides the loss.
type lossStats struct {
	loss, ce, kl, hcr, aux float64
	cei, variance          []float64
	pred                   []int
}

// newLossOp builds the loss of a graph with nAux auxiliary heads of weight auxW. Inputs:
// logits, target, hard, weight, then mu and lv (with pme), then the presence mask (B, M)
// and the auxiliary logits (with nAux > 0).
func newLossOp(w LossWeights, pme bool, nAux int, auxW float64) *lossOp {
	op := &lossOp{baseOp: newBase("loss"), w: w, pme: pme, nAux: nAux, auxW: auxW, iMu: -1, iMask: -1}
	next := 4
	if pme {
		op.iMu = next
		next += 2
	}
	if nAux > 0 {
		op.iMask = next
	}
	return op
}

func (op *lossOp) Arity() int {
	n := 4
	if op.pme {
		n += 2
	}
	if op.nAux > 0 {
		n += 1 + op.nAux
	}
	return n
}

func (op *lossOp) Type() hm.Type {
	ts := []hm.Type{tensorType(2), tensorType(2), tensorType(1), tensorType(1)}
	if op.pme {
		ts = append(ts, tensorType(2), tensorType(2))
	}
	if op.nAux > 0 {
		ts = append(ts, tensorType(2))
		for i := 0; i < op.nAux; i++ {
			ts = append(ts, tensorType(2))
		}
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

// lossForward computes the loss
//
//	L = 1/B sum_i w_i CE_i + beta*HCR + alpha*KL + lambda * AUX
//	AUX = sum_{i,m} mask_im CE(aux_m(i), y_i) / sum_{i,m} mask_im
//
// the logged statistics and the gradients
//
//	dL/dlogits_ic = (softmax_ic - t_ic) * (w_i + beta*hard_i) / B
//	dL/dmu        = alpha * mu / B
//	dL/dlv        = alpha * (exp(lv) - 1) / (2B)
//	dL/daux_m,ic  = lambda * mask_im * (softmax(aux_m(i))_c - t_ic) / sum mask
func lossForward[T float](op *lossOp, vals []G.Value) float64 {
	lt := dense(vals[0], op.name)
	logits, target, hard, weight := lt.Data().([]T), data[T](vals[1], op.name), data[T](vals[2], op.name), data[T](vals[3], op.name)
	b, c := lt.Shape()[0], lt.Shape()[1]
	st := &op.stats
	if len(st.cei) != b {
		st.cei, st.variance, st.pred = make([]float64, b), make([]float64, b), make([]int, b)
		op.grads = make([]any, op.Arity())
		op.grads[0] = make([]T, b*c)
		if op.pme {
			z := dense(vals[op.iMu], op.name).Shape()[1]
			op.grads[op.iMu], op.grads[op.iMu+1] = make([]T, b*z), make([]T, b*z)
		}
		for k := 0; k < op.nAux; k++ {
			op.grads[op.iMask+1+k] = make([]T, b*c)
		}
	}
	dlog := op.grads[0].([]T)
	fb := float64(b)
	var ce, wce, hcr float64
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
		wce += float64(weight[i]) * l
		h := float64(hard[i])
		hcr += h * l
		wgt := (float64(weight[i]) + op.w.Beta*h) / fb
		for j, v := range row {
			dlog[i*c+j] = T((math.Exp(float64(v)-lse)*tsum - float64(t[j])) * wgt)
		}
	}
	st.ce, st.hcr = ce/fb, hcr/fb
	st.kl = 0
	if op.pme {
		mu, lv := data[T](vals[op.iMu], op.name), data[T](vals[op.iMu+1], op.name)
		z := len(mu) / b
		dmu, dlv := op.grads[op.iMu].([]T), op.grads[op.iMu+1].([]T)
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
	st.loss = wce/fb + op.w.Beta*st.hcr
	if op.w.Alpha != 0 {
		st.loss += op.w.Alpha * st.kl
	}
	st.aux = 0
	if op.nAux > 0 {
		st.aux = auxLoss[T](op, vals, target, b, c)
		st.loss += op.auxW * st.aux
	}
	return st.loss
}

// auxLoss returns the auxiliary heads' mean cross-entropy over the present (sample,
// modality) pairs and writes the gradients of lambda times it.
func auxLoss[T float](op *lossOp, vals []G.Value, target []T, b, c int) float64 {
	mask := data[T](vals[op.iMask], op.name)
	var pairs float64
	for _, v := range mask {
		pairs += float64(v)
	}
	var sum float64
	for k := 0; k < op.nAux; k++ {
		logits := data[T](vals[op.iMask+1+k], op.name)
		g := op.grads[op.iMask+1+k].([]T)
		for i := 0; i < b; i++ {
			row, t, gr := logits[i*c:(i+1)*c], target[i*c:(i+1)*c], g[i*c:(i+1)*c]
			present := float64(mask[i*op.nAux+k])
			if present == 0 || pairs == 0 {
				clear(gr)
				continue
			}
			lse := logSumExp(row)
			var l, tsum float64
			for j, v := range row {
				l -= float64(t[j]) * float64(v)
				tsum += float64(t[j])
			}
			sum += present * (l + tsum*lse)
			scale := op.auxW * present / pairs
			for j, v := range row {
				gr[j] = T((math.Exp(float64(v)-lse)*tsum - float64(t[j])) * scale)
			}
		}
	}
	if pairs == 0 {
		return 0
	}
	return sum / pairs
}

// diffInputs lists the inputs that get a gradient: the logits, mu and lv, the aux logits.
func (op *lossOp) diffInputs() []int {
	out := []int{0}
	if op.pme {
		out = append(out, op.iMu, op.iMu+1)
	}
	for k := 0; k < op.nAux; k++ {
		out = append(out, op.iMask+1+k)
	}
	return out
}

func (op *lossOp) DiffWRT(n int) []bool {
	out := make([]bool, n)
	for _, i := range op.diffInputs() {
		out[i] = true
	}
	return out
}

func (op *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for _, i := range op.diffInputs() {
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

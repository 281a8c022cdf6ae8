package model

import (
	"fmt"
	"math"

	"github.com/dmrnet/dmrnet/internal/combo"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Batch is one batch of inputs as plain slices; B is len(Y).
type Batch struct {
	// X holds one slice per modality, row-major (B, input size of the modality).
	X [][]float32
	// Present is each sample's modality combination: absent modalities' features are zeroed.
	Present []combo.Set
	// Y holds the class labels (training only).
	Y []int
	// Hard marks the samples whose combination is in the hard set H: their cross-entropy
	// enters the HCR term (training only; nil means none).
	Hard []bool
	// Noise is the reparameterisation noise eps ~ N(0, I), row-major (B, Z), drawn by the
	// caller from its seeded generator (training only; nil means zeros, i.e. z = mu).
	Noise []float64
	// Weight scales each sample's cross-entropy in the loss (training only; nil means 1).
	Weight []float64
}

// LossWeights are alpha and beta of L = CE + alpha*KL + beta*HCR.
type LossWeights struct{ Alpha, Beta float64 }

// builder adds one graph's nodes; parameters become nodes bound to the Model's tensors.
type builder struct {
	m        *Model
	g        *G.ExprGraph
	training bool
	nodes    map[string]*G.Node
	// gradSrc maps a parameter to the fused op that computes its gradient, and the
	// parameter's position among that op's inputs.
	gradSrc map[string]gradRef
}

// gradSource is a fused op that keeps its inputs' gradients in its own cache.
type gradSource interface{ gradOf(i int) any }

type gradRef struct {
	op  gradSource
	idx int
}

// fusedInputs records, for every parameter node among a fused op's inputs, where its
// gradient comes from.
func (b *builder) fusedInputs(op gradSource, inputs G.Nodes) {
	if b.gradSrc == nil {
		b.gradSrc = map[string]gradRef{}
	}
	for i, n := range inputs {
		if p := b.m.byName[n.Name()]; p != nil && b.nodes[p.Name] == n {
			b.gradSrc[p.Name] = gradRef{op, i}
		}
	}
}

func newBuilder(m *Model, training bool) *builder {
	return &builder{m: m, g: G.NewGraph(), training: training, nodes: map[string]*G.Node{}}
}

func (b *builder) param(name string) *G.Node {
	if n, ok := b.nodes[name]; ok {
		return n
	}
	p := b.m.byName[name]
	if p == nil {
		panic("model: unknown parameter " + name)
	}
	n := G.NodeFromAny(b.g, p.value, G.WithName(name))
	b.nodes[name] = n
	return n
}

// input creates a graph input bound to a tensor the graph owns and refills each run.
func (b *builder) input(name string, shape ...int) (*G.Node, *tensor.Dense) {
	t := newLike(b.m.spec.DType, shape...)
	return G.NodeFromAny(b.g, t, G.WithName(name)), t
}

func (b *builder) scalar(v float64) *G.Node {
	if b.m.spec.DType == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// layerDef is one Linear (-> BatchNorm) (-> ReLU) layer of stack; its parameters are
// name.W, name.b and, with BatchNorm, name.bn.gamma and name.bn.beta.
type layerDef struct {
	name string
	bn   bool
	relu bool
}

// stack adds a sequence of dense layers over x: one fused op (see dense.go), or, with
// Spec.Reference, Gorgonia's own ops node by node. needDX says whether x needs a gradient.
func (b *builder) stack(x *G.Node, defs []layerDef, needDX bool) (*G.Node, error) {
	if b.m.spec.Reference {
		h := x
		var err error
		for _, d := range defs {
			if h, err = b.linear(d.name, h); err != nil {
				return nil, err
			}
			if d.bn {
				if h, err = b.batchNorm(d.name+".bn", h); err != nil {
					return nil, err
				}
			}
			if d.relu {
				if h, err = G.Rectify(h); err != nil {
					return nil, fmt.Errorf("%s relu: %w", d.name, err)
				}
			}
		}
		return h, nil
	}
	inputs := G.Nodes{x}
	layers := make([]denseLayer, len(defs))
	for i, d := range defs {
		w := b.m.byName[d.name+".W"]
		if w == nil {
			panic("model: unknown layer " + d.name)
		}
		sh := w.value.Shape()
		layers[i] = denseLayer{in: sh[0], out: sh[1], relu: d.relu, name: d.name}
		inputs = append(inputs, b.param(d.name+".W"), b.param(d.name+".b"))
		if d.bn {
			layers[i].bn = b.m.bnByName[d.name+".bn"]
			inputs = append(inputs, b.param(d.name+".bn.gamma"), b.param(d.name+".bn.beta"))
		}
	}
	op := newDenseStackOp(defs[0].name, layers, b.training, needDX)
	y, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", defs[0].name, err)
	}
	b.fusedInputs(op, inputs)
	return y, nil
}

// linear computes x W + b.
func (b *builder) linear(name string, x *G.Node) (*G.Node, error) {
	y, err := G.Mul(x, b.param(name+".W"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	y, err = G.ApplyOp(newBiasOp(name, 2), y, b.param(name+".b"))
	if err != nil {
		return nil, fmt.Errorf("%s bias: %w", name, err)
	}
	return y, nil
}

func (b *builder) batchNorm(name string, x *G.Node) (*G.Node, error) {
	st := b.m.bnByName[name]
	if st == nil {
		panic("model: unknown batchnorm " + name)
	}
	y, err := G.ApplyOp(newBNOp(st, x.Dims(), b.training), x, b.param(name+".gamma"), b.param(name+".beta"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// head holds the nodes shared by training and evaluation graphs.
type head struct {
	xs     []*tensor.Dense // per modality; nil for an absent one
	mask   *tensor.Dense   // (B, M') 0/1 presence of each of the M' modalities with an encoder
	mu, lv *G.Node         // (B, Z); lv nil without PME
	z      *G.Node
	logits *G.Node
	rp     *reparamOp // the fused reparameterisation, if any
	maskN  *G.Node
	aux    G.Nodes // per modality (B, C) auxiliary logits, with auxiliary heads
}

// forward builds encoders -> masked concat -> mu/logvar -> (z) -> logits for batch size n.
// noise, when non-nil, is the (B, Z) reparameterisation input.
func (b *builder) forward(n int, noise *G.Node) (*head, error) {
	h := &head{}
	var feats G.Nodes
	h.xs = make([]*tensor.Dense, len(b.m.encoders))
	for i, enc := range b.m.encoders {
		if enc == nil {
			continue
		}
		ms := b.m.spec.Modalities[i]
		x, xt := b.input("x."+ms.Name, n, ms.InputSize())
		h.xs[i] = xt
		f, err := enc.build(b, x)
		if err != nil {
			return nil, err
		}
		feats = append(feats, f)
	}
	maskN, maskT := b.input("mask", n, len(feats))
	h.mask, h.maskN = maskT, maskN
	if b.m.HasAux() {
		for i, ms := range b.m.spec.Modalities {
			a, err := b.stack(feats[i], []layerDef{{name: "aux." + ms.Name}}, true)
			if err != nil {
				return nil, err
			}
			h.aux = append(h.aux, a)
		}
	}
	fused, err := G.ApplyOp(newFuseOp(b.m.presentDims()), append(G.Nodes{maskN}, feats...)...)
	if err != nil {
		return nil, fmt.Errorf("fusion: %w", err)
	}
	if h.mu, err = b.stack(fused, []layerDef{{name: "mu", bn: true}}, true); err != nil {
		return nil, err
	}
	h.z = h.mu
	if b.m.spec.PME {
		if h.lv, err = b.stack(fused, []layerDef{{name: "logvar", bn: true}}, true); err != nil {
			return nil, err
		}
		if noise != nil && !b.m.spec.Reference {
			h.rp = &reparamOp{baseOp: newBase("reparam")}
			if h.z, err = G.ApplyOp(h.rp, h.mu, h.lv, noise); err != nil {
				return nil, fmt.Errorf("reparameterisation: %w", err)
			}
		} else if noise != nil {
			half, err := G.HadamardProd(h.lv, b.scalar(0.5))
			if err != nil {
				return nil, err
			}
			sigma, err := G.Exp(half)
			if err != nil {
				return nil, err
			}
			scaled, err := G.HadamardProd(noise, sigma)
			if err != nil {
				return nil, err
			}
			if h.z, err = G.Add(h.mu, scaled); err != nil {
				return nil, err
			}
		}
	}
	if h.logits, err = b.stack(h.z, []layerDef{{name: "cls"}}, true); err != nil {
		return nil, err
	}
	return h, nil
}

// fill copies a batch's inputs and masks into the graph's input tensors. Absent modalities'
// inputs are not read.
func (h *head) fill(m *Model, bt *Batch, n int) error {
	if len(bt.X) != len(m.encoders) {
		return fmt.Errorf("model: batch has %d modalities, model %d", len(bt.X), len(m.encoders))
	}
	rows := len(bt.Present)
	if rows > n {
		return fmt.Errorf("model: batch of %d samples for a graph of %d", rows, n)
	}
	for i, xt := range h.xs {
		if xt == nil {
			continue
		}
		size := m.spec.Modalities[i].InputSize()
		if len(bt.X[i]) != rows*size {
			return fmt.Errorf("model: modality %q: %d values for %d samples of size %d",
				m.spec.Modalities[i].Name, len(bt.X[i]), rows, size)
		}
		copyInto(xt, bt.X[i])
	}
	var cols []int // the modalities with an encoder: the mask's columns
	for mi, xt := range h.xs {
		if xt != nil {
			cols = append(cols, mi)
		}
	}
	nm := len(cols)
	mask := make([]float32, n*nm)
	for r, s := range bt.Present {
		for j, mi := range cols {
			if s.Has(mi) {
				mask[r*nm+j] = 1
			}
		}
	}
	copyInto(h.mask, mask)
	return nil
}

// copyInto writes src into t's backing array (converting to t's dtype) and zeroes the rest.
func copyInto(t *tensor.Dense, src []float32) {
	switch d := t.Data().(type) {
	case []float32:
		n := copy(d, src)
		clear(d[n:])
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
		clear(d[len(src):])
	}
}

func readFloats(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	case float32:
		return []float64{float64(d)}
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("model: unexpected value data %T", v.Data()))
}

// lossNodes are the loss and its logged terms.
type lossNodes struct {
	loss, ce, kl, hcr *G.Node // scalars; kl nil without a logvar head
	cei               *G.Node // (B) per-sample cross-entropy
}

// lossTerms adds L = 1/n sum_i w_i CE_i + alpha*KL + beta*HCR for a batch of n samples:
//
//	CE_i = -log softmax(logits_i)_{y_i}      CE  = 1/n sum_i CE_i (logged unweighted)
//	HCR  = 1/n sum_i hard_i * CE_i
//	KL   = 0.5/n sum_i sum_d (exp(lv_id) + mu_id^2 - lv_id - 1)
//
// lv may be nil (deterministic model: no KL). KL is computed for logging even when alpha is 0.
func (b *builder) lossTerms(n int, mu, lv, logits, target, hard, weight *G.Node, w LossWeights) (*lossNodes, error) {
	ln := &lossNodes{}
	var err error
	if ln.cei, err = G.ApplyOp(newXentOp(), logits, target); err != nil {
		return nil, fmt.Errorf("cross-entropy: %w", err)
	}
	if ln.ce, err = G.Mean(ln.cei); err != nil {
		return nil, err
	}
	// the loss's cross-entropy term is weighted per sample: 1/n sum_i w_i CE_i
	wce, err := G.HadamardProd(ln.cei, weight)
	if err != nil {
		return nil, err
	}
	if wce, err = G.Mean(wce); err != nil {
		return nil, err
	}
	weighted, err := G.HadamardProd(ln.cei, hard)
	if err != nil {
		return nil, err
	}
	if ln.hcr, err = G.Sum(weighted); err != nil {
		return nil, err
	}
	if ln.hcr, err = G.HadamardProd(ln.hcr, b.scalar(1/float64(n))); err != nil {
		return nil, err
	}
	ln.loss = wce
	if w.Beta != 0 {
		t, err := G.HadamardProd(ln.hcr, b.scalar(w.Beta))
		if err != nil {
			return nil, err
		}
		if ln.loss, err = G.Add(ln.loss, t); err != nil {
			return nil, err
		}
	}
	if lv == nil {
		return ln, nil
	}
	ev, err := G.Exp(lv)
	if err != nil {
		return nil, err
	}
	mu2, err := G.Square(mu)
	if err != nil {
		return nil, err
	}
	s, err := G.Add(ev, mu2)
	if err != nil {
		return nil, err
	}
	if s, err = G.Sub(s, lv); err != nil {
		return nil, err
	}
	if s, err = G.Sum(s); err != nil {
		return nil, err
	}
	// the "- 1" of every one of the n*Z elements
	z := lv.Shape()[1]
	if s, err = G.Sub(s, b.scalar(float64(n*z))); err != nil {
		return nil, err
	}
	if ln.kl, err = G.HadamardProd(s, b.scalar(0.5/float64(n))); err != nil {
		return nil, err
	}
	if w.Alpha != 0 {
		t, err := G.HadamardProd(ln.kl, b.scalar(w.Alpha))
		if err != nil {
			return nil, err
		}
		if ln.loss, err = G.Add(ln.loss, t); err != nil {
			return nil, err
		}
	}
	return ln, nil
}

// TrainGraph is the training graph of one batch size: forward pass, loss and gradients.
type TrainGraph struct {
	m      *Model
	n      int
	w      LossWeights
	h      *head
	g      *G.ExprGraph
	vm     G.VM
	noise  *tensor.Dense // nil without PME
	target *tensor.Dense // one-hot (B, C)
	hard   *tensor.Dense // (B)
	weight *tensor.Dense // (B) per-sample cross-entropy weights

	loss, ce, kl, hcr, cei *G.Node
	grads                  G.Nodes // aligned with Model.Params()
	lop                    *lossOp // the fused loss (nil with Spec.Reference)
	gradSrc                []gradRef
	// Values read during the run: Gorgonia reuses the memory of intermediate values once
	// they are dead, so a node's Value after RunAll may hold something else.
	rLoss, rCE, rKL, rHCR, rCEI, rLV, rLogits G.Value
	rGrads                                    []G.Value
}

// StepResult is what one training step computed, before the optimiser's update.
type StepResult struct {
	Loss, CE, KL, HCR float64
	// Aux is the auxiliary heads' mean cross-entropy over present (sample, modality) pairs.
	Aux float64
	// CEPerSample and VarPerSample (mean sigma^2 over the embedding; 0 without PME) are per
	// sample, for hard-combination mining.
	CEPerSample  []float64
	VarPerSample []float64
	// Pred is the arg-max class per sample.
	Pred []int
}

// NewTrainGraph builds the training graph for batches of exactly n samples.
func (m *Model) NewTrainGraph(n int, w LossWeights) (*TrainGraph, error) {
	if n < 2 {
		return nil, fmt.Errorf("model: training batch of %d samples: BatchNorm needs at least 2", n)
	}
	b := newBuilder(m, true)
	tg := &TrainGraph{m: m, n: n, w: w, g: b.g}
	var noise *G.Node
	if m.spec.PME {
		noise, tg.noise = b.input("noise", n, m.spec.Latent)
	}
	h, err := b.forward(n, noise)
	if err != nil {
		return nil, err
	}
	tg.h = h
	target, tt := b.input("target", n, m.spec.Classes)
	hard, ht := b.input("hard", n)
	weight, wt := b.input("weight", n)
	tg.target, tg.hard, tg.weight = tt, ht, wt
	if m.spec.Reference {
		ln, err := b.lossTerms(n, h.mu, h.lv, h.logits, target, hard, weight, w)
		if err != nil {
			return nil, err
		}
		tg.loss, tg.ce, tg.kl, tg.hcr, tg.cei = ln.loss, ln.ce, ln.kl, ln.hcr, ln.cei
		G.Read(tg.loss, &tg.rLoss)
		G.Read(tg.ce, &tg.rCE)
		G.Read(tg.hcr, &tg.rHCR)
		G.Read(tg.cei, &tg.rCEI)
		G.Read(h.logits, &tg.rLogits)
		if tg.kl != nil {
			G.Read(tg.kl, &tg.rKL)
			G.Read(h.lv, &tg.rLV)
		}
	} else {
		tg.lop = newLossOp(w, m.spec.PME, len(h.aux), m.spec.AuxWeight)
		tg.lop.rp = h.rp
		in := G.Nodes{h.logits, target, hard, weight}
		if m.spec.PME {
			in = append(in, h.mu, h.lv)
		}
		if len(h.aux) > 0 {
			in = append(append(in, h.maskN), h.aux...)
		}
		if tg.loss, err = G.ApplyOp(tg.lop, in...); err != nil {
			return nil, fmt.Errorf("loss: %w", err)
		}
	}
	wrt := make(G.Nodes, len(m.params))
	for i, p := range m.params {
		wrt[i] = b.param(p.Name)
	}
	if tg.grads, err = G.Grad(tg.loss, wrt...); err != nil {
		return nil, fmt.Errorf("model: gradient: %w", err)
	}
	if !m.spec.Reference {
		for _, p := range m.params {
			ref, ok := b.gradSrc[p.Name]
			if !ok {
				return nil, fmt.Errorf("model: no fused op computes the gradient of %s", p.Name)
			}
			tg.gradSrc = append(tg.gradSrc, ref)
		}
	} else {
		tg.rGrads = make([]G.Value, len(tg.grads))
		for i, g := range tg.grads {
			G.Read(g, &tg.rGrads[i])
		}
	}
	tg.vm = G.NewTapeMachine(b.g)
	return tg, nil
}

// BatchSize is the number of samples the graph takes.
func (tg *TrainGraph) BatchSize() int { return tg.n }

// Step runs the forward and backward pass on bt (exactly BatchSize samples). The gradients
// are then available from Grads until the next Step.
func (tg *TrainGraph) Step(bt *Batch) (*StepResult, error) {
	n, m := tg.n, tg.m
	if len(bt.Present) != n || len(bt.Y) != n {
		return nil, fmt.Errorf("model: training batch of %d samples (%d labels) for a graph of %d", len(bt.Present), len(bt.Y), n)
	}
	if err := tg.h.fill(m, bt, n); err != nil {
		return nil, err
	}
	target := make([]float32, n*m.spec.Classes)
	for i, y := range bt.Y {
		if y < 0 || y >= m.spec.Classes {
			return nil, fmt.Errorf("model: label %d of sample %d outside [0, %d)", y, i, m.spec.Classes)
		}
		target[i*m.spec.Classes+y] = 1
	}
	copyInto(tg.target, target)
	hard := make([]float32, n)
	for i := range hard {
		if bt.Hard != nil && bt.Hard[i] {
			hard[i] = 1
		}
	}
	copyInto(tg.hard, hard)
	weight := make([]float32, n)
	for i := range weight {
		weight[i] = 1
		if bt.Weight != nil {
			weight[i] = float32(bt.Weight[i])
		}
	}
	if bt.Weight != nil && len(bt.Weight) != n {
		return nil, fmt.Errorf("model: %d sample weights for %d samples", len(bt.Weight), n)
	}
	copyInto(tg.weight, weight)
	if tg.noise != nil {
		noise := make([]float32, n*m.spec.Latent)
		if bt.Noise != nil {
			if len(bt.Noise) != len(noise) {
				return nil, fmt.Errorf("model: %d noise values, want %d", len(bt.Noise), len(noise))
			}
			if d, ok := tg.noise.Data().([]float64); ok {
				copy(d, bt.Noise)
			} else {
				for i, v := range bt.Noise {
					noise[i] = float32(v)
				}
				copyInto(tg.noise, noise)
			}
		} else {
			copyInto(tg.noise, noise)
		}
	}
	defer tg.vm.Reset()
	if err := tg.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("model: training step: %w", err)
	}
	if tg.lop != nil {
		st := &tg.lop.stats
		return &StepResult{Loss: st.loss, CE: st.ce, KL: st.kl, HCR: st.hcr, Aux: st.aux,
			CEPerSample:  append([]float64(nil), st.cei...),
			VarPerSample: append([]float64(nil), st.variance...),
			Pred:         append([]int(nil), st.pred...)}, nil
	}
	res := &StepResult{
		Loss:        readFloats(tg.rLoss)[0],
		CE:          readFloats(tg.rCE)[0],
		HCR:         readFloats(tg.rHCR)[0],
		CEPerSample: readFloats(tg.rCEI),
		Pred:        argmax(readFloats(tg.rLogits), m.spec.Classes),
	}
	if tg.kl != nil {
		res.KL = readFloats(tg.rKL)[0]
		res.VarPerSample = meanExp(readFloats(tg.rLV), m.spec.Latent)
	} else {
		res.VarPerSample = make([]float64, n)
	}
	return res, nil
}

// Grads returns the gradient of the loss with respect to each parameter (aligned with
// Model.Params) computed by the last Step, each a []float32 or []float64 like Param.Data.
// The slices belong to the graph and are valid until the next Step.
func (tg *TrainGraph) Grads() []any {
	if tg.gradSrc != nil {
		out := make([]any, len(tg.gradSrc))
		for i, ref := range tg.gradSrc {
			out[i] = ref.op.gradOf(ref.idx)
		}
		return out
	}
	out := make([]any, len(tg.rGrads))
	for i, g := range tg.rGrads {
		out[i] = g.Data()
	}
	return out
}

func argmax(logits []float64, c int) []int {
	out := make([]int, len(logits)/c)
	for i := range out {
		row := logits[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// meanExp returns, per row of a (B, Z) logvar matrix, the mean of exp(logvar) = sigma^2.
func meanExp(lv []float64, z int) []float64 {
	out := make([]float64, len(lv)/z)
	for i := range out {
		var s float64
		for _, v := range lv[i*z : (i+1)*z] {
			s += math.Exp(v)
		}
		out[i] = s / float64(z)
	}
	return out
}

// EvalGraph is the forward-only inference graph: BatchNorm uses running statistics, z = mu.
type EvalGraph struct {
	m  *Model
	n  int
	h  *head
	vm G.VM

	rLogits, rLV G.Value
	rAux         []G.Value
}

// Output is an evaluation pass's result for the real (unpadded) rows of a batch.
type Output struct {
	// Logits is row-major (B, C).
	Logits []float64
	Pred   []int
	// Var is the mean predicted variance sigma^2 per sample (0 without PME).
	Var []float64
	// Aux holds, with auxiliary heads, each modality's logits, row-major (B, C).
	Aux [][]float64
}

// NewEvalGraph builds the inference graph for batches of up to n samples.
func (m *Model) NewEvalGraph(n int) (*EvalGraph, error) {
	if n < 1 {
		return nil, fmt.Errorf("model: evaluation batch of %d samples", n)
	}
	b := newBuilder(m, false)
	h, err := b.forward(n, nil)
	if err != nil {
		return nil, err
	}
	eg := &EvalGraph{m: m, n: n, h: h}
	G.Read(h.logits, &eg.rLogits)
	if h.lv != nil {
		G.Read(h.lv, &eg.rLV)
	}
	eg.rAux = make([]G.Value, len(h.aux))
	for i, a := range h.aux {
		G.Read(a, &eg.rAux[i])
	}
	eg.vm = G.NewTapeMachine(b.g)
	return eg, nil
}

// BatchSize is the largest batch the graph takes; smaller batches are zero-padded.
func (eg *EvalGraph) BatchSize() int { return eg.n }

// Forward runs inference on bt (at most BatchSize samples; Y, Hard and Noise are ignored).
func (eg *EvalGraph) Forward(bt *Batch) (*Output, error) {
	rows := len(bt.Present)
	if err := eg.h.fill(eg.m, bt, eg.n); err != nil {
		return nil, err
	}
	defer eg.vm.Reset()
	if err := eg.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("model: evaluation: %w", err)
	}
	c := eg.m.spec.Classes
	logits := readFloats(eg.rLogits)[:rows*c]
	out := &Output{Logits: logits, Pred: argmax(logits, c)}
	if eg.h.lv != nil {
		out.Var = meanExp(readFloats(eg.rLV)[:rows*eg.m.spec.Latent], eg.m.spec.Latent)
	} else {
		out.Var = make([]float64, rows)
	}
	for _, v := range eg.rAux {
		out.Aux = append(out.Aux, readFloats(v)[:rows*c])
	}
	return out, nil
}

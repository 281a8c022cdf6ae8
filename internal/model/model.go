// Package model builds DMRNet's computation graphs with Gorgonia: one encoder per modality,
// modality masking, concatenation fusion, the probabilistic embedding (mu and logvar heads
// with BatchNorm, reparameterisation), the classifier head and the loss
//
//	L = CE + alpha * KL + beta * HCR
//	KL  = 1/B sum_i sum_d 0.5 * (sigma^2 + mu^2 - log sigma^2 - 1)
//	HCR = 1/B sum_i [c_i in H] * CE_i
//
// A Model owns the parameter tensors and BatchNorm running statistics. Graphs built from it
// (a TrainGraph per batch size, an EvalGraph or the cached-encoder Inference for inference)
// share those tensors, so an optimiser step on the Model's parameters is seen by every graph.
// The package does no I/O and keeps every Gorgonia detail inside it: callers feed plain
// slices and read plain slices.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// Spec is the architecture of a model.
type Spec struct {
	Modalities []ModalitySpec
	// Latent is the embedding size Z.
	Latent  int
	Classes int
	// PME enables the probabilistic embedding (logvar head, sampling, KL). Without it the
	// model is the deterministic common-subspace baseline with z = mu.
	PME bool
	// DType is tensor.Float32 or tensor.Float64.
	DType      tensor.Dtype
	BNMomentum float64
	BNEps      float64
	// Reference builds the graph from Gorgonia's fine-grained ops instead of dmrnet's fused
	// ones: slower, and kept to check the fused ops against (without auxiliary heads).
	Reference bool
	// AuxWeight, when > 0, adds a Linear(E_m, C) auxiliary head on every modality's encoder
	// output, trained with loss weight AuxWeight (see lossOp).
	AuxWeight float64
}

// ModalitySpec is one input modality.
type ModalitySpec struct {
	Name string
	// InputShape is the shape of one sample, e.g. [d] for a vector.
	InputShape []int
	Encoder    EncoderSpec
	// Absent marks a modality the model never sees: it gets no encoder (no parameters, no
	// optimiser state, no computation), contributes no feature to the fusion, and its input
	// is ignored in every batch, as if missing. A specialist (a model trained on one
	// combination only) leaves the other modalities absent: their encoders would never get
	// a gradient, and weight decay alone would shrink them into subnormal numbers. The
	// parameters that remain are initialised exactly as in the model without Absent (see
	// New), so the two compute the same on the present modalities.
	Absent bool
}

// EncoderSpec describes a modality encoder.
type EncoderSpec struct {
	// Type is "mlp" or "conv".
	//
	// mlp: Layers[i] is the width of block i (Linear -> BatchNorm -> ReLU).
	//
	// conv: for an input of shape (C, H, W) (or (H, W), one channel), Channels[i] is the
	// output channels of block i: Conv(Kernel x Kernel, stride 1, 'same' padding) ->
	// BatchNorm -> ReLU -> MaxPool(Pool x Pool, stride Pool); then flatten and, for each of
	// Layers, Linear -> ReLU.
	Type     string
	Layers   []int
	Channels []int
	Kernel   int
	Pool     int
}

// InputSize is the number of values of one sample of the modality.
func (m ModalitySpec) InputSize() int {
	n := 1
	for _, d := range m.InputShape {
		n *= d
	}
	return n
}

// Param is one learnable tensor.
type Param struct {
	Name string
	// Decay reports whether weight decay applies (every parameter, as torch.optim does).
	Decay bool

	value    *tensor.Dense
	initSpec paramInit
	// skipDraws is the number of random draws Init discards before initialising the
	// parameter: those the parameters of absent encoders declared before it would have used.
	skipDraws int
}

// Data returns the parameter's values, a []float32 or []float64 by the model's dtype. The
// slice is the parameter itself: writing to it changes the model in every graph.
func (p *Param) Data() any { return p.value.Data() }

// Shape returns the parameter's shape.
func (p *Param) Shape() []int { return append([]int(nil), p.value.Shape()...) }

// Model holds the parameters and BatchNorm statistics of one DMRNet.
type Model struct {
	spec     Spec
	params   []*Param
	byName   map[string]*Param
	bns      []*BNState
	bnByName map[string]*BNState
	encoders []Encoder // one per modality; nil for an absent one
	featDim  int       // sum of encoder output sizes
	// skipDraws counts the random draws of absent encoders not yet attached to a parameter
	// (see Param.skipDraws); New attaches them to the next parameter it declares.
	skipDraws int
}

// New builds a model and initialises its parameters from rng as PyTorch's defaults do:
// Linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm gamma 1, beta 0,
// running mean 0 and running variance 1.
//
// A model with absent modalities draws its initial values as the model without them would,
// discarding those of the parts it lacks: its encoders get the same weights, and the fusion
// layers (mu, logvar) the rows, of the full layer, that read the present modalities'
// features, with the full layer's fan-in. Since an absent modality's feature is zero in the
// full model, the two then compute the same on the present modalities.
func New(spec Spec, rng *rand.Rand) (*Model, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	m := &Model{spec: spec, byName: map[string]*Param{}, bnByName: map[string]*BNState{}}
	fullDim := 0
	var rows []int // for each row of the full fusion layers, its row here or -1
	for _, ms := range spec.Modalities {
		if ms.Absent {
			// declare the encoder on a scratch model to count the draws it would take
			ghost := &Model{spec: spec, byName: map[string]*Param{}, bnByName: map[string]*BNState{}}
			enc, err := newEncoder(ghost, ms)
			if err != nil {
				return nil, err
			}
			for _, p := range ghost.params {
				if p.initSpec.bound > 0 {
					m.skipDraws += p.value.Size()
				}
			}
			m.encoders = append(m.encoders, nil)
			for range enc.OutDim() {
				rows = append(rows, -1)
			}
			fullDim += enc.OutDim()
			continue
		}
		enc, err := newEncoder(m, ms)
		if err != nil {
			return nil, err
		}
		m.encoders = append(m.encoders, enc)
		for i := range enc.OutDim() {
			rows = append(rows, m.featDim+i)
		}
		m.featDim += enc.OutDim()
		fullDim += enc.OutDim()
	}
	if fullDim == m.featDim {
		rows = nil
	}
	m.fusionLinear("mu", fullDim, rows, m.featDim, spec.Latent)
	m.batchNorm("mu.bn", spec.Latent)
	if spec.PME {
		m.fusionLinear("logvar", fullDim, rows, m.featDim, spec.Latent)
		m.batchNorm("logvar.bn", spec.Latent)
	}
	m.linear("cls", spec.Latent, spec.Classes)
	if spec.AuxWeight > 0 {
		for i, ms := range spec.Modalities {
			m.linear("aux."+ms.Name, m.encoders[i].OutDim(), spec.Classes)
		}
	}
	m.Init(rng)
	return m, nil
}

func (s Spec) validate() error {
	if len(s.Modalities) == 0 {
		return fmt.Errorf("model: no modalities")
	}
	if s.Latent < 1 || s.Classes < 2 {
		return fmt.Errorf("model: latent %d and classes %d must be >= 1 and >= 2", s.Latent, s.Classes)
	}
	if s.AuxWeight < 0 || (s.AuxWeight > 0 && s.Reference) {
		return fmt.Errorf("model: auxiliary heads need a weight > 0 and the fused build")
	}
	if s.DType != tensor.Float32 && s.DType != tensor.Float64 {
		return fmt.Errorf("model: dtype %v, want float32 or float64", s.DType)
	}
	present := 0
	for _, m := range s.Modalities {
		if m.InputSize() < 1 {
			return fmt.Errorf("model: modality %q has input shape %v", m.Name, m.InputShape)
		}
		if !m.Absent {
			present++
		}
	}
	if present == 0 {
		return fmt.Errorf("model: every modality is absent")
	}
	if present < len(s.Modalities) && s.AuxWeight > 0 {
		return fmt.Errorf("model: absent modalities with auxiliary heads (an absent modality has no head)")
	}
	return nil
}

// Spec returns the architecture.
func (m *Model) Spec() Spec { return m.spec }

// Params returns the learnable tensors in a fixed order.
func (m *Model) Params() []*Param { return m.params }

// Param returns the named parameter, or nil.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// BatchNorms returns the BatchNorm layers' running statistics in a fixed order.
func (m *Model) BatchNorms() []*BNState { return m.bns }

// HasAux reports whether the model has auxiliary heads.
func (m *Model) HasAux() bool { return m.spec.AuxWeight > 0 }

// FeatureDim is the size of the fused feature h = [e_1 .. e_M].
func (m *Model) FeatureDim() int { return m.featDim }

// EncoderDims returns each modality encoder's output size E_m, 0 for an absent modality.
func (m *Model) EncoderDims() []int {
	out := make([]int, len(m.encoders))
	for i, e := range m.encoders {
		if e != nil {
			out[i] = e.OutDim()
		}
	}
	return out
}

// presentDims returns the output sizes of the encoders the model has, in modality order.
func (m *Model) presentDims() []int {
	var out []int
	for _, e := range m.encoders {
		if e != nil {
			out = append(out, e.OutDim())
		}
	}
	return out
}

// Init (re)initialises every parameter and running statistic from rng.
func (m *Model) Init(rng *rand.Rand) {
	for _, p := range m.params {
		for range p.skipDraws {
			rng.Float64()
		}
		p.init(rng)
	}
	for _, bn := range m.bns {
		fill(bn.mean, 0)
		fill(bn.variance, 1)
	}
}

// paramInit records how a parameter is initialised.
type paramInit struct {
	bound float64 // U(-bound, bound) when > 0
	value float64 // constant otherwise
	// rows, when set, maps each row of a larger (len(rows), cols) matrix drawn in row-major
	// order to the parameter's row that keeps it, or -1 where the row is discarded.
	rows []int
	cols int
}

func (p *Param) init(rng *rand.Rand) {
	in := p.initSpec
	if in.bound > 0 && in.rows != nil {
		for _, r := range in.rows {
			for c := range in.cols {
				v := (rng.Float64()*2 - 1) * in.bound
				if r < 0 {
					continue
				}
				switch d := p.value.Data().(type) {
				case []float32:
					d[r*in.cols+c] = float32(v)
				case []float64:
					d[r*in.cols+c] = v
				}
			}
		}
		return
	}
	if in.bound > 0 {
		switch d := p.value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32((rng.Float64()*2 - 1) * in.bound)
			}
		case []float64:
			for i := range d {
				d[i] = (rng.Float64()*2 - 1) * in.bound
			}
		}
		return
	}
	fill(p.value, in.value)
}

func fill(t *tensor.Dense, v float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(v)
		}
	case []float64:
		for i := range d {
			d[i] = v
		}
	}
}

func (m *Model) addParam(name string, in paramInit, shape ...int) *Param {
	if _, dup := m.byName[name]; dup {
		panic("model: duplicate parameter " + name)
	}
	p := &Param{Name: name, value: newLike(m.spec.DType, shape...), Decay: true, initSpec: in}
	if in.bound > 0 {
		p.skipDraws, m.skipDraws = m.skipDraws, 0
	}
	m.params = append(m.params, p)
	m.byName[name] = p
	return p
}

// linear declares W (in, out) and b (out) with PyTorch's default bound 1/sqrt(in).
func (m *Model) linear(name string, in, out int) {
	bound := 1 / math.Sqrt(float64(in))
	m.addParam(name+".W", paramInit{bound: bound}, in, out)
	m.addParam(name+".b", paramInit{bound: bound}, out)
}

// fusionLinear declares the (in, out) Linear layer that reads the fused features of the
// present modalities: rows maps each of the fullIn features of the model without absent
// modalities to its row here (-1 for an absent modality's feature; nil when none is absent).
// Initialised with the full layer's fan-in and the full layer's draws (see New).
func (m *Model) fusionLinear(name string, fullIn int, rows []int, in, out int) {
	bound := 1 / math.Sqrt(float64(fullIn))
	m.addParam(name+".W", paramInit{bound: bound, rows: rows, cols: out}, in, out)
	m.addParam(name+".b", paramInit{bound: bound}, out)
}

// batchNorm declares gamma, beta and the running statistics of a BatchNorm over c channels.
func (m *Model) batchNorm(name string, c int) *BNState {
	m.addParam(name+".gamma", paramInit{value: 1}, c)
	m.addParam(name+".beta", paramInit{value: 0}, c)
	st := &BNState{
		Name:     name,
		mean:     newLike(m.spec.DType, c),
		variance: newLike(m.spec.DType, c),
		Momentum: m.spec.BNMomentum,
		Eps:      m.spec.BNEps,
	}
	fill(st.variance, 1)
	m.bns = append(m.bns, st)
	m.bnByName[name] = st
	return st
}

package model

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Encoder is one modality's feature extractor. Each kind of encoder declares its parameters
// on the Model when created and adds its operations to a graph on request, so new kinds
// (convolutional stacks for images and spectrograms) slot in through newEncoder alone.
type Encoder interface {
	// OutDim is the size E of the feature the encoder produces per sample.
	OutDim() int
	// build adds the encoder to b's graph; x is (B, input size) and the result (B, E).
	build(b *builder, x *G.Node) (*G.Node, error)
}

func newEncoder(m *Model, ms ModalitySpec) (Encoder, error) {
	switch ms.Encoder.Type {
	case "mlp", "":
		return newMLP(m, "enc."+ms.Name, ms.InputSize(), ms.Encoder.Layers)
	case "conv":
		return newConv(m, "enc."+ms.Name, ms.InputShape, ms.Encoder)
	default:
		return nil, fmt.Errorf("model: modality %q: unknown encoder type %q (want mlp or conv)", ms.Name, ms.Encoder.Type)
	}
}

// mlpEncoder is a stack of Linear -> BatchNorm -> ReLU blocks.
type mlpEncoder struct {
	prefix string
	widths []int
}

func newMLP(m *Model, prefix string, in int, widths []int) (*mlpEncoder, error) {
	if len(widths) == 0 {
		return nil, fmt.Errorf("model: %s: an mlp encoder needs at least one layer", prefix)
	}
	for i, w := range widths {
		if w < 1 {
			return nil, fmt.Errorf("model: %s: layer %d has width %d", prefix, i, w)
		}
		name := fmt.Sprintf("%s.%d", prefix, i)
		m.linear(name, in, w)
		m.batchNorm(name+".bn", w)
		in = w
	}
	return &mlpEncoder{prefix: prefix, widths: append([]int(nil), widths...)}, nil
}

func (e *mlpEncoder) OutDim() int { return e.widths[len(e.widths)-1] }

func (e *mlpEncoder) build(b *builder, x *G.Node) (*G.Node, error) {
	defs := make([]layerDef, len(e.widths))
	for i := range e.widths {
		defs[i] = layerDef{name: fmt.Sprintf("%s.%d", e.prefix, i), bn: true, relu: true}
	}
	return b.stack(x, defs, false)
}

// convEncoder is a stack of Conv -> BatchNorm -> ReLU -> MaxPool blocks, flattened into
// Linear -> ReLU layers.
type convEncoder struct {
	prefix     string
	in         [3]int // C, H, W of the input
	channels   []int
	kernel     int
	pool       int
	flat       int
	widths     []int
	outC, outH int
}

func newConv(m *Model, prefix string, shape []int, spec EncoderSpec) (*convEncoder, error) {
	var in [3]int
	switch len(shape) {
	case 2:
		in = [3]int{1, shape[0], shape[1]}
	case 3:
		in = [3]int{shape[0], shape[1], shape[2]}
	default:
		return nil, fmt.Errorf("model: %s: a conv encoder needs an input of shape (C, H, W) or (H, W), got %v", prefix, shape)
	}
	if len(spec.Channels) == 0 || len(spec.Layers) == 0 {
		return nil, fmt.Errorf("model: %s: a conv encoder needs channels and layers", prefix)
	}
	if spec.Kernel < 1 || spec.Kernel%2 == 0 || spec.Pool < 1 {
		return nil, fmt.Errorf("model: %s: kernel %d must be odd and >= 1, pool %d >= 1", prefix, spec.Kernel, spec.Pool)
	}
	e := &convEncoder{prefix: prefix, in: in, channels: spec.Channels, kernel: spec.Kernel, pool: spec.Pool, widths: spec.Layers}
	c, h, w := in[0], in[1], in[2]
	for i, out := range spec.Channels {
		name := fmt.Sprintf("%s.conv%d", prefix, i)
		fanIn := c * spec.Kernel * spec.Kernel
		bound := 1 / math.Sqrt(float64(fanIn))
		m.addParam(name+".W", paramInit{bound: bound}, out, c, spec.Kernel, spec.Kernel)
		m.addParam(name+".b", paramInit{bound: bound}, out)
		m.batchNorm(name+".bn", out)
		c, h, w = out, h/spec.Pool, w/spec.Pool
		if h < 1 || w < 1 {
			return nil, fmt.Errorf("model: %s: input %v is too small for %d pooling blocks of %d", prefix, shape, i+1, spec.Pool)
		}
	}
	e.flat = c * h * w
	in2 := e.flat
	for i, width := range spec.Layers {
		if width < 1 {
			return nil, fmt.Errorf("model: %s: layer %d has width %d", prefix, i, width)
		}
		m.linear(fmt.Sprintf("%s.fc%d", prefix, i), in2, width)
		in2 = width
	}
	return e, nil
}

func (e *convEncoder) OutDim() int { return e.widths[len(e.widths)-1] }

func (e *convEncoder) build(b *builder, x *G.Node) (*G.Node, error) {
	if !b.m.spec.Reference {
		return e.buildFused(b, x)
	}
	n := x.Shape()[0]
	h, err := G.Reshape(x, tensor.Shape{n, e.in[0], e.in[1], e.in[2]})
	if err != nil {
		return nil, fmt.Errorf("%s reshape: %w", e.prefix, err)
	}
	pad := e.kernel / 2
	for i := range e.channels {
		name := fmt.Sprintf("%s.conv%d", e.prefix, i)
		k := tensor.Shape{e.kernel, e.kernel}
		if h, err = G.Conv2d(h, b.param(name+".W"), k, []int{pad, pad}, []int{1, 1}, []int{1, 1}); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if h, err = G.ApplyOp(newBiasOp(name, 4), h, b.param(name+".b")); err != nil {
			return nil, fmt.Errorf("%s bias: %w", name, err)
		}
		if h, err = b.batchNorm(name+".bn", h); err != nil {
			return nil, err
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, fmt.Errorf("%s relu: %w", name, err)
		}
		if e.pool > 1 {
			if h, err = G.MaxPool2D(h, tensor.Shape{e.pool, e.pool}, []int{0, 0}, []int{e.pool, e.pool}); err != nil {
				return nil, fmt.Errorf("%s pool: %w", name, err)
			}
		}
	}
	if got := h.Shape().TotalSize() / n; got != e.flat {
		return nil, fmt.Errorf("model: %s: flattened size %d, expected %d", e.prefix, got, e.flat)
	}
	if h, err = G.Reshape(h, tensor.Shape{n, e.flat}); err != nil {
		return nil, fmt.Errorf("%s flatten: %w", e.prefix, err)
	}
	for i := range e.widths {
		name := fmt.Sprintf("%s.fc%d", e.prefix, i)
		if h, err = b.linear(name, h); err != nil {
			return nil, err
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, fmt.Errorf("%s relu: %w", name, err)
		}
	}
	return h, nil
}

// buildFused adds the conv blocks as one fused op, then the Linear -> ReLU layers.
func (e *convEncoder) buildFused(b *builder, x *G.Node) (*G.Node, error) {
	inputs := G.Nodes{x}
	blocks := make([]convBlock, len(e.channels))
	c, h, w := e.in[0], e.in[1], e.in[2]
	for i, out := range e.channels {
		name := fmt.Sprintf("%s.conv%d", e.prefix, i)
		blocks[i] = convBlock{c: c, h: h, w: w, out: out, k: e.kernel, pool: e.pool, bn: b.m.bnByName[name+".bn"], name: name}
		inputs = append(inputs, b.param(name+".W"), b.param(name+".b"), b.param(name+".bn.gamma"), b.param(name+".bn.beta"))
		c, h, w = out, h/e.pool, w/e.pool
	}
	op := newConvStackOp(e.prefix, blocks, b.training)
	feat, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.prefix, err)
	}
	b.fusedInputs(op, inputs)
	defs := make([]layerDef, len(e.widths))
	for i := range e.widths {
		defs[i] = layerDef{name: fmt.Sprintf("%s.fc%d", e.prefix, i), relu: true}
	}
	return b.stack(feat, defs, true)
}

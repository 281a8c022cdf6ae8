package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
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
	default:
		return nil, fmt.Errorf("model: modality %q: unknown encoder type %q (want mlp)", ms.Name, ms.Encoder.Type)
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
	h := x
	for i := range e.widths {
		name := fmt.Sprintf("%s.%d", e.prefix, i)
		var err error
		if h, err = b.linear(name, h); err != nil {
			return nil, err
		}
		if h, err = b.batchNorm(name+".bn", h); err != nil {
			return nil, err
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, fmt.Errorf("%s relu: %w", name, err)
		}
	}
	return h, nil
}

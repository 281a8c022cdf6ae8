package export

import (
	"fmt"

	"github.com/dmrnet/dmrnet/internal/model"
)

// Name maps one exported tensor to dmrnet's name for it.
type Name struct {
	// Torch is the PyTorch state_dict key, e.g. "encoders.rgb.0.linear.weight".
	Torch string `json:"torch"`
	// DMRNet is the dmrnet parameter ("enc.rgb.0.W") or BatchNorm statistic
	// ("enc.rgb.0.bn.running_mean"); empty for num_batches_tracked, which dmrnet does not
	// keep (it is the number of training steps).
	DMRNet string `json:"dmrnet,omitempty"`
	// Transpose marks Linear weights: dmrnet stores W as (in, out), PyTorch as (out, in).
	Transpose bool `json:"transpose,omitempty"`
	// Steps marks a BatchNorm's num_batches_tracked.
	Steps bool `json:"steps,omitempty"`
}

// Names lists the PyTorch state_dict of a model of the given architecture, in module order,
// and the dmrnet tensor each entry comes from. The module tree it describes:
//
//	encoders.<modality>          one per modality, in model order (none for an absent one)
//	  mlp:  .<i>.linear          Linear(in, layers[i])
//	        .<i>.bn              BatchNorm1d(layers[i])        then ReLU
//	  conv: .blocks.<i>.conv     Conv2d(c, channels[i], kernel, padding=kernel//2)
//	        .blocks.<i>.bn       BatchNorm2d(channels[i])      then ReLU, MaxPool2d(pool)
//	        .fc.<i>              Linear(flat, layers[i])       then ReLU
//	mu.linear, mu.bn             Linear(H, Z), BatchNorm1d(Z)
//	logvar.linear, logvar.bn     the same, with the probabilistic embedding
//	classifier                   Linear(Z, C)
//	aux.<modality>               Linear(E_m, C), with auxiliary heads
//
// A BatchNorm contributes weight (dmrnet's gamma), bias (beta), running_mean, running_var
// and num_batches_tracked.
func Names(spec model.Spec) []Name {
	var out []Name
	linear := func(torch, dm string) {
		out = append(out, Name{Torch: torch + ".weight", DMRNet: dm + ".W", Transpose: true},
			Name{Torch: torch + ".bias", DMRNet: dm + ".b"})
	}
	bn := func(torch, dm string) {
		out = append(out,
			Name{Torch: torch + ".weight", DMRNet: dm + ".gamma"},
			Name{Torch: torch + ".bias", DMRNet: dm + ".beta"},
			Name{Torch: torch + ".running_mean", DMRNet: dm + ".running_mean"},
			Name{Torch: torch + ".running_var", DMRNet: dm + ".running_var"},
			Name{Torch: torch + ".num_batches_tracked", Steps: true})
	}
	for _, m := range spec.Modalities {
		if m.Absent {
			continue
		}
		enc, dm := "encoders."+m.Name, "enc."+m.Name
		switch m.Encoder.Type {
		case "conv":
			for i := range m.Encoder.Channels {
				blk, dc := fmt.Sprintf("%s.blocks.%d", enc, i), fmt.Sprintf("%s.conv%d", dm, i)
				// dmrnet's conv W is (out, in, k, k), PyTorch's layout already
				out = append(out, Name{Torch: blk + ".conv.weight", DMRNet: dc + ".W"}, Name{Torch: blk + ".conv.bias", DMRNet: dc + ".b"})
				bn(blk+".bn", dc+".bn")
			}
			for i := range m.Encoder.Layers {
				linear(fmt.Sprintf("%s.fc.%d", enc, i), fmt.Sprintf("%s.fc%d", dm, i))
			}
		default: // mlp
			for i := range m.Encoder.Layers {
				linear(fmt.Sprintf("%s.%d.linear", enc, i), fmt.Sprintf("%s.%d", dm, i))
				bn(fmt.Sprintf("%s.%d.bn", enc, i), fmt.Sprintf("%s.%d.bn", dm, i))
			}
		}
	}
	linear("mu.linear", "mu")
	bn("mu.bn", "mu.bn")
	if spec.PME {
		linear("logvar.linear", "logvar")
		bn("logvar.bn", "logvar.bn")
	}
	linear("classifier", "cls")
	if spec.AuxWeight > 0 {
		for _, m := range spec.Modalities {
			linear("aux."+m.Name, "aux."+m.Name)
		}
	}
	return out
}

// Transpose2D returns the (cols, rows) transpose of a row-major (rows, cols) matrix, a
// []float32 or []float64.
func Transpose2D(data any, rows, cols int) any {
	switch d := data.(type) {
	case []float32:
		return transpose(d, rows, cols)
	case []float64:
		return transpose(d, rows, cols)
	}
	panic(fmt.Sprintf("export: cannot transpose %T", data))
}

func transpose[T float32 | float64](d []T, rows, cols int) []T {
	if len(d) != rows*cols {
		panic(fmt.Sprintf("export: %d values for a %d x %d matrix", len(d), rows, cols))
	}
	out := make([]T, len(d))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = d[r*cols+c]
		}
	}
	return out
}

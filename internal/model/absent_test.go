package model

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/optim"
	"gorgonia.org/tensor"
)

// absentSpec returns spec with the modality at index absent marked Absent.
func absentSpec(spec Spec, absent int) Spec {
	spec.Modalities = slices.Clone(spec.Modalities)
	spec.Modalities[absent].Absent = true
	return spec
}

// onlyPresent restricts every sample of bt to the modalities in keep.
func onlyPresent(bt *Batch, keep combo.Set) *Batch {
	out := *bt
	out.Present = make([]combo.Set, len(bt.Present))
	for i, s := range bt.Present {
		if out.Present[i] = s & keep; out.Present[i] == 0 {
			out.Present[i] = keep
		}
	}
	return &out
}

// trainBits runs steps Adam steps (with weight decay) of m on batches whose samples only
// have the modalities in keep, then evaluates, and returns the bits of the losses, the
// logits, the present parameters (fusion rows of the full model mapped by rowsOf) and the
// BatchNorm statistics of the layers in names.
func trainBits(t *testing.T, m *Model, keep combo.Set, steps int, names []string) []uint64 {
	t.Helper()
	spec := m.Spec()
	const n = 7
	tg, err := m.NewTrainGraph(n, LossWeights{Alpha: 0.1, Beta: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	opt := &optim.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	var out []uint64
	for step := range steps {
		bt := onlyPresent(randomBatch(rand.New(rand.NewPCG(5, uint64(step))), spec, n), keep)
		r, err := tg.Step(bt)
		if err != nil {
			t.Fatal(err)
		}
		out = bitsOf(out, []float64{r.Loss, r.CE, r.KL, r.HCR})
		var vars []optim.Var
		for i, p := range m.Params() {
			if slices.Contains(names, p.Name) {
				vars = append(vars, optim.Var{Name: p.Name, Value: p.Data(), Grad: tg.Grads()[i], Decay: true})
			}
		}
		if err := opt.Step(vars, 0.01); err != nil {
			t.Fatal(err)
		}
	}
	eg, err := m.NewEvalGraph(n)
	if err != nil {
		t.Fatal(err)
	}
	o, err := eg.Forward(onlyPresent(randomBatch(rand.New(rand.NewPCG(6, 6)), spec, n), keep))
	if err != nil {
		t.Fatal(err)
	}
	return bitsOf(out, o.Logits)
}

// TestAbsentModalityMatchesFullModel checks that a model with an absent modality is the full
// model without the parts that never reach the output when that modality is missing: the
// same initial values of the present parameters (the fusion layers' rows of the present
// features), and the same bits of losses, gradients' effect on the parameters and logits
// over training steps on samples without the modality. The fused width stays below one
// GEMM pass, so leaving out the zero features does not change any sum's rounding.
func TestAbsentModalityMatchesFullModel(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		for absent := range 2 {
			t.Run(dt.String()+"/"+threadSpec(dt).Modalities[absent].Name, func(t *testing.T) {
				spec := threadSpec(dt)
				full, err := New(spec, rand.New(rand.NewPCG(3, 4)))
				if err != nil {
					t.Fatal(err)
				}
				part, err := New(absentSpec(spec, absent), rand.New(rand.NewPCG(3, 4)))
				if err != nil {
					t.Fatal(err)
				}
				gone := "enc." + spec.Modalities[absent].Name + "."
				var names []string
				for _, p := range full.Params() {
					q := part.Param(p.Name)
					if strings.HasPrefix(p.Name, gone) {
						if q != nil {
							t.Fatalf("absent modality's parameter %s exists", p.Name)
						}
						continue
					}
					names = append(names, p.Name)
					if q == nil {
						t.Fatalf("parameter %s missing", p.Name)
					}
					want := p.Data()
					if p.Name == "mu.W" || p.Name == "logvar.W" {
						want = fusionRows(p, full.EncoderDims(), absent)
					}
					if !slices.Equal(bitsOf(nil, q.Data()), bitsOf(nil, want)) {
						t.Fatalf("parameter %s: initial values differ from the full model's", p.Name)
					}
				}
				if got := len(part.Params()); got != len(names) {
					t.Fatalf("%d parameters, want %d", got, len(names))
				}
				if d := part.EncoderDims()[absent]; d != 0 {
					t.Fatalf("absent encoder has %d features", d)
				}
				keep := combo.Full(len(spec.Modalities)) &^ (1 << absent)
				a := trainBits(t, full, keep, 3, names)
				b := trainBits(t, part, keep, 3, names)
				if !slices.Equal(a, b) {
					t.Fatalf("training without modality %d differs between the full and the partial model", absent)
				}
				for _, name := range names {
					p := full.Param(name)
					want := p.Data()
					if name == "mu.W" || name == "logvar.W" {
						want = fusionRows(p, full.EncoderDims(), absent)
					}
					if !slices.Equal(bitsOf(nil, part.Param(name).Data()), bitsOf(nil, want)) {
						t.Fatalf("parameter %s differs after training", name)
					}
				}
			})
		}
	}
}

// fusionRows returns the rows of a full fusion weight (features, Z) without those of the
// absent modality's features.
func fusionRows(p *Param, dims []int, absent int) any {
	lo := 0
	for i := range absent {
		lo += dims[i]
	}
	hi := lo + dims[absent]
	cols := p.Shape()[1]
	switch d := p.Data().(type) {
	case []float32:
		return slices.Concat(d[:lo*cols], d[hi*cols:])
	case []float64:
		return slices.Concat(d[:lo*cols], d[hi*cols:])
	}
	panic("unexpected data")
}

// TestAbsentModalityIgnored checks that an absent modality's input and presence change
// nothing: a sample evaluated with it equals the sample without it.
func TestAbsentModalityIgnored(t *testing.T) {
	spec := absentSpec(testSpec(tensor.Float32, true), 1)
	m, err := New(spec, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	eg, err := m.NewEvalGraph(4)
	if err != nil {
		t.Fatal(err)
	}
	bt := randomBatch(rand.New(rand.NewPCG(2, 2)), spec, 4)
	bt.Present = []combo.Set{1, 1, 1, 1}
	a, err := eg.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	bt.Present = []combo.Set{3, 3, 3, 3}
	for i := range bt.X[1] {
		bt.X[1][i] = 1e6
	}
	b, err := eg.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Logits, b.Logits) {
		t.Fatalf("logits changed with the absent modality: %v vs %v", a.Logits, b.Logits)
	}
}

func TestAbsentModalityErrors(t *testing.T) {
	tests := []struct {
		name string
		spec func() Spec
		want string
	}{
		{"every modality absent", func() Spec { return absentSpec(absentSpec(testSpec(tensor.Float32, false), 0), 1) }, "every modality is absent"},
		{"auxiliary heads", func() Spec {
			s := absentSpec(testSpec(tensor.Float32, false), 0)
			s.AuxWeight = 0.5
			return s
		}, "auxiliary heads"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.spec(), rand.New(rand.NewPCG(1, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

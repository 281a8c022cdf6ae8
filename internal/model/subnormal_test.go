package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/optim"
	"gorgonia.org/tensor"
)

// countSubnormal returns the number of subnormal values in a []float32 or []float64.
func countSubnormal(v any) int {
	n := 0
	switch d := v.(type) {
	case []float32:
		for _, x := range d {
			if x != 0 && math.Abs(float64(x)) < 0x1p-126 {
				n++
			}
		}
	case []float64:
		for _, x := range d {
			if x != 0 && math.Abs(x) < 0x1p-1022 {
				n++
			}
		}
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
	return n
}

// TestNoSubnormalsWithUnusedEncoder trains, with Adam and weight decay, a model whose
// modality "b" is absent from every training sample and whose input is constant: weight
// decay alone moves b's encoder weights and the rows of the fusion weights that read b's
// feature, and the running variance of b's BatchNorm decays by (1 - momentum) every step.
// Unflushed, within a few hundred steps these parameters, Adam's moments and the running
// statistics become subnormal (and every operation on them then takes a microcode assist);
// none may.
func TestNoSubnormalsWithUnusedEncoder(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			spec := testSpec(dt, false)
			spec.BNMomentum = 0.5 // the running statistics decay fast
			m, err := New(spec, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			tg, err := m.NewTrainGraph(n, LossWeights{})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			bt := &Batch{X: [][]float32{make([]float32, n*3), make([]float32, n*4)}}
			for i := 0; i < n; i++ {
				bt.Present = append(bt.Present, combo.Set(1)) // only "a"
				bt.Y = append(bt.Y, i%spec.Classes)
			}
			for i := range bt.X[0] {
				bt.X[0][i] = float32(rng.NormFloat64())
			}
			// large steps and strong decay drive the unused weights towards zero in few steps
			opt := &optim.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
			params := m.Params()
			// subnormals lists every subnormal value of the model and the optimiser
			subnormals := func() []string {
				var bad []string
				for _, p := range params {
					if k := countSubnormal(p.Data()); k > 0 {
						bad = append(bad, fmt.Sprintf("%s: %d", p.Name, k))
					}
				}
				_, slots := opt.State()
				for _, s := range slots {
					if k := countSubnormal(s.Data); k > 0 {
						bad = append(bad, fmt.Sprintf("%s: %d", s.Name, k))
					}
				}
				for _, bn := range m.BatchNorms() {
					mean, variance := bn.Stats()
					if k := countSubnormal(mean) + countSubnormal(variance); k > 0 {
						bad = append(bad, fmt.Sprintf("%s running statistics: %d", bn.Name, k))
					}
				}
				return bad
			}
			for step := 0; step < 2500; step++ {
				if _, err := tg.Step(bt); err != nil {
					t.Fatal(err)
				}
				grads := tg.Grads()
				vars := make([]optim.Var, len(params))
				for i, p := range params {
					vars[i] = optim.Var{Name: p.Name, Value: p.Data(), Grad: grads[i], Decay: p.Decay}
				}
				if err := opt.Step(vars, 0.01); err != nil {
					t.Fatal(err)
				}
				// every step: a value that passes through the subnormal range on its way to
				// zero must not be missed
				if bad := subnormals(); len(bad) > 0 {
					t.Fatalf("step %d: subnormal values: %v", step+1, bad)
				}
			}
			// the decay did reach the flush: b's running variance went to zero and, in float32,
			// b's weights are within 2^10 of the smallest normal number
			_, variance := m.bnByName["enc.b.0.bn"].Stats()
			if k := countNonzero(variance); k > 0 {
				t.Fatalf("%d running variances of the unused encoder are not zero: the test does not reach the flush", k)
			}
			if w, ok := m.Param("enc.b.0.W").Data().([]float32); ok {
				for _, x := range w {
					if math.Abs(float64(x)) > 0x1p-116 {
						t.Fatalf("unused weight %v: the test does not reach the flush", x)
					}
				}
			}
		})
	}
}

func countNonzero(v any) int {
	n := 0
	switch d := v.(type) {
	case []float32:
		for _, x := range d {
			if x != 0 {
				n++
			}
		}
	case []float64:
		for _, x := range d {
			if x != 0 {
				n++
			}
		}
	}
	return n
}

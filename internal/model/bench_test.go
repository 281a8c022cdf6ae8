package model

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// mfeatSpec is the mfeat benchmark architecture of ../docs/benchmarks.md.
func mfeatSpec() Spec {
	var ms []ModalitySpec
	for _, v := range []struct {
		name string
		d    int
	}{{"pix", 240}, {"fou", 76}, {"fac", 216}, {"zer", 47}, {"kar", 64}, {"mor", 6}} {
		ms = append(ms, ModalitySpec{Name: v.name, InputShape: []int{v.d}, Encoder: EncoderSpec{Type: "mlp", Layers: []int{128, 64}}})
	}
	return Spec{Modalities: ms, Latent: 128, Classes: 10, PME: true, DType: tensor.Float32, BNMomentum: 0.1, BNEps: 1e-5}
}

// BenchmarkTrainStepMfeat measures forward + backward of the mfeat model at batch 64 (the
// optimiser update lives in internal/train).
func BenchmarkTrainStepMfeat(b *testing.B) { benchTrainStep(b, mfeatSpec()) }

// avmnistSpec is the avmnist benchmark architecture of ../docs/benchmarks.md.
func avmnistSpec() Spec {
	conv := EncoderSpec{Type: "conv", Channels: []int{16, 32}, Kernel: 3, Pool: 2, Layers: []int{64}}
	return Spec{Modalities: []ModalitySpec{
		{Name: "audio", InputShape: []int{1, 32, 63}, Encoder: conv},
		{Name: "image", InputShape: []int{1, 28, 28}, Encoder: conv},
	}, Latent: 64, Classes: 10, PME: true, DType: tensor.Float32, BNMomentum: 0.1, BNEps: 1e-5}
}

// BenchmarkTrainStepAVMNIST measures forward + backward of the avmnist model at batch 64.
func BenchmarkTrainStepAVMNIST(b *testing.B) { benchTrainStep(b, avmnistSpec()) }

// benchTrainStep measures one forward + backward step of spec's model on a random batch of 64.
func benchTrainStep(b *testing.B, spec Spec) {
	b.Helper()
	m, err := New(spec, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		b.Fatal(err)
	}
	tg, err := m.NewTrainGraph(64, LossWeights{Alpha: 1e-3, Beta: 0.2})
	if err != nil {
		b.Fatal(err)
	}
	bt := randomBatch(rand.New(rand.NewPCG(1, 1)), spec, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tg.Step(bt); err != nil {
			b.Fatal(err)
		}
	}
}

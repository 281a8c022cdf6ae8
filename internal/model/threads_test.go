package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

// threadSpec has a two-block conv encoder (uneven 11 x 10 images, so pooling drops a row and
// a column) and an MLP encoder wide enough that its products at batch 64 are split over
// workers by internal/sgemm.
func threadSpec(dt tensor.Dtype) Spec {
	return Spec{
		Modalities: []ModalitySpec{
			{Name: "img", InputShape: []int{2, 11, 10}, Encoder: EncoderSpec{Type: "conv", Channels: []int{4, 6}, Kernel: 3, Pool: 2, Layers: []int{8}}},
			{Name: "vec", InputShape: []int{600}, Encoder: EncoderSpec{Type: "mlp", Layers: []int{128}}},
		},
		Latent: 5, Classes: 3, PME: true, DType: dt, BNMomentum: 0.1, BNEps: 1e-5,
	}
}

// bitsOf appends the raw bits of a []float32 or []float64 to out.
func bitsOf(out []uint64, v any) []uint64 {
	switch d := v.(type) {
	case []float32:
		for _, x := range d {
			out = append(out, uint64(math.Float32bits(x)))
		}
	case []float64:
		for _, x := range d {
			out = append(out, math.Float64bits(x))
		}
	default:
		panic(fmt.Sprintf("unexpected %T", v))
	}
	return out
}

// stepBits builds a fresh model of spec and runs two training steps of batch n, the first at
// GOMAXPROCS procs[0] and the second at procs[1], then an evaluation forward pass. It returns
// the bits of everything computed: losses, per-sample values, every gradient, the BatchNorm
// running statistics and the evaluation logits.
func stepBits(t *testing.T, spec Spec, n int, procs [2]int) []uint64 {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs[0]))
	m, err := New(spec, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.NewTrainGraph(n, LossWeights{Alpha: 0.1, Beta: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for step, p := range procs {
		runtime.GOMAXPROCS(p)
		bt := randomBatch(rand.New(rand.NewPCG(5, uint64(step))), spec, n)
		r, err := tg.Step(bt)
		if err != nil {
			t.Fatal(err)
		}
		out = bitsOf(out, []float64{r.Loss, r.CE, r.KL, r.HCR})
		out = bitsOf(out, r.CEPerSample)
		out = bitsOf(out, r.VarPerSample)
		for _, g := range tg.Grads() {
			out = bitsOf(out, g)
		}
	}
	for _, bn := range m.BatchNorms() {
		mean, variance := bn.Stats()
		out = bitsOf(bitsOf(out, mean), variance)
	}
	eg, err := m.NewEvalGraph(n)
	if err != nil {
		t.Fatal(err)
	}
	o, err := eg.Forward(randomBatch(rand.New(rand.NewPCG(6, 6)), spec, n))
	if err != nil {
		t.Fatal(err)
	}
	return bitsOf(out, o.Logits)
}

// TestStepSameBitsAtAnyThreadCount checks that the fused conv stack (forward, BatchNorm
// statistics, pooling, backward with its weight-gradient chunks), the dense stack and the
// parallel GEMM give the same bits at every GOMAXPROCS, also when GOMAXPROCS changes between
// two steps of one graph: for float32 and float64, with batches smaller than, equal to and
// larger than gradChunks and not divisible by it.
func TestStepSameBitsAtAnyThreadCount(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		spec := threadSpec(dt)
		for _, n := range []int{5, 16, 37, 64} {
			want := stepBits(t, spec, n, [2]int{1, 1})
			for _, procs := range [][2]int{{2, 2}, {3, 3}, {4, 4}, {7, 7}, {1, 4}, {4, 2}} {
				got := stepBits(t, spec, n, procs)
				if len(got) != len(want) {
					t.Fatalf("%v n=%d GOMAXPROCS %v: %d values, want %d", dt, n, procs, len(got), len(want))
				}
				diff := 0
				for i := range want {
					if got[i] != want[i] {
						diff++
					}
				}
				if diff > 0 {
					t.Errorf("%v n=%d: GOMAXPROCS %v gives %d of %d values different from GOMAXPROCS 1", dt, n, procs, diff, len(want))
				}
			}
		}
	}
}

// TestChunkBounds checks that the gradient chunks cover a batch in order, without gaps,
// overlaps or empty chunks, and depend on the batch size only.
func TestChunkBounds(t *testing.T) {
	for n := 1; n <= 200; n++ {
		nc := numChunks(n)
		if nc < 1 || nc > gradChunks || nc > n {
			t.Fatalf("n=%d: %d chunks", n, nc)
		}
		next := 0
		for i := 0; i < nc; i++ {
			lo, hi := chunkBounds(n, nc, i)
			if lo != next || hi <= lo {
				t.Fatalf("n=%d chunk %d: [%d, %d) after %d", n, i, lo, hi, next)
			}
			next = hi
		}
		if next != n {
			t.Fatalf("n=%d: chunks end at %d", n, next)
		}
	}
}

// TestSumSamples checks the per-sample reduction: the rows added in sample order, with
// float64 rounding after every addition.
func TestSumSamples(t *testing.T) {
	per := []float64{1e16, 1, 1, -1e16, 1, 3, 1, 4}
	var want [2]float64
	for s := 0; s < 4; s++ {
		want[0] += per[2*s]
		want[1] += per[2*s+1]
	}
	got := sumSamples(append([]float64(nil), per...), 4, 2)
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	// another order rounds differently here, so the test can tell
	if other := ((per[6] + per[4]) + per[2]) + per[0]; other == want[0] {
		t.Fatalf("fixture does not distinguish orders")
	}
}

package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/sgemm"
	"gorgonia.org/tensor"
)

// inferSpec builds a spec with one mlp modality per width of widths (encoder [w+3, w]) and,
// with conv, an 8x8 image modality first.
func inferSpec(dt tensor.Dtype, pme bool, aux float64, conv bool, widths ...int) Spec {
	s := Spec{Latent: 5, Classes: 3, PME: pme, DType: dt, BNMomentum: 0.1, BNEps: 1e-5, AuxWeight: aux}
	if conv {
		s.Modalities = append(s.Modalities, ModalitySpec{Name: "img", InputShape: []int{1, 8, 8},
			Encoder: EncoderSpec{Type: "conv", Channels: []int{3, 4}, Kernel: 3, Pool: 2, Layers: []int{6}}})
	}
	for i, w := range widths {
		s.Modalities = append(s.Modalities, ModalitySpec{Name: string(rune('a' + i)), InputShape: []int{4 + i},
			Encoder: EncoderSpec{Type: "mlp", Layers: []int{w + 3, w}}})
	}
	return s
}

// randomModel returns a model with random parameters and BatchNorm running statistics.
func randomModel(t *testing.T, spec Spec, seed uint64) *Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	m, err := New(spec, rng)
	if err != nil {
		t.Fatal(err)
	}
	set := func(d any, f func() float64) {
		switch d := d.(type) {
		case []float32:
			for i := range d {
				d[i] = float32(f())
			}
		case []float64:
			for i := range d {
				d[i] = f()
			}
		}
	}
	for _, p := range m.Params() {
		if len(p.Shape()) == 1 { // biases, gamma and beta: away from their initial values
			set(p.Data(), func() float64 { return rng.NormFloat64() * 0.5 })
		}
	}
	for _, bn := range m.BatchNorms() {
		mean, vr := bn.Stats()
		set(mean, func() float64 { return rng.NormFloat64() * 0.3 })
		set(vr, func() float64 { return 0.2 + rng.Float64() })
	}
	return m
}

// randomInputs returns n samples of every modality of spec.
func randomInputs(spec Spec, n int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([][]float32, len(spec.Modalities))
	for i, ms := range spec.Modalities {
		x[i] = make([]float32, n*ms.InputSize())
		for j := range x[i] {
			x[i][j] = float32(rng.NormFloat64())
		}
	}
	return x
}

// graphOutputs runs the EvalGraph (batches of bs) on the rows of x with one combination per
// row, and returns the logits, variances and auxiliary logits of every row.
func graphOutputs(t *testing.T, m *Model, bs int, x [][]float32, rows []int, sets []combo.Set) *Output {
	t.Helper()
	g, err := m.NewEvalGraph(bs)
	if err != nil {
		t.Fatal(err)
	}
	all := &Output{Aux: make([][]float64, len(x))}
	if !m.HasAux() {
		all.Aux = nil
	}
	for lo := 0; lo < len(rows); lo += bs {
		hi := min(lo+bs, len(rows))
		bt := &Batch{X: make([][]float32, len(x)), Present: sets[lo:hi]}
		for i, ms := range m.Spec().Modalities {
			size := ms.InputSize()
			for _, r := range rows[lo:hi] {
				bt.X[i] = append(bt.X[i], x[i][r*size:(r+1)*size]...)
			}
		}
		o, err := g.Forward(bt)
		if err != nil {
			t.Fatal(err)
		}
		all.Logits = append(all.Logits, o.Logits...)
		all.Var = append(all.Var, o.Var...)
		for i := range all.Aux {
			all.Aux[i] = append(all.Aux[i], o.Aux[i]...)
		}
	}
	return all
}

func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d] = %v (%#x), EvalGraph %v (%#x)", what, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
}

// TestInferenceMatchesEvalGraph checks that Encode + Heads give bitwise EvalGraph.Forward's
// logits, variances and auxiliary logits for every combination, for both dtypes, both
// encoder kinds, with and without PME and auxiliary heads, with a fused width that crosses
// the float32 GEMM's pass boundary inside a modality, with non-finite head weights, and with
// the rows processed in chunks of one.
func TestInferenceMatchesEvalGraph(t *testing.T) {
	nan := func(m *Model) { // a NaN weight of modality b's columns in the logvar head
		d := m.Param("logvar.W").Data()
		row := m.EncoderDims()[0] + 1
		switch d := d.(type) {
		case []float32:
			d[row*m.Spec().Latent+2] = float32(math.NaN())
		case []float64:
			d[row*m.Spec().Latent+2] = math.NaN()
		}
	}
	inf := func(m *Model) { // an infinite weight of modality a in the mu head
		switch d := m.Param("mu.W").Data().(type) {
		case []float32:
			d[1] = float32(math.Inf(1))
		case []float64:
			d[1] = math.Inf(-1)
		}
	}
	cases := []struct {
		name   string
		spec   Spec
		damage func(*Model)
		budget int
	}{
		{"mlp f32 pme aux", inferSpec(tensor.Float32, true, 0.5, false, 4, 3, 5), nil, 0},
		{"mlp f64 pme aux", inferSpec(tensor.Float64, true, 0.5, false, 4, 3, 5), nil, 0},
		{"mlp f32 deterministic", inferSpec(tensor.Float32, false, 0, false, 4, 6), nil, 0},
		{"mlp f64 deterministic", inferSpec(tensor.Float64, false, 0, false, 4, 6), nil, 0},
		{"mlp f32 across passes", inferSpec(tensor.Float32, true, 0.3, false, 100, 200, 50, 7), nil, 0},
		{"mlp f64 across passes", inferSpec(tensor.Float64, true, 0, false, 100, 200, 50), nil, 0},
		{"mlp f32 chunks of one row", inferSpec(tensor.Float32, true, 0.3, false, 100, 200, 50), nil, 1},
		{"conv f32 aux", inferSpec(tensor.Float32, true, 0.5, true, 4), nil, 0},
		{"conv f64", inferSpec(tensor.Float64, true, 0, true, 4), nil, 0},
		{"f32 NaN weight", inferSpec(tensor.Float32, true, 0, false, 4, 3, 5), nan, 0},
		{"f32 NaN weight across passes", inferSpec(tensor.Float32, true, 0, false, 200, 100, 50), nan, 0},
		{"f64 NaN weight", inferSpec(tensor.Float64, true, 0, false, 4, 3, 5), nan, 0},
		{"f32 Inf weight", inferSpec(tensor.Float32, false, 0, false, 4, 3), inf, 0},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(t, tc.spec, uint64(ci))
			if tc.damage != nil {
				tc.damage(m)
			}
			const n = 23
			x := randomInputs(tc.spec, n, uint64(ci))
			sp := combo.Full(len(tc.spec.Modalities))
			in, err := m.NewInference(7)
			if err != nil {
				t.Fatal(err)
			}
			if tc.budget > 0 {
				in.budget = tc.budget
			}
			all := make([]int, n)
			for i := range all {
				all[i] = i
			}
			var f Features
			if err := in.Encode(x, all, &f); err != nil {
				t.Fatal(err)
			}
			// every combination over every row, and over a subset of rows
			var sets []combo.Set
			var rows [][]int
			for s := combo.Set(1); s <= sp; s++ {
				sets = append(sets, s, s)
				var some []int
				for i := int(s) % 3; i < n; i += 3 {
					some = append(some, i)
				}
				rows = append(rows, all, some)
			}
			out := make([]HeadOutput, len(sets))
			if err := in.Heads(&f, sets, rows, out, true); err != nil {
				t.Fatal(err)
			}
			// without the variances: the same logits, no variance
			noVar := make([]HeadOutput, len(sets))
			if err := in.Heads(&f, sets, rows, noVar, false); err != nil {
				t.Fatal(err)
			}
			for k, s := range sets {
				present := make([]combo.Set, len(rows[k]))
				for i := range present {
					present[i] = s
				}
				want := graphOutputs(t, m, 5, x, rows[k], present)
				sameBits(t, "logits", out[k].Logits, want.Logits)
				sameBits(t, "variance", out[k].Var, want.Var)
				sameBits(t, "logits without variance", noVar[k].Logits, want.Logits)
				if len(noVar[k].Var) != 0 {
					t.Fatalf("%d variances without withVar", len(noVar[k].Var))
				}
				for mi := range want.Aux {
					var got []float64
					c := tc.spec.Classes
					for _, r := range rows[k] {
						got = append(got, f.Aux()[mi][r*c:(r+1)*c]...)
					}
					sameBits(t, "aux", got, want.Aux[mi])
				}
			}
			// a second call reuses the buffers and gives the same bits
			out2 := make([]HeadOutput, len(sets))
			if err := in.Heads(&f, sets, rows, out2, true); err != nil {
				t.Fatal(err)
			}
			for k := range out {
				sameBits(t, "second call", out2[k].Logits, out[k].Logits)
			}
		})
	}
}

// TestInferenceRefusesReferenceBuild checks that the reference build keeps the EvalGraph.
func TestInferenceRefusesReferenceBuild(t *testing.T) {
	spec := inferSpec(tensor.Float64, true, 0, false, 3)
	spec.Reference = true
	m := randomModel(t, spec, 1)
	if m.CachedInference() == nil {
		t.Fatal("the reference build claims cached-encoder inference")
	}
	if _, err := m.NewInference(4); err == nil {
		t.Fatal("NewInference accepted the reference build")
	}
}

// TestHeadsRejectsBadRequests checks Heads' argument checks.
func TestHeadsRejectsBadRequests(t *testing.T) {
	spec := inferSpec(tensor.Float32, true, 0, false, 3, 2)
	m := randomModel(t, spec, 2)
	in, err := m.NewInference(4)
	if err != nil {
		t.Fatal(err)
	}
	var f Features
	if err := in.Encode(randomInputs(spec, 5, 1), []int{0, 1, 2, 3, 4}, &f); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		sets []combo.Set
		rows [][]int
	}{
		{"empty combination", []combo.Set{0}, [][]int{{0}}},
		{"unknown modality", []combo.Set{4}, [][]int{{0}}},
		{"descending rows", []combo.Set{1}, [][]int{{2, 1}}},
		{"row out of range", []combo.Set{3}, [][]int{{5}}},
		{"fewer row lists", []combo.Set{1, 2}, [][]int{{0}}},
	}
	for _, tc := range cases {
		if err := in.Heads(&f, tc.sets, tc.rows, make([]HeadOutput, len(tc.sets)), true); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := in.Encode(randomInputs(spec, 5, 1), []int{5}, &f); err == nil {
		t.Error("Encode accepted a sample past the inputs")
	}
}

// TestSgemmPassStructure checks the float32 product's summation structure that Heads relies
// on: each element of c is the pass-by-pass sum (passes of sgemm.PassDepth columns) of
// chains over k that zero terms leave unchanged, so a product over a subset of the columns,
// pass by pass, equals the product with the other columns zeroed.
func TestSgemmPassStructure(t *testing.T) {
	defer func() {
		if err := sgemm.Use("auto"); err != nil {
			t.Fatal(err)
		}
	}()
	for _, kern := range []string{"portable", "avx2", "avx512", "neon"} {
		if err := sgemm.Use(kern); err != nil {
			t.Logf("%s: %v", kern, err)
			continue
		}
		t.Run(kern, testSgemmPassStructure)
	}
}

func testSgemmPassStructure(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const m, n = 7, 19
	for _, k := range []int{5, sgemm.PassDepth, sgemm.PassDepth + 1, 2*sgemm.PassDepth + 37} {
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		keep := make([]bool, k)
		for p := range keep {
			keep[p] = rng.IntN(3) > 0
		}
		for i := range a {
			if keep[i%k] {
				a[i] = float32(rng.NormFloat64())
			}
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, m*n)
		sgemm.Mul(want, a, b, m, k, n, false, false, false)
		depth := k
		if sgemm.SumsInPasses() {
			depth = sgemm.PassDepth
		}
		got := make([]float32, m*n)
		first := true
		for p0 := 0; p0 < k; p0 += depth {
			var cols []int
			for p := p0; p < min(k, p0+depth); p++ {
				if keep[p] {
					cols = append(cols, p)
				}
			}
			if len(cols) == 0 {
				continue
			}
			ac := make([]float32, m*len(cols))
			bc := make([]float32, len(cols)*n)
			for j, p := range cols {
				for i := 0; i < m; i++ {
					ac[i*len(cols)+j] = a[i*k+p]
				}
				copy(bc[j*n:(j+1)*n], b[p*n:(p+1)*n])
			}
			part := make([]float32, m*n)
			sgemm.Mul(part, ac, bc, m, len(cols), n, false, false, false)
			for i, v := range part {
				if first {
					got[i] = v
				} else {
					got[i] += v
				}
			}
			first = false
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("k %d: element %d: passes over the kept columns give %v, the full product %v (has internal/sgemm's pass depth or order changed?)", k, i, got[i], want[i])
			}
		}
	}
}

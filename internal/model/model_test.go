package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func testSpec(dt tensor.Dtype, pme bool) Spec {
	return Spec{
		Modalities: []ModalitySpec{
			{Name: "a", InputShape: []int{3}, Encoder: EncoderSpec{Type: "mlp", Layers: []int{5, 4}}},
			{Name: "b", InputShape: []int{4}, Encoder: EncoderSpec{Type: "mlp", Layers: []int{3}}},
		},
		Latent: 3, Classes: 3, PME: pme, DType: dt, BNMomentum: 0.1, BNEps: 1e-5,
	}
}

func randomBatch(rng *rand.Rand, spec Spec, n int) *Batch {
	b := &Batch{}
	for _, m := range spec.Modalities {
		x := make([]float32, n*m.InputSize())
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		b.X = append(b.X, x)
	}
	full := combo.Full(len(spec.Modalities))
	for i := 0; i < n; i++ {
		b.Present = append(b.Present, combo.Set(1+rng.IntN(int(full))))
		b.Y = append(b.Y, rng.IntN(spec.Classes))
		b.Hard = append(b.Hard, rng.IntN(2) == 1)
	}
	// make sure every combination and both hard flags occur
	b.Present[0], b.Present[1], b.Present[2] = 1, 2, full
	b.Hard[0], b.Hard[1] = true, false
	b.Noise = make([]float64, n*spec.Latent)
	for i := range b.Noise {
		b.Noise[i] = rng.NormFloat64()
	}
	return b
}

// TestGradientFiniteDifference checks every parameter's gradient of the full loss
// (CE + alpha*KL + beta*HCR through mu, logvar, BatchNorm, masking) against central
// differences in float64.
func TestGradientFiniteDifference(t *testing.T) {
	for _, c := range []struct {
		pme, conv, reference, aux bool
	}{{true, false, false, false}, {false, false, false, false}, {true, true, false, false}, {true, true, true, false}, {true, true, false, true}} {
		pme := c.pme
		spec := testSpec(tensor.Float64, pme)
		spec.Reference = c.reference // Gorgonia's own ops with dmrnet's BatchNorm, bias and cross-entropy
		if c.aux {
			spec.AuxWeight = 0.7 // auxiliary heads and per-sample weights
		}
		if c.conv {
			spec.Modalities = append(spec.Modalities, ModalitySpec{Name: "img", InputShape: []int{1, 5, 4},
				Encoder: EncoderSpec{Type: "conv", Channels: []int{2, 3}, Kernel: 3, Pool: 2, Layers: []int{3}}})
		}
		rng := rand.New(rand.NewPCG(1, 2))
		m, err := New(spec, rng)
		if err != nil {
			t.Fatal(err)
		}
		const n = 6
		tg, err := m.NewTrainGraph(n, LossWeights{Alpha: 0.3, Beta: 0.7})
		if err != nil {
			t.Fatal(err)
		}
		bt := randomBatch(rng, spec, n)
		if c.aux {
			bt.Weight = []float64{0.5, 1.5, 1, 2, 0.25, 1}
		}
		if _, err := tg.Step(bt); err != nil {
			t.Fatal(err)
		}
		var analytic [][]float64
		for _, g := range tg.Grads() {
			analytic = append(analytic, append([]float64(nil), g.([]float64)...))
		}
		loss := func() float64 {
			r, err := tg.Step(bt)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		const h = 1e-6
		checked := 0
		for pi, p := range m.Params() {
			w := p.Data().([]float64)
			for i := range w {
				orig := w[i]
				w[i] = orig + h
				lp := loss()
				w[i] = orig - h
				lm := loss()
				w[i] = orig
				num := (lp - lm) / (2 * h)
				got := analytic[pi][i]
				if diff := math.Abs(num - got); diff > 1e-6+1e-4*math.Abs(num) {
					t.Errorf("pme=%v %s[%d]: analytic %.9g, numeric %.9g", pme, p.Name, i, got, num)
				}
				checked++
			}
		}
		if checked < 100 {
			t.Fatalf("only %d gradient entries checked", checked)
		}
	}
}

// TestLossTermsHandComputed feeds mu, logvar and logits directly and compares CE, KL, HCR and
// the loss with values computed by hand.
func TestLossTermsHandComputed(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		m, err := New(testSpec(dt, true), rand.New(rand.NewPCG(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		b := newBuilder(m, true)
		mu, mut := b.input("mu", 2, 2)
		lv, lvt := b.input("lv", 2, 2)
		logits, lt := b.input("logits", 2, 3)
		target, tt := b.input("target", 2, 3)
		hard, ht := b.input("hard", 2)
		weight, wt := b.input("weight", 2)
		copyInto(wt, []float32{1, 1})
		copyInto(mut, []float32{0, 1, 2, 0})
		copyInto(lvt, []float32{0, 0, float32(math.Ln2), 0})
		copyInto(lt, []float32{0, 0, 0, 1, 2, 3})
		copyInto(tt, []float32{1, 0, 0, 0, 0, 1})
		copyInto(ht, []float32{0, 1})
		ln, err := b.lossTerms(2, mu, lv, logits, target, hard, weight, LossWeights{Alpha: 0.1, Beta: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(b.g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		// sample 1: KL 0 + 0.5*(1+1-0-1) = 0.5; sample 2: 0.5*(2+4-ln2-1) + 0 = 2.1534264
		// CE: ln 3 = 1.0986123 and -3 + ln(e+e^2+e^3) = 0.4076059; HCR = 0.4076059/2
		tol := 1e-7 // ln 2 enters as a float32 input
		if dt == tensor.Float32 {
			tol = 1e-6
		}
		for _, c := range []struct {
			name string
			node *G.Node
			want float64
		}{
			{"kl", ln.kl, (0.5 + 0.5*(5-math.Ln2)) / 2},
			{"ce", ln.ce, (math.Log(3) + 0.40760596444438) / 2},
			{"hcr", ln.hcr, 0.40760596444438 / 2},
			{"loss", ln.loss, (math.Log(3)+0.40760596444438)/2 + 0.1*(0.5+0.5*(5-math.Ln2))/2 + 0.5*0.40760596444438/2},
		} {
			got := readFloats(c.node.Value())[0]
			if math.Abs(got-c.want) > tol*math.Max(1, math.Abs(c.want)) {
				t.Errorf("%v %s = %.10g, want %.10g", dt, c.name, got, c.want)
			}
		}
	}
}

func TestXentStableForLargeLogits(t *testing.T) {
	g := G.NewGraph()
	l := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float64{1000, 0}))
	y := tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float64{0, 1}))
	ln := G.NodeFromAny(g, l, G.WithName("l"))
	yn := G.NodeFromAny(g, y, G.WithName("y"))
	ce := G.Must(G.ApplyOp(newXentOp(), ln, yn))
	vm := G.NewTapeMachine(g)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := readFloats(ce.Value())[0]; math.Abs(got-1000) > 1e-9 {
		t.Fatalf("ce = %v, want 1000", got)
	}
}

// TestBatchNormRunningStats checks PyTorch's rule: running = 0.9 running + 0.1 batch, with the
// unbiased batch variance, and that the evaluation graph uses the shared statistics.
func TestBatchNormRunningStats(t *testing.T) {
	m, err := New(testSpec(tensor.Float64, true), rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	st := &BNState{Name: "t", mean: newLike(tensor.Float64, 1), variance: newLike(tensor.Float64, 1), Momentum: 0.1, Eps: 1e-5}
	fill(st.variance, 1)
	b := newBuilder(m, true)
	x, xt := b.input("x", 4, 1)
	copyInto(xt, []float32{1, 2, 3, 6})
	gamma := G.NodeFromAny(b.g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2})), G.WithName("g"))
	beta := G.NodeFromAny(b.g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1})), G.WithName("b"))
	y := G.Must(G.ApplyOp(newBNOp(st, 2, true), x, gamma, beta))
	vm := G.NewTapeMachine(b.g)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	// mean 3, biased var (4+1+0+9)/4 = 3.5, unbiased 14/3
	if got, want := st.mean.Data().([]float64)[0], 0.3; math.Abs(got-want) > 1e-12 {
		t.Errorf("running mean %v, want %v", got, want)
	}
	if got, want := st.variance.Data().([]float64)[0], 0.9+0.1*14.0/3; math.Abs(got-want) > 1e-12 {
		t.Errorf("running var %v, want %v", got, want)
	}
	if got, want := readFloats(y.Value())[3], 2*(6-3)/math.Sqrt(3.5+1e-5)+1; math.Abs(got-want) > 1e-12 {
		t.Errorf("y[3] = %v, want %v", got, want)
	}
	// evaluation mode uses the running statistics and leaves them alone
	e := newBuilder(m, false)
	ex, ext := e.input("x", 1, 1)
	copyInto(ext, []float32{6})
	eg := G.NodeFromAny(e.g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2})), G.WithName("g"))
	eb := G.NodeFromAny(e.g, tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1})), G.WithName("b"))
	ey := G.Must(G.ApplyOp(newBNOp(st, 2, false), ex, eg, eb))
	evm := G.NewTapeMachine(e.g)
	if err := evm.RunAll(); err != nil {
		t.Fatal(err)
	}
	rv := 0.9 + 0.1*14.0/3
	if got, want := readFloats(ey.Value())[0], 2*(6-0.3)/math.Sqrt(rv+1e-5)+1; math.Abs(got-want) > 1e-12 {
		t.Errorf("eval y = %v, want %v", got, want)
	}
	if got := st.variance.Data().([]float64)[0]; got != rv {
		t.Errorf("evaluation changed running var to %v", got)
	}
}

// TestEvalSharesParameters checks that the evaluation graph sees parameter updates and that
// padding a batch does not change the real rows' outputs.
func TestEvalSharesParameters(t *testing.T) {
	spec := testSpec(tensor.Float32, true)
	m, err := New(spec, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	bt := randomBatch(rand.New(rand.NewPCG(6, 6)), spec, 4)
	eg8, err := m.NewEvalGraph(8)
	if err != nil {
		t.Fatal(err)
	}
	eg4, err := m.NewEvalGraph(4)
	if err != nil {
		t.Fatal(err)
	}
	o8, err := eg8.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	o4, err := eg4.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range o4.Logits {
		if o4.Logits[i] != o8.Logits[i] {
			t.Fatalf("padded logits differ at %d: %v vs %v", i, o8.Logits[i], o4.Logits[i])
		}
	}
	cls := m.Param("cls.b").Data().([]float32)
	cls[0] += 1
	o, err := eg4.Forward(bt)
	if err != nil {
		t.Fatal(err)
	}
	if d := o.Logits[0] - o4.Logits[0]; math.Abs(d-1) > 1e-5 {
		t.Fatalf("logit moved by %v after bias +1", d)
	}
}

// TestStepResultConsistent checks the per-sample values a step reports against its scalars:
// mean CE_i = CE and 1/B sum hard_i CE_i = HCR, and that the variances are plausible
// (Gorgonia reuses dead intermediate buffers, so values must be read during the run).
func TestStepResultConsistent(t *testing.T) {
	spec := testSpec(tensor.Float64, true)
	m, err := New(spec, rand.New(rand.NewPCG(8, 8)))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.NewTrainGraph(6, LossWeights{Alpha: 0.1, Beta: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	bt := randomBatch(rand.New(rand.NewPCG(9, 9)), spec, 6)
	for run := 0; run < 2; run++ {
		r, err := tg.Step(bt)
		if err != nil {
			t.Fatal(err)
		}
		var sum, hard float64
		for i, ce := range r.CEPerSample {
			sum += ce
			if bt.Hard[i] {
				hard += ce
			}
		}
		if math.Abs(sum/6-r.CE) > 1e-12 || math.Abs(hard/6-r.HCR) > 1e-12 {
			t.Fatalf("per-sample CE %v inconsistent with CE %v / HCR %v", r.CEPerSample, r.CE, r.HCR)
		}
		// BatchNorm makes logvar ~ N(0, 1) over the batch: exp(logvar) averages near e^0.5
		var v float64
		for _, x := range r.VarPerSample {
			v += x / 6
		}
		if v < 1.2 || v > 2.5 {
			t.Fatalf("mean variance %v implausible (%v)", v, r.VarPerSample)
		}
		if math.Abs(r.Loss-(r.CE+0.1*r.KL+0.5*r.HCR)) > 1e-12 {
			t.Fatalf("loss %v != CE + 0.1 KL + 0.5 HCR", r.Loss)
		}
	}
}

// TestEveryEncoderGetsGradient guards against the Gorgonia Concat bug that lost the gradient
// of the fifth of six 64-wide encoders: in the mfeat architecture, with only modality k
// present, encoder k's first-layer gradient must match central differences.
func TestEveryEncoderGetsGradient(t *testing.T) {
	spec := mfeatSpec()
	spec.DType = tensor.Float64
	rng := rand.New(rand.NewPCG(4, 4))
	m, err := New(spec, rng)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.NewTrainGraph(8, LossWeights{Alpha: 1e-3, Beta: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	for k, ms := range spec.Modalities {
		bt := randomBatch(rng, spec, 8)
		for i := range bt.Present {
			bt.Present[i] = 1 << k
		}
		if _, err := tg.Step(bt); err != nil {
			t.Fatal(err)
		}
		name := "enc." + ms.Name + ".0.W"
		var pi int
		for i, p := range m.Params() {
			if p.Name == name {
				pi = i
			}
		}
		grad := append([]float64(nil), tg.Grads()[pi].([]float64)...)
		w := m.Params()[pi].Data().([]float64)
		nonzero := 0
		for j := 0; j < 12; j++ {
			i := rng.IntN(len(w))
			orig := w[i]
			w[i] = orig + 1e-6
			lp, _ := tg.Step(bt)
			w[i] = orig - 1e-6
			lm, _ := tg.Step(bt)
			w[i] = orig
			num := (lp.Loss - lm.Loss) / 2e-6
			if math.Abs(num-grad[i]) > 1e-7+1e-4*math.Abs(num) {
				t.Errorf("%s[%d]: analytic %g, numeric %g", name, i, grad[i], num)
			}
			if grad[i] != 0 {
				nonzero++
			}
		}
		if nonzero == 0 {
			t.Errorf("%s: no gradient", name)
		}
	}
}

// TestFusedMatchesReference builds the same model from the fused ops and from Gorgonia's own
// ops and compares the loss, the per-sample values, every gradient and the BatchNorm
// running statistics.
func TestFusedMatchesReference(t *testing.T) {
	for _, pme := range []bool{true, false} {
		spec := testSpec(tensor.Float64, pme)
		spec.Modalities = append(spec.Modalities, ModalitySpec{Name: "img", InputShape: []int{2, 6, 5},
			Encoder: EncoderSpec{Type: "conv", Channels: []int{3, 4}, Kernel: 3, Pool: 2, Layers: []int{3}}})
		ref := spec
		ref.Reference = true
		mf, _ := New(spec, rand.New(rand.NewPCG(7, 7)))
		mr, _ := New(ref, rand.New(rand.NewPCG(7, 7)))
		bt := randomBatch(rand.New(rand.NewPCG(8, 8)), spec, 6)
		bt.Weight = []float64{1, 0.5, 2, 1, 1.25, 0.75}
		gf, err := mf.NewTrainGraph(6, LossWeights{Alpha: 0.3, Beta: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		gr, err := mr.NewTrainGraph(6, LossWeights{Alpha: 0.3, Beta: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; step < 2; step++ {
			rf, err := gf.Step(bt)
			if err != nil {
				t.Fatal(err)
			}
			rr, err := gr.Step(bt)
			if err != nil {
				t.Fatal(err)
			}
			close := func(what string, a, b []float64) {
				t.Helper()
				for i := range a {
					if math.Abs(a[i]-b[i]) > 1e-10*(1+math.Abs(b[i])) {
						t.Fatalf("pme=%v %s[%d]: fused %v, reference %v", pme, what, i, a[i], b[i])
					}
				}
			}
			close("loss", []float64{rf.Loss, rf.CE, rf.KL, rf.HCR}, []float64{rr.Loss, rr.CE, rr.KL, rr.HCR})
			close("ce_i", rf.CEPerSample, rr.CEPerSample)
			close("var_i", rf.VarPerSample, rr.VarPerSample)
			for i, p := range mf.Params() {
				close("grad "+p.Name, gf.Grads()[i].([]float64), gr.Grads()[i].([]float64))
			}
			for i, bn := range mf.BatchNorms() {
				m1, v1 := bn.Stats()
				m2, v2 := mr.BatchNorms()[i].Stats()
				close(bn.Name+" mean", m1.([]float64), m2.([]float64))
				close(bn.Name+" var", v1.([]float64), v2.([]float64))
			}
		}
		ef, _ := mf.NewEvalGraph(6)
		er, _ := mr.NewEvalGraph(6)
		of, err := ef.Forward(&Batch{X: bt.X, Present: bt.Present})
		if err != nil {
			t.Fatal(err)
		}
		or, err := er.Forward(&Batch{X: bt.X, Present: bt.Present})
		if err != nil {
			t.Fatal(err)
		}
		for i := range of.Logits {
			if math.Abs(of.Logits[i]-or.Logits[i]) > 1e-10 {
				t.Fatalf("pme=%v eval logit %d: fused %v, reference %v", pme, i, of.Logits[i], or.Logits[i])
			}
		}
	}
}

// TestFusedLossHandComputed checks the fused loss op on the hand-computed example of
// TestLossTermsHandComputed.
func TestFusedLossHandComputed(t *testing.T) {
	m, _ := New(testSpec(tensor.Float64, true), rand.New(rand.NewPCG(0, 0)))
	b := newBuilder(m, true)
	mu, mut := b.input("mu", 2, 2)
	lv, lvt := b.input("lv", 2, 2)
	logits, lt := b.input("logits", 2, 3)
	target, tt := b.input("target", 2, 3)
	hard, ht := b.input("hard", 2)
	weight, wt := b.input("weight", 2)
	copy(wt.Data().([]float64), []float64{1, 1})
	copy(mut.Data().([]float64), []float64{0, 1, 2, 0})
	copy(lvt.Data().([]float64), []float64{0, 0, math.Ln2, 0})
	copy(lt.Data().([]float64), []float64{0, 0, 0, 1, 2, 3})
	copy(tt.Data().([]float64), []float64{1, 0, 0, 0, 0, 1})
	copy(ht.Data().([]float64), []float64{0, 1})
	op := newLossOp(LossWeights{Alpha: 0.1, Beta: 0.5}, true, 0, 0)
	if _, err := G.ApplyOp(op, logits, target, hard, weight, mu, lv); err != nil {
		t.Fatal(err)
	}
	if err := G.NewTapeMachine(b.g).RunAll(); err != nil {
		t.Fatal(err)
	}
	kl := (0.5 + 0.5*(5-math.Ln2)) / 2
	ce := (math.Log(3) + 0.40760596444438) / 2
	hcr := 0.40760596444438 / 2
	st := op.stats
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"kl", st.kl, kl}, {"ce", st.ce, ce}, {"hcr", st.hcr, hcr}, {"loss", st.loss, ce + 0.1*kl + 0.5*hcr},
		{"ce_0", st.cei[0], math.Log(3)}, {"var_1", st.variance[1], 1.5}} {
		if math.Abs(c.got-c.want) > 1e-12 {
			t.Errorf("%s = %.12g, want %.12g", c.name, c.got, c.want)
		}
	}
	if st.pred[0] != 0 || st.pred[1] != 2 {
		t.Errorf("pred %v", st.pred)
	}
}

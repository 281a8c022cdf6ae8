package optim

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// TestAdamHandComputed follows two steps of Adam on one weight by hand.
func TestAdamHandComputed(t *testing.T) {
	w := []float64{1.0}
	g := []float64{0.5}
	a := &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1}
	vars := []Var{{Name: "w", Value: w, Grad: g, Decay: true}}
	if err := a.Step(vars, 0.01); err != nil {
		t.Fatal(err)
	}
	// g' = 0.5 + 0.1*1 = 0.6; m = 0.06, v = 0.00036; mhat = 0.6, vhat = 0.36
	// w = 1 - 0.01 * 0.6 / (0.6 + 1e-8)
	w1 := 1 - 0.01*0.6/(0.6+1e-8)
	if !near(w[0], w1, 1e-12) {
		t.Fatalf("step 1: w = %.15g, want %.15g", w[0], w1)
	}
	g[0] = -0.2
	if err := a.Step(vars, 0.01); err != nil {
		t.Fatal(err)
	}
	g2 := -0.2 + 0.1*w1
	m := 0.9*0.06 + 0.1*g2
	v := 0.999*0.00036 + 0.001*g2*g2
	mhat, vhat := m/(1-0.81), v/(1-0.999*0.999)
	w2 := w1 - 0.01*mhat/(math.Sqrt(vhat)+1e-8)
	if !near(w[0], w2, 1e-12) {
		t.Fatalf("step 2: w = %.15g, want %.15g", w[0], w2)
	}
}

func TestSGDHandComputed(t *testing.T) {
	tests := []struct {
		name     string
		mom      float64
		nesterov bool
		want     [2]float64
	}{
		// g1 = 1 + 0.5*1 = 1.5 -> w = 1 - 0.1*1.5 = 0.85
		// g2 = 1 + 0.5*0.85 = 1.425 -> w = 0.85 - 0.1*1.425
		{"plain", 0, false, [2]float64{0.85, 0.85 - 0.1425}},
		// b1 = 1.5, w = 0.85; b2 = 0.9*1.5 + 1.425 = 2.775, w = 0.85 - 0.2775
		{"momentum", 0.9, false, [2]float64{0.85, 0.85 - 0.2775}},
		// nesterov: d1 = 1.5 + 0.9*1.5 = 2.85, w = 1 - 0.285 = 0.715
		// g2 = 1 + 0.5*0.715 = 1.3575; b2 = 1.35 + 1.3575 = 2.7075; d2 = 1.3575 + 0.9*2.7075
		{"nesterov", 0.9, true, [2]float64{0.715, 0.715 - 0.1*(1.3575+0.9*2.7075)}},
	}
	for _, tt := range tests {
		w := []float32{1}
		g := []float32{1}
		s := &SGD{Momentum: tt.mom, Nesterov: tt.nesterov, WeightDecay: 0.5}
		vars := []Var{{Name: "w", Value: w, Grad: g, Decay: true}}
		for i := 0; i < 2; i++ {
			if err := s.Step(vars, 0.1); err != nil {
				t.Fatal(err)
			}
			if !near(float64(w[0]), tt.want[i], 1e-6) {
				t.Errorf("%s step %d: w = %v, want %v", tt.name, i+1, w[0], tt.want[i])
			}
		}
	}
}

func TestNoDecayParameter(t *testing.T) {
	w := []float64{2}
	s := &SGD{WeightDecay: 1}
	if err := s.Step([]Var{{Name: "b", Value: w, Grad: []float64{0}, Decay: false}}, 0.1); err != nil {
		t.Fatal(err)
	}
	if w[0] != 2 {
		t.Fatalf("w = %v, want 2 (no decay)", w[0])
	}
}

// TestStateRoundTrip checks that a restored optimiser continues exactly like the original.
func TestStateRoundTrip(t *testing.T) {
	for _, mk := range []func() Optimizer{
		func() Optimizer { return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4} },
		func() Optimizer { return &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4} },
	} {
		a, b := mk(), mk()
		wa, wb := []float32{1, -2, 3}, []float32{1, -2, 3}
		grads := [][]float32{{0.1, 0.2, -0.3}, {0.3, -0.1, 0.2}, {-0.2, 0.4, 0.1}}
		step := func(o Optimizer, w []float32, g []float32) {
			if err := o.Step([]Var{{Name: "w", Value: w, Grad: g, Decay: true}}, 0.01); err != nil {
				t.Fatal(err)
			}
		}
		step(a, wa, grads[0])
		step(b, wb, grads[0])
		n, sl := a.State()
		c := mk()
		if err := c.SetState(n, sl); err != nil {
			t.Fatal(err)
		}
		wc := append([]float32(nil), wa...)
		for _, g := range grads[1:] {
			step(a, wa, g)
			step(c, wc, g)
		}
		for i := range wa {
			if wa[i] != wc[i] {
				t.Fatalf("%T: restored optimiser diverged: %v vs %v", a, wa, wc)
			}
		}
	}
}

func TestScheduleLR(t *testing.T) {
	tests := []struct {
		s    Schedule
		e    int
		want float64
	}{
		{Schedule{Name: "constant", Base: 0.1}, 7, 0.1},
		{Schedule{Name: "step", Base: 0.1, StepSize: 3, Gamma: 0.5}, 2, 0.1},
		{Schedule{Name: "step", Base: 0.1, StepSize: 3, Gamma: 0.5}, 3, 0.05},
		{Schedule{Name: "step", Base: 0.1, StepSize: 3, Gamma: 0.5}, 7, 0.025},
		{Schedule{Name: "cosine", Base: 0.1, MinLR: 0, Epochs: 10}, 0, 0.1},
		{Schedule{Name: "cosine", Base: 0.1, MinLR: 0, Epochs: 10}, 5, 0.05},
		{Schedule{Name: "cosine", Base: 0.1, MinLR: 0.01, Epochs: 10, Warmup: 2}, 2, 0.1},
		{Schedule{Name: "cosine", Base: 0.1, MinLR: 0.01, Epochs: 10, Warmup: 2}, 0, 0.1 / 3},
		{Schedule{Name: "constant", Base: 0.1, Warmup: 4}, 1, 0.04},
	}
	for _, tt := range tests {
		got, err := tt.s.LR(tt.e)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, tt.want, 1e-12) {
			t.Errorf("%+v LR(%d) = %v, want %v", tt.s, tt.e, got, tt.want)
		}
	}
	if _, err := (Schedule{Name: "exp"}).LR(0); err == nil {
		t.Error("unknown schedule accepted")
	}
}

// TestParallelUpdateMatchesSequential updates many large parameters (split over goroutines
// when GOMAXPROCS > 1) and compares with one parameter updated at a time.
func TestParallelUpdateMatchesSequential(t *testing.T) {
	mk := func() ([]Var, [][]float32) {
		var vars []Var
		var ws [][]float32
		for i := 0; i < 7; i++ {
			w, g := make([]float32, 9000+i*1000), make([]float32, 9000+i*1000)
			for j := range w {
				w[j] = float32(j%13) / 7
				g[j] = float32((j*7+i)%11)/5 - 1
			}
			vars = append(vars, Var{Name: string(rune('a' + i)), Value: w, Grad: g, Decay: i%2 == 0})
			ws = append(ws, w)
		}
		return vars, ws
	}
	all, wa := mk()
	one, wb := mk()
	a := &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4}
	b := &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-4}
	for step := 0; step < 3; step++ {
		if err := a.Step(all, 1e-3); err != nil {
			t.Fatal(err)
		}
		b.t = int64(step) // b steps each parameter on its own, with the same bias correction
		for _, v := range one {
			b.t = int64(step)
			if err := b.Step([]Var{v}, 1e-3); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range wa {
		for j := range wa[i] {
			if wa[i][j] != wb[i][j] {
				t.Fatalf("param %d[%d]: %v vs %v", i, j, wa[i][j], wb[i][j])
			}
		}
	}
}

// TestAdamKernelMatchesGo compares the float32 Adam kernel with the float32 Go loop and the
// float64 reference over several steps.
func TestAdamKernelMatchesGo(t *testing.T) {
	if !hasAdamKernel {
		t.Skip("no AVX2/FMA")
	}
	const n = 1003 // not a multiple of 8: exercises the tail
	mk := func() ([]float32, []float32, []float32, []float32) {
		w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range w {
			w[i] = float32(i%17)/9 - 0.8
			g[i] = float32((i*5)%13)/6 - 1
		}
		return w, g, m, v
	}
	w1, g1, m1, v1 := mk()
	w2, g2, m2, v2 := mk()
	w3, g3, _, _ := mk()
	w64 := make([]float64, n)
	g64 := make([]float64, n)
	for i := range w3 {
		w64[i], g64[i] = float64(w3[i]), float64(g3[i])
	}
	m64, v64 := make([]float64, n), make([]float64, n)
	for step := 1; step <= 5; step++ {
		bc1, bc2 := 1-math.Pow(0.9, float64(step)), 1-math.Pow(0.999, float64(step))
		if err := adamStep32(w1, g1, m1, v1, 1e-3, 0.9, 0.999, 1e-8, 1e-2, bc1, bc2, true); err != nil {
			t.Fatal(err)
		}
		if err := adamStep32(w2, g2, m2, v2, 1e-3, 0.9, 0.999, 1e-8, 1e-2, bc1, bc2, false); err != nil {
			t.Fatal(err)
		}
		if err := adamStep(w64, g64, m64, v64, 1e-3, 0.9, 0.999, 1e-8, 1e-2, bc1, bc2); err != nil {
			t.Fatal(err)
		}
	}
	for i := range w1 {
		if math.Abs(float64(w1[i]-w2[i])) > 1e-6 || math.Abs(float64(w1[i])-w64[i]) > 1e-5 {
			t.Fatalf("w[%d]: kernel %v, Go %v, float64 %v", i, w1[i], w2[i], w64[i])
		}
	}
}

package optim

import (
	"fmt"
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

// flushCase is one element of an Adam step with lr 1, beta1 = beta2 = 0.5, eps 1, no weight
// decay and no bias correction, so that m = (m0 + g)/2, v = (v0 + g^2)/2 and
// w = w0 - m/(sqrt(v) + 1), all in units of s, the smallest normal number.
type flushCase struct {
	name             string
	w0, g, m0, v0    float64 // in units of s (g and NaN/inf as they are)
	w, m, v          float64 // expected, in units of s
	negW, negM, negV bool    // the expected zero is -0
}

// flushCases are the cases of TestAdamFlushesSubnormals; below2 is 2 less two units in the
// last place, so that m = below2/2 is the subnormal one unit below s (a value one unit below
// 2 would round back up to s).
func flushCases(below2 float64) []flushCase {
	nan := math.NaN()
	return []flushCase{
		{name: "m just at the smallest normal", w0: 1 / 0x1p-126, m0: 2, m: 1, w: 1 / 0x1p-126},
		{name: "m just below", w0: 1 / 0x1p-126, m0: below2, m: 0, w: 1 / 0x1p-126},
		{name: "negative m below", w0: 1 / 0x1p-126, m0: -1, m: 0, negM: true, w: 1 / 0x1p-126},
		{name: "v below", w0: 1 / 0x1p-126, v0: 1, v: 0, w: 1 / 0x1p-126},
		{name: "v at the smallest normal", w0: 1 / 0x1p-126, v0: 2, v: 1, w: 1 / 0x1p-126},
		{name: "w updated below", w0: 2, m0: 3, m: 1.5, w: 0},
		{name: "w updated just above", w0: 4, m0: 3, m: 1.5, w: 2.5},
		{name: "negative w updated below", w0: -2, m0: -3, m: -1.5, w: 0, negW: true},
		{name: "subnormal w flushed by a zero step", w0: 0.5, w: 0},
		{name: "negative zero stays", w0: math.Copysign(0, -1), w: 0, negW: true},
		{name: "NaN gradient", w0: 1, g: nan, m: nan, v: nan, w: nan},
		{name: "NaN weight", w0: nan, m: nan, v: nan, w: nan},
	}
}

// checkFlush compares got (the value divided by s) with the expected value.
func checkFlush(t *testing.T, what string, got, want float64, neg bool) {
	t.Helper()
	switch {
	case math.IsNaN(want):
		if !math.IsNaN(got) {
			t.Errorf("%s = %v, want NaN", what, got)
		}
	case got != want || (want == 0 && math.Signbit(got) != neg):
		t.Errorf("%s = %v s, want %v s (negative zero %v)", what, got, want, neg)
	}
}

// TestAdamFlushesSubnormals checks Adam's flush to zero on hand-computed values just above
// and below the smallest normal number, for float32 on the AVX2 kernel (all 8 lanes) and on
// the Go loop, and for float64; zeros keep their sign and NaN stays NaN.
func TestAdamFlushesSubnormals(t *testing.T) {
	const s32 = 0x1p-126
	for _, kernel := range []bool{false, true} {
		if kernel && !hasAdamKernel {
			continue
		}
		for _, tc := range flushCases(2 - 0x1p-21) {
			n := 1
			if kernel {
				n = 8
			}
			w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range w {
				w[i], m[i], v[i] = float32(tc.w0*s32), float32(tc.m0*s32), float32(tc.v0*s32)
				g[i] = float32(tc.g) // 0 or NaN
			}
			if err := adamStep32(w, g, m, v, 1, 0.5, 0.5, 1, 0, 1, 1, kernel); err != nil {
				t.Fatal(err)
			}
			for i := range w {
				what := fmt.Sprintf("float32 kernel=%v %s [%d]", kernel, tc.name, i)
				checkFlush(t, what+" w", float64(w[i])/s32, tc.w, tc.negW)
				checkFlush(t, what+" m", float64(m[i])/s32, tc.m, tc.negM)
				checkFlush(t, what+" v", float64(v[i])/s32, tc.v, tc.negV)
			}
		}
	}
	const s64 = 0x1p-1022
	for _, tc := range flushCases(2 - 0x1p-50) {
		if tc.w0 == 1/0x1p-126 {
			tc.w0, tc.w = 1/s64, 1/s64
		}
		w, g, m, v := []float64{tc.w0 * s64}, []float64{tc.g}, []float64{tc.m0 * s64}, []float64{tc.v0 * s64}
		if err := adamStep(w, g, m, v, 1, 0.5, 0.5, 1, 0, 1, 1); err != nil {
			t.Fatal(err)
		}
		what := "float64 " + tc.name
		checkFlush(t, what+" w", w[0]/s64, tc.w, tc.negW)
		checkFlush(t, what+" m", m[0]/s64, tc.m, tc.negM)
		checkFlush(t, what+" v", v[0]/s64, tc.v, tc.negV)
	}
}

// TestAdamDecayOfTinyWeight: a weight just above the smallest normal number, without a
// gradient, whose decay term wd*w (1e-41) is subnormal: that term counts as 0 (it would be
// flushed from m anyway), so m and v stay 0 and w keeps its value, on every path.
func TestAdamDecayOfTinyWeight(t *testing.T) {
	for _, kernel := range []bool{false, true} {
		if kernel && !hasAdamKernel {
			continue
		}
		w, g, m, v := make([]float32, 9), make([]float32, 9), make([]float32, 9), make([]float32, 9)
		for i := range w {
			w[i] = 1e-37
		}
		for step := 1; step <= 3; step++ {
			if err := adamStep32(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-4, 1, 1, kernel); err != nil {
				t.Fatal(err)
			}
		}
		for i := range w {
			if w[i] != 1e-37 || m[i] != 0 || v[i] != 0 {
				t.Fatalf("kernel=%v [%d]: w %g m %g v %g, want 1e-37 0 0", kernel, i, w[i], m[i], v[i])
			}
		}
	}
	w, g, m, v := []float64{1e-305}, []float64{0}, []float64{0}, []float64{0}
	if err := adamStep(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-4, 1, 1); err != nil {
		t.Fatal(err)
	}
	if w[0] != 1e-305 || m[0] != 0 || v[0] != 0 {
		t.Fatalf("float64: w %g m %g v %g, want 1e-305 0 0", w[0], m[0], v[0])
	}
}

// TestAdamNormalValuesUnchanged checks a step on ordinary values by hand: m = 1, v = 2,
// w = 1 - 1/(sqrt(2) + 1) on both float32 paths.
func TestAdamNormalValuesUnchanged(t *testing.T) {
	want := 1 - 1/(float32(math.Sqrt(2))+1)
	for _, kernel := range []bool{false, true} {
		if kernel && !hasAdamKernel {
			continue
		}
		w, g, m, v := []float32{1, 1, 1, 1, 1, 1, 1, 1}, []float32{2, 2, 2, 2, 2, 2, 2, 2}, make([]float32, 8), make([]float32, 8)
		if err := adamStep32(w, g, m, v, 1, 0.5, 0.5, 1, 0, 1, 1, kernel); err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if w[i] != want || m[i] != 1 || v[i] != 2 {
				t.Fatalf("kernel=%v [%d]: w %v m %v v %v, want %v 1 2", kernel, i, w[i], m[i], v[i], want)
			}
		}
	}
}

// TestSGDFlushesSubnormals: weight decay alone halves w (lr 0.5, decay 1) and the momentum
// buffer holds the decayed gradient; both are flushed once subnormal, keeping their sign.
func TestSGDFlushesSubnormals(t *testing.T) {
	tests := []struct {
		w0, wantW, wantB float32
		negW             bool
	}{
		{w0: 0x1p-125, wantW: 0x1p-126, wantB: 0x1p-125},
		{w0: 0x1p-126, wantW: 0, wantB: 0x1p-126},
		{w0: -0x1p-126, wantW: 0, wantB: -0x1p-126, negW: true},
	}
	for _, tc := range tests {
		s := &SGD{Momentum: 0.5, WeightDecay: 1}
		w := []float32{tc.w0}
		if err := s.Step([]Var{{Name: "w", Value: w, Grad: []float32{0}, Decay: true}}, 0.5); err != nil {
			t.Fatal(err)
		}
		_, slots := s.State()
		b := slots[0].Data.([]float32)
		if w[0] != tc.wantW || math.Signbit(float64(w[0])) != tc.negW || b[0] != tc.wantB {
			t.Errorf("w0 %g: w %g b %g, want %g %g", tc.w0, w[0], b[0], tc.wantW, tc.wantB)
		}
		// the second step halves the buffer (b = 0.5 b + g) below the smallest normal
		if tc.w0 == 0x1p-126 {
			w[0] = 0
			if err := s.Step([]Var{{Name: "w", Value: w, Grad: []float32{0}, Decay: true}}, 0.5); err != nil {
				t.Fatal(err)
			}
			if b[0] != 0 {
				t.Errorf("momentum buffer %g, want it flushed", b[0])
			}
		}
	}
}

// benchAdam32 times float32 Adam steps over n parameters with gradient g and weight decay
// 1e-4, from the state init leaves, on the AVX2 kernel or the Go loop.
func benchAdam32(b *testing.B, kernel bool, init func(w, g, m, v []float32)) {
	if kernel && !hasAdamKernel {
		b.Skip("no AVX2/FMA")
	}
	const n = 1 << 17
	w, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	init(w, g, m, v)
	b.SetBytes(4 * 4 * n)
	t := 0
	for b.Loop() {
		t++
		bc1, bc2 := 1-math.Pow(0.9, float64(t)), 1-math.Pow(0.999, float64(t))
		if err := adamStep32(w, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-4, bc1, bc2, kernel); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdam32 measures the cost of the flush on ordinary values (compare with the
// kernel without it); Decayed starts from the state weight decay leaves in parameters without
// a gradient (weights near 1e-37, moments subnormal): unflushed, every step operates on
// subnormal numbers, flushed, the first step zeroes them.
func BenchmarkAdam32(b *testing.B) {
	normal := func(w, g, m, v []float32) {
		for i := range w {
			w[i] = float32(i%17)/9 - 0.8
			g[i] = float32((i*5)%13)/6 - 1
		}
	}
	decayed := func(w, g, m, v []float32) {
		for i := range w {
			w[i] = float32(i%7-3) * 1e-37
			m[i] = float32(i%5-2) * 1e-41
			v[i] = 1e-44
		}
	}
	for _, kernel := range []bool{true, false} {
		name := "go"
		if kernel {
			name = "kernel"
		}
		b.Run(name+"/normal", func(b *testing.B) { benchAdam32(b, kernel, normal) })
		b.Run(name+"/decayed", func(b *testing.B) { benchAdam32(b, kernel, decayed) })
	}
}

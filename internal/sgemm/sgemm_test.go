package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

func naive(a, b []float32, m, k, n int, ta, tb bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			c[i*n+j] = s
		}
	}
	return c
}

// forKernels runs f as a subtest with each kernel of this architecture in use in turn
// (avx512, avx2 and portable on amd64), skipping, with the missing feature named, those this
// CPU cannot run, and restores the kernel in use afterwards.
func forKernels(t *testing.T, f func(t *testing.T, k *microKernel)) {
	saved := selected.Load()
	defer selected.Store(saved)
	for _, k := range kernels() {
		t.Run(k.name, func(t *testing.T) {
			if !k.runs {
				t.Skipf("this CPU lacks %s", k.need)
			}
			if err := Use(k.name); err != nil {
				t.Fatal(err)
			}
			if got := Kernel(); got != k.name {
				t.Fatalf("Use(%q): Kernel() = %q", k.name, got)
			}
			f(t, k)
		})
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// closeTo fails t when c is not within float32 rounding of the float64 reference.
func closeTo(t *testing.T, what string, c []float32, want []float64, k int) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(c[i])-want[i]) > 1e-4*(1+math.Abs(want[i]))*math.Sqrt(float64(k)) {
			t.Fatalf("%s: c[%d] = %v, want %v", what, i, c[i], want[i])
		}
	}
}

// testShapes exercise every kernel's full tiles and ragged edges in m (around mr = 6 and 8
// and their multiples), n (around nr = 16 and 32) and k (1, around the pass depth kc = 256
// and several passes), and the model's shapes.
var testShapes = [][3]int{
	{1, 1, 1}, {1, 7, 1}, {1, 300, 40}, {40, 2, 1}, {5, 1, 33}, {6, 4, 16}, {7, 3, 17},
	{8, 16, 32}, {9, 17, 31}, {12, 5, 48}, {13, 144, 31}, {14, 9, 65}, {16, 9, 100},
	{17, 255, 15}, {24, 256, 64}, {25, 257, 33}, {32, 9, 100}, {33, 600, 18}, {7, 600, 18},
	{48, 513, 47}, {64, 37, 70}, {64, 384, 128}, {13, 20, 16}, {25, 300, 9}, {9, 700, 16},
}

// TestKernelsSameBits checks that the assembly kernels this CPU runs (and the narrow tile of
// each) give the same bits: all sum every element with one FMA per p in the same order.
func TestKernelsSameBits(t *testing.T) {
	saved := selected.Load()
	defer selected.Store(saved)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, sh := range testShapes {
		m, k, n := sh[0], sh[1], sh[2]
		a, b, init := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				var want []float32
				var first string
				for _, kern := range kernels() {
					if !kern.runs || kern.fn == nil {
						continue
					}
					if err := Use(kern.name); err != nil {
						t.Fatal(err)
					}
					c := append([]float32(nil), init...)
					Mul(c, a, b, m, k, n, ta, tb, true)
					if want == nil {
						want, first = c, kern.name
						continue
					}
					for i := range want {
						if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%v ta=%v tb=%v: c[%d] is %v with %s, %v with %s", sh, ta, tb, i, c[i], kern.name, want[i], first)
						}
					}
				}
			}
		}
	}
}

// TestMul compares every kernel with a float64 reference on testShapes, with both transposes,
// with and without accumulation, at 1 to 4 workers.
func TestMul(t *testing.T) {
	forKernels(t, func(t *testing.T, _ *microKernel) {
		rng := rand.New(rand.NewPCG(1, 1))
		for _, sh := range testShapes {
			m, k, n := sh[0], sh[1], sh[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, b := randSlice(rng, m*k), randSlice(rng, k*n)
					ref := naive(a, b, m, k, n, ta, tb)
					for _, acc := range []bool{false, true} {
						for workers := 1; workers <= 4; workers++ {
							c := make([]float32, m*n)
							want := append([]float64(nil), ref...)
							for i := range c {
								c[i] = float32(i % 3)
								if acc {
									want[i] += float64(i % 3)
								}
							}
							var w Workspace
							w.Mul(c, a, b, m, k, n, ta, tb, acc, workers)
							closeTo(t, fmt.Sprintf("%v ta=%v tb=%v acc=%v workers=%d", sh, ta, tb, acc, workers), c, want, k)
						}
					}
				}
			}
		}
	})
}

// TestMulPackB checks that MulPackB, with a packer that builds the panels element by element
// from a stored op(b), gives Mul's bits on every kernel, and that it asks for the panel width
// NR and a buffer of the documented length.
func TestMulPackB(t *testing.T) {
	forKernels(t, func(t *testing.T, kern *microKernel) {
		rng := rand.New(rand.NewPCG(3, 3))
		var w Workspace
		if w.NR() != kern.nr {
			t.Fatalf("NR() = %d, want %d", w.NR(), kern.nr)
		}
		for _, sh := range append(testShapes, [3]int{37, 784, 150}) {
			m, k, n := sh[0], sh[1], sh[2]
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					a, b := randSlice(rng, m*k), randSlice(rng, k*n)
					init := randSlice(rng, m*n)
					pb := func(dst []float32, p0, kk, nr int) {
						if nr != kern.forWidth(n).nr || len(dst) != (n+nr-1)/nr*nr*kk || p0%kc != 0 || kk != min(kc, k-p0) {
							t.Fatalf("%v: pb(len %d, p0 %d, kk %d, nr %d)", sh, len(dst), p0, kk, nr)
						}
						for i := range dst {
							jp, p, j := i/(nr*kk), i%(nr*kk)/nr, i%nr
							col := jp*nr + j
							switch {
							case col >= n:
								dst[i] = 0
							case tb:
								dst[i] = b[col*k+p0+p]
							default:
								dst[i] = b[(p0+p)*n+col]
							}
						}
					}
					for _, acc := range []bool{false, true} {
						for _, workers := range []int{1, 3} {
							want := append([]float32(nil), init...)
							w.Mul(want, a, b, m, k, n, ta, tb, acc, workers)
							c := append([]float32(nil), init...)
							w.MulPackB(c, a, m, k, n, ta, pb, acc, workers)
							for i := range want {
								if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%v ta=%v tb=%v acc=%v workers=%d: c[%d] = %v, Mul gives %v", sh, ta, tb, acc, workers, i, c[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestMulSameBitsAtAnyWorkerCount checks, for every kernel, that the rows of c split over 1 to
// 8 goroutines (products above the size where the split starts, ragged in every dimension, k
// spanning several passes) give the same bits as one goroutine, whatever GOMAXPROCS, and that
// the result agrees with the float64 reference.
func TestMulSameBitsAtAnyWorkerCount(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	forKernels(t, func(t *testing.T, kern *microKernel) {
		procsList, workersList := []int{1, 2, 3, 8}, []int{1, 2, 3, 4, 8}
		if kern.fn == nil { // the portable loop runs on the caller's goroutine only
			procsList, workersList = []int{1, 8}, []int{1, 4}
		}
		rng := rand.New(rand.NewPCG(2, 2))
		for _, sh := range [][3]int{{133, 600, 70}, {70, 301, 250}, {37, 784, 150}} {
			m, k, n := sh[0], sh[1], sh[2]
			if m*n*k < 1<<22 {
				t.Fatalf("%v is too small to be split", sh)
			}
			a, b, init := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, acc := range []bool{false, true} {
						var want []float32
						for _, procs := range procsList {
							runtime.GOMAXPROCS(procs)
							for _, workers := range workersList {
								c := append([]float32(nil), init...)
								var w Workspace
								w.Mul(c, a, b, m, k, n, ta, tb, acc, workers)
								if want == nil {
									want = c
									ref := naive(a, b, m, k, n, ta, tb)
									for i := range ref {
										if acc {
											ref[i] += float64(init[i])
										}
									}
									closeTo(t, fmt.Sprintf("%v ta=%v tb=%v acc=%v", sh, ta, tb, acc), c, ref, k)
									continue
								}
								for i := range want {
									if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
										t.Fatalf("%v ta=%v tb=%v acc=%v GOMAXPROCS %d, %d workers: c[%d] = %v, one worker gives %v",
											sh, ta, tb, acc, procs, workers, i, c[i], want[i])
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestUse checks the kernel names Use and EnvKernel accept, and the errors of the others.
func TestUse(t *testing.T) {
	saved := selected.Load()
	defer selected.Store(saved)
	var best string
	for _, k := range kernels() {
		if k.runs {
			best = k.name
			break
		}
	}
	tests := []struct {
		name, want, err string
	}{
		{name: "", want: best},
		{name: "auto", want: best},
		{name: "portable", want: "portable"},
		{name: "avx-512", err: `unknown GEMM kernel "avx-512" (use auto, `},
		{name: "AVX2", err: `unknown GEMM kernel "AVX2"`},
	}
	for _, k := range kernels() {
		if k.runs {
			tests = append(tests, struct{ name, want, err string }{name: k.name, want: k.name})
		} else {
			tests = append(tests, struct{ name, want, err string }{name: k.name, err: "this CPU lacks " + k.need})
		}
	}
	for _, tt := range tests {
		if err := Use("portable"); err != nil {
			t.Fatal(err)
		}
		err := Use(tt.name)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Use(%q): %v", tt.name, err)
		case tt.err == "" && Kernel() != tt.want:
			t.Errorf("Use(%q): Kernel() = %q, want %q", tt.name, Kernel(), tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Use(%q): error %v, want one containing %q", tt.name, err, tt.err)
		case tt.err != "" && Kernel() != "portable":
			t.Errorf("Use(%q) failed but changed the kernel to %q", tt.name, Kernel())
		}
	}
}

// TestLookupUnsupported checks the choice and the error for kernels the CPU cannot run, with
// made-up ones as this CPU may run all of its architecture's.
func TestLookupUnsupported(t *testing.T) {
	wide := &microKernel{name: "wide", runs: false, need: "WIDE512"}
	narrow := &microKernel{name: "narrow", runs: true}
	ks := []*microKernel{wide, narrow, portableKernel}
	if k, err := lookupIn(ks, "auto"); err != nil || k != narrow {
		t.Errorf("auto: %v, %v; want narrow", k, err)
	}
	_, err := lookupIn(ks, "wide")
	if want := "this CPU lacks WIDE512, which the wide GEMM kernel needs (use auto, narrow or portable)"; err == nil || err.Error() != want {
		t.Errorf("wide: error %v, want %q", err, want)
	}
	_, err = lookupIn(ks, "none")
	if want := `unknown GEMM kernel "none" (use auto, wide, narrow or portable)`; err == nil || err.Error() != want {
		t.Errorf("none: error %v, want %q", err, want)
	}
}

// TestKernelInUse checks that the kernel in use is the one EnvKernel names, or the fastest this
// CPU runs when it is unset or "auto", and logs it (scripts/bench.sh reads the line).
func TestKernelInUse(t *testing.T) {
	want, err := lookup(os.Getenv(EnvKernel))
	if err != nil {
		t.Fatalf("%s=%s: %v", EnvKernel, os.Getenv(EnvKernel), err)
	}
	if got := Kernel(); got != want.name {
		t.Fatalf("%s=%q: Kernel() = %q, want %q", EnvKernel, os.Getenv(EnvKernel), got, want.name)
	}
	t.Logf("GEMM kernel in use: %s", Kernel())
}

// TestBadEnvKernel checks that a bad EnvKernel makes Kernel and Mul panic with its error
// rather than run on another kernel, and that Use replaces the bad setting.
func TestBadEnvKernel(t *testing.T) {
	saved := selected.Load()
	defer selected.Store(saved)
	selected.Store(fromEnv("avx9"))
	for name, f := range map[string]func(){
		"Kernel": func() { Kernel() },
		"Mul":    func() { Mul(make([]float32, 1), []float32{1}, []float32{1}, 1, 1, 1, false, false, false) },
	} {
		func() {
			defer func() {
				r := recover()
				err, _ := r.(error)
				if err == nil || !strings.Contains(err.Error(), EnvKernel+`=avx9: unknown GEMM kernel "avx9"`) {
					t.Errorf("%s with %s=avx9: recovered %v", name, EnvKernel, r)
				}
			}()
			f()
		}()
	}
	if err := Use("auto"); err != nil {
		t.Fatal(err)
	}
	Kernel()
}

func TestMulEdgeCases(t *testing.T) {
	c := []float32{5, 5}
	Mul(c, nil, nil, 1, 0, 2, false, false, false)
	if c[0] != 0 || c[1] != 0 {
		t.Fatalf("k = 0 without acc: %v", c)
	}
	c = []float32{5, 5}
	Mul(c, nil, nil, 1, 0, 2, false, false, true)
	if c[0] != 5 {
		t.Fatalf("k = 0 with acc: %v", c)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("short slice accepted")
		}
	}()
	Mul(make([]float32, 3), make([]float32, 4), make([]float32, 4), 2, 2, 2, false, false, false)
}

// gemmShapes are the products of the models (avmnist's convolutions per sample, forward and
// backward, and the dense layers at batch 64; mfeat's dense layers) and one large square-ish
// product, the kernel's best case.
var gemmShapes = []struct {
	name    string
	m, k, n int
	ta, tb  bool
}{
	{"square-512", 512, 512, 512, false, false},
	{"conv1-fwd-img", 16, 9, 784, false, false},
	{"conv1-fwd-spec", 16, 9, 2016, false, false},
	{"conv2-fwd-img", 32, 144, 196, false, false},
	{"conv2-fwd-spec", 32, 144, 496, false, false},
	{"conv2-dW-spec", 144, 496, 32, false, true},
	{"conv2-dcol-spec", 144, 32, 496, true, false},
	{"conv1-dW-spec", 9, 2016, 16, false, true},
	{"dense-fwd-1568", 64, 1568, 64, false, false},
	{"dense-fwd-3840", 64, 3840, 64, false, false},
	{"dense-dW-3840", 3840, 64, 64, true, false},
	{"dense-dx-3840", 64, 64, 3840, false, true},
	{"mfeat-fwd-384", 64, 384, 128, false, false},
	{"mfeat-fwd-240", 64, 240, 128, false, false},
	{"mfeat-dW-384", 384, 64, 128, true, false},
}

// BenchmarkGEMM reports the GFLOP/s (2mkn flops per product, one goroutine) of every kernel
// this CPU runs on gemmShapes, as BenchmarkGEMM/<shape>/<kernel> so that the kernels of a
// shape run one after the other: "GFLOP/s" per second of wall-clock time, and "cpu-GFLOP/s"
// per second of the process's CPU time (where the OS reports it), which a machine shared
// with other work disturbs less.
func BenchmarkGEMM(b *testing.B) {
	saved := selected.Load()
	defer selected.Store(saved)
	for _, s := range gemmShapes {
		rng := rand.New(rand.NewPCG(4, 4))
		a, bb, c := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
		for _, kern := range kernels() {
			if !kern.runs {
				continue
			}
			var w Workspace
			b.Run(s.name+"/"+kern.name, func(b *testing.B) {
				if err := Use(kern.name); err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime()
				for b.Loop() {
					w.Mul(c, a, bb, s.m, s.k, s.n, s.ta, s.tb, false, 1)
				}
				flops := 2 * float64(s.m*s.k*s.n) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "cpu-GFLOP/s")
				}
			})
		}
	}
}

func BenchmarkPackB(b *testing.B) {
	const k, n = 144, 496
	src := make([]float32, k*n)
	for _, nr := range []int{16, 32} {
		dst := make([]float32, (n+nr-1)/nr*nr*k)
		b.Run(fmt.Sprintf("notrans-nr%d", nr), func(b *testing.B) {
			for b.Loop() {
				packB(dst, src, k, n, 0, k, false, nr)
			}
		})
		dst2 := make([]float32, (k+nr-1)/nr*nr*256)
		b.Run(fmt.Sprintf("trans-nr%d", nr), func(b *testing.B) { // cols^T as in dW = dz cols^T: k=hw, n=kk
			for b.Loop() {
				packB(dst2, src, n, k, 0, 256, true, nr)
				packB(dst2, src, n, k, 256, n-256, true, nr)
			}
		})
	}
}

func BenchmarkPackA(b *testing.B) {
	const m, k = 144, 496 // cols of a convolution as the left operand
	src := make([]float32, m*k)
	for _, mr := range []int{6, 8} {
		dst := make([]float32, (m+mr-1)/mr*mr*256)
		b.Run(fmt.Sprintf("mr%d", mr), func(b *testing.B) {
			for b.Loop() {
				packA(dst, src, m, k, 0, 256, false, mr)
				packA(dst, src, m, k, 256, k-256, false, mr)
			}
		})
	}
}

// BenchmarkKernelPeak runs each assembly micro-kernel (and its narrow tile) alone on panels
// that stay in the L1 cache, pass after pass of depth kc: its GFLOP/s are the most it can do
// on this machine, the figure to compare with lanes x 2 x FMA units x clock (scripts/bench.sh
// does).
func BenchmarkKernelPeak(b *testing.B) {
	for _, kern := range kernels() {
		for _, kern := range []*microKernel{kern, kern.narrow} {
			if kern == nil || !kern.runs || kern.fn == nil {
				continue
			}
			rng := rand.New(rand.NewPCG(6, 6))
			a, bb, c := randSlice(rng, kern.mr*kc), randSlice(rng, kc*kern.nr), make([]float32, kern.mr*kern.nr)
			b.Run(fmt.Sprintf("%s-%dx%d", kern.name, kern.mr, kern.nr), func(b *testing.B) {
				cpu0 := cpuTime()
				for b.Loop() {
					kern.fn(kc, &a[0], &bb[0], &c[0], kern.nr, false)
				}
				flops := 2 * float64(kern.mr*kern.nr*kc) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "cpu-GFLOP/s")
				}
			})
		}
	}
}

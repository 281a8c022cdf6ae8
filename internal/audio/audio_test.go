package audio

import (
	"math"
	"math/cmplx"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/wav"
)

// avmnist is the front end of the avmnist benchmark (docs/benchmarks.md).
var avmnist = MelSpec{SampleRate: 8000, NFFT: 256, Hop: 128, NMels: 32, FMin: 0, FMax: 4000}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestCentreFix(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		n    int
		want []float64
	}{
		{"same length", []float64{1, 2, 3}, 3, []float64{1, 2, 3}},
		{"pad even difference", []float64{1, 2}, 4, []float64{0, 1, 2, 0}},
		{"pad odd difference: extra zero on the right", []float64{1, 2}, 5, []float64{0, 1, 2, 0, 0}},
		{"pad by one", []float64{1, 2}, 3, []float64{1, 2, 0}},
		{"pad empty", nil, 3, []float64{0, 0, 0}},
		{"crop even difference", []float64{1, 2, 3, 4, 5, 6}, 2, []float64{3, 4}},
		{"crop odd difference: extra sample dropped on the right", []float64{1, 2, 3, 4, 5}, 2, []float64{2, 3}},
		{"crop by one", []float64{1, 2, 3}, 2, []float64{1, 2}},
		{"to zero", []float64{1, 2}, 0, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CentreFix(tt.x, tt.n)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("CentreFix(%v, %d) = %v, want %v", tt.x, tt.n, got, tt.want)
			}
			// CentreFixInto gives the same into a reused buffer whatever it held
			dirty := make([]float64, tt.n)
			for i := range dirty {
				dirty[i] = -7
			}
			if into := CentreFixInto(dirty, tt.x); !reflect.DeepEqual(into, tt.want) {
				t.Fatalf("CentreFixInto(dirty, %v) = %v, want %v", tt.x, into, tt.want)
			}
			if len(tt.x) > 0 && len(got) > 0 {
				got[0] = 99
				if tt.x[0] == 99 || (len(tt.x) > 1 && tt.x[1] == 99) {
					t.Error("CentreFix aliases its input")
				}
			}
		})
	}
}

func TestPeriodicHann(t *testing.T) {
	tests := []struct {
		n    int
		want []float64
	}{
		{0, []float64{}},
		{1, []float64{0}},
		{4, []float64{0, 0.5, 1, 0.5}},
		{8, []float64{0, 0.5 - 0.5*math.Sqrt2/2, 0.5, 0.5 + 0.5*math.Sqrt2/2, 1, 0.5 + 0.5*math.Sqrt2/2, 0.5, 0.5 - 0.5*math.Sqrt2/2}},
	}
	for _, tt := range tests {
		got := PeriodicHann(tt.n)
		if len(got) != len(tt.want) {
			t.Fatalf("PeriodicHann(%d) = %v, want %v", tt.n, got, tt.want)
		}
		for i := range got {
			if !near(got[i], tt.want[i], 1e-15) {
				t.Fatalf("PeriodicHann(%d) = %v, want %v", tt.n, got, tt.want)
			}
		}
	}
}

func TestMelScale(t *testing.T) {
	for _, tt := range []struct{ hz, mel float64 }{{0, 0}, {700, 2595 * math.Log10(2)}, {4000, 2595 * math.Log10(1+4000.0/700)}} {
		if !near(HzToMel(tt.hz), tt.mel, 1e-9) || !near(MelToHz(tt.mel), tt.hz, 1e-9) {
			t.Errorf("HzToMel(%v) = %v, MelToHz(%v) = %v", tt.hz, HzToMel(tt.hz), tt.mel, MelToHz(tt.mel))
		}
	}
}

func TestFrames(t *testing.T) {
	for _, tt := range []struct{ n, want int }{{0, 0}, {255, 0}, {256, 1}, {383, 1}, {384, 2}, {8192, 63}} {
		if got := avmnist.Frames(tt.n); got != tt.want {
			t.Errorf("Frames(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// TestFilterbankByHand checks filter banks whose points fall on FFT bins. On the HTK scale
// mel(f) is linear in log(1 + f/700), so equally spaced mel points have 1 + f/700 in
// geometric progression.
func TestFilterbankByHand(t *testing.T) {
	tests := []struct {
		name string
		spec MelSpec
		want [][]float64
	}{
		// 1 + f/700 = 1, 2, 4, 8: points 0, 700, 2100, 4900 Hz. Bins are 700 Hz apart (5600/8).
		// Filter 0 (0, 700, 2100): bin 1 is its centre, bin 2 (1400 Hz) is (2100-1400)/1400.
		// Filter 1 (700, 2100, 4900): bin 2 is (1400-700)/1400, bin 3 its centre, bin 4
		// (2800 Hz) is (4900-2800)/2800.
		{"two filters", MelSpec{SampleRate: 5600, NFFT: 8, Hop: 4, NMels: 2, FMin: 0, FMax: 4900},
			[][]float64{{0, 1, 0.5, 0, 0}, {0, 0, 0.5, 1, 0.75}}},
		// 1 + f/700 = 1, 17/7, (17/7)^2: points 0, 1000, 24000/7 Hz. Bins are 1000 Hz apart.
		// Bin 2: (24000/7 - 2000) / (24000/7 - 1000) = 10/17; bin 3: 3/17.
		{"one filter", MelSpec{SampleRate: 8000, NFFT: 8, Hop: 8, NMels: 1, FMin: 0, FMax: 24000.0 / 7},
			[][]float64{{0, 1, 10.0 / 17, 3.0 / 17, 0}}},
		// A filter bank that starts above 0 Hz: 1 + f/700 = 2, 4, 8 gives 700, 2100, 4900 Hz.
		{"FMin above zero", MelSpec{SampleRate: 5600, NFFT: 8, Hop: 4, NMels: 1, FMin: 700, FMax: 4900},
			[][]float64{{0, 0, 0.5, 1, 0.75}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.spec.Filterbank()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d filters, want %d", len(got), len(tt.want))
			}
			for m := range got {
				for k := range got[m] {
					if !near(got[m][k], tt.want[m][k], 1e-12) {
						t.Fatalf("filter %d = %v, want %v", m, got[m], tt.want[m])
					}
				}
			}
		})
	}
}

func TestFilterbankAVMNIST(t *testing.T) {
	fb := avmnist.Filterbank()
	if len(fb) != 32 {
		t.Fatalf("got %d filters, want 32", len(fb))
	}
	binHz := 8000.0 / 256
	maxMel := HzToMel(4000)
	for m, row := range fb {
		if len(row) != 129 {
			t.Fatalf("filter %d has %d weights, want 129", m, len(row))
		}
		lo, ce, hi := MelToHz(float64(m)*maxMel/33), MelToHz(float64(m+1)*maxMel/33), MelToHz(float64(m+2)*maxMel/33)
		peak, arg := 0.0, -1
		for k, w := range row {
			f := float64(k) * binHz
			switch {
			case w < 0 || w > 1:
				t.Errorf("filter %d bin %d: weight %v outside [0, 1]", m, k, w)
			case (f <= lo || f >= hi) && w != 0:
				t.Errorf("filter %d bin %d (%.1f Hz) outside (%.1f, %.1f) Hz has weight %v", m, k, f, lo, hi, w)
			case f > lo && f < hi && w == 0:
				t.Errorf("filter %d bin %d (%.1f Hz) inside (%.1f, %.1f) Hz has weight 0", m, k, f, lo, hi)
			}
			if w > peak {
				peak, arg = w, k
			}
		}
		// The peak of 1 is at the centre frequency; the highest bin weight is at a bin next
		// to it, and reaches 1 less the distance to the centre relative to the slope.
		if d := math.Abs(float64(arg)*binHz - ce); d >= binHz {
			t.Errorf("filter %d peaks at bin %d (%.1f Hz), centre %.1f Hz", m, arg, float64(arg)*binHz, ce)
		}
		if minPeak := 1 - binHz/2/math.Min(ce-lo, hi-ce); peak < minPeak-1e-12 {
			t.Errorf("filter %d: peak %v below %v", m, peak, minPeak)
		}
	}
	// The first filter by hand: points 0, 41.58 and 85.63 Hz (mel 65.03 and 130.06); bin 1 is
	// 31.25 Hz, bin 2 62.5 Hz.
	ce, hi := MelToHz(maxMel/33), MelToHz(2*maxMel/33)
	if !near(ce, 41.58, 0.01) || !near(hi, 85.63, 0.01) {
		t.Fatalf("first points %v %v", ce, hi)
	}
	if !near(fb[0][1], 31.25/ce, 1e-12) || !near(fb[0][2], (hi-62.5)/(hi-ce), 1e-12) || fb[0][0] != 0 || fb[0][3] != 0 {
		t.Errorf("first filter starts %v", fb[0][:4])
	}
}

// TestLogMelByHand checks a cosine at exactly FFT bin 1 through the two-filter bank of
// TestFilterbankByHand.
//
// With NFFT = 8 and x[n] = A cos(2 pi n / 8), every frame (hop 4, half a period) is
// +-A cos(theta_m), theta_m = 2 pi m / 8. Writing the periodic Hann window as
// 0.5 - 0.25 (e^{i theta} + e^{-i theta}) and the cosine as A/2 (e^{i theta} + e^{-i theta}),
// the windowed frame is
//
//	A/2 [0.5 e^{i theta} + 0.5 e^{-i theta} - 0.5 - 0.25 e^{2i theta} - 0.25 e^{-2i theta}].
//
// The 8-point DFT turns each e^{i p theta} into 8 at bin p (mod 8), so X[0] = -2A, X[1] = 2A,
// X[2] = -A, X[3] = X[4] = 0, and the power is 4A^2, 4A^2, A^2, 0, 0 in every frame.
// With A = 0.5 that is 1, 1, 0.25, 0, 0. Filter 0 (weights 0, 1, 0.5, 0, 0) gives
// 1 + 0.125 = 1.125; filter 1 (0, 0, 0.5, 1, 0.75) gives 0.125.
func TestLogMelByHand(t *testing.T) {
	spec := MelSpec{SampleRate: 5600, NFFT: 8, Hop: 4, NMels: 2, FMin: 0, FMax: 4900}
	x := make([]float64, 16)
	for n := range x {
		x[n] = 0.5 * math.Cos(2*math.Pi*float64(n)/8)
	}
	got := spec.LogMel(x)
	frames := spec.Frames(len(x)) // 1 + (16-8)/4 = 3
	if frames != 3 || len(got) != 2*3 {
		t.Fatalf("got %d frames, %d values; want 3 and 6", frames, len(got))
	}
	want := []float64{math.Log(1.125 + 1e-6), math.Log(0.125 + 1e-6)}
	for m := 0; m < 2; m++ {
		for f := 0; f < frames; f++ {
			if v := got[m*frames+f]; !near(v, want[m], 1e-12) {
				t.Errorf("mel %d frame %d = %v, want %v", m, f, v, want[m])
			}
		}
	}
	// Silence gives log(1e-6) everywhere.
	for i, v := range spec.LogMel(make([]float64, 12)) {
		if !near(v, math.Log(1e-6), 1e-12) {
			t.Errorf("silence: value %d = %v", i, v)
		}
	}
}

// testSignal is a fixed input: two tones, a chirp and a deterministic pseudo-random noise.
func testSignal(n int) []float64 {
	x := make([]float64, n)
	state := uint32(12345)
	for i := range x {
		state = state*1664525 + 1013904223
		noise := float64(state>>8)/float64(1<<24) - 0.5
		tt := float64(i) / 8000
		x[i] = 0.3*math.Sin(2*math.Pi*440*tt) + 0.2*math.Cos(2*math.Pi*1234.5*tt) +
			0.1*math.Sin(2*math.Pi*(100+2000*tt)*tt) + 0.05*noise
	}
	return x
}

// TestLogMelAgainstDFT compares the FFT path with a direct evaluation of the definition:
// a naive DFT of each windowed frame, the filter weights written out again, the log.
func TestLogMelAgainstDFT(t *testing.T) {
	x := testSignal(8192)
	got := avmnist.NewExtractor().LogMel(x)
	frames := avmnist.Frames(len(x))
	if frames != 63 || len(got) != 32*63 {
		t.Fatalf("got %d frames, %d values; want 63 and %d", frames, len(got), 32*63)
	}
	maxMel := HzToMel(4000)
	pts := make([]float64, 34)
	for i := range pts {
		pts[i] = 700 * (math.Pow(10, float64(i)*maxMel/33/2595) - 1)
	}
	power := make([]float64, 129)
	maxDiff := 0.0
	for f := 0; f < frames; f++ {
		for k := range power {
			var sum complex128
			for n := 0; n < 256; n++ {
				w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(n)/256)
				sum += complex(x[f*128+n]*w, 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(k*n)/256))
			}
			power[k] = real(sum)*real(sum) + imag(sum)*imag(sum)
		}
		for m := 0; m < 32; m++ {
			mel := 0.0
			for k, p := range power {
				hz := float64(k) * 8000 / 256
				w := math.Max(0, math.Min((hz-pts[m])/(pts[m+1]-pts[m]), (pts[m+2]-hz)/(pts[m+2]-pts[m+1])))
				mel += w * p
			}
			maxDiff = math.Max(maxDiff, math.Abs(got[m*frames+f]-math.Log(mel+1e-6)))
		}
	}
	if maxDiff > 1e-9 {
		t.Errorf("FFT and direct DFT log-mel values differ by up to %g", maxDiff)
	}
	// A few values of this input computed once by an independent pure-Python
	// implementation of the same definition (naive DFT with cmath, same signal and filters).
	for _, c := range []struct {
		m, f int
		want float64
	}{{0, 0, -1.9425825441415718}, {10, 31, -1.560015281231764}, {31, 62, 3.3990757390335804}} {
		if v := got[c.m*frames+c.f]; !near(v, c.want, 1e-9) {
			t.Errorf("mel %d frame %d = %.17g, want %.17g", c.m, c.f, v, c.want)
		}
	}
}

func TestExtractorReuse(t *testing.T) {
	e := avmnist.NewExtractor()
	a := testSignal(8192)
	b := CentreFix(testSignal(3000), 8192)
	ra := e.LogMel(a)
	rb := e.LogMel(b)
	if !reflect.DeepEqual(ra, avmnist.LogMel(a)) || !reflect.DeepEqual(rb, avmnist.LogMel(b)) {
		t.Fatal("a reused Extractor gives other values than a fresh one")
	}
	dst := make([]float64, 32*63)
	if out := e.LogMelInto(dst, a); &out[0] != &dst[0] || !reflect.DeepEqual(out, ra) {
		t.Fatal("LogMelInto did not fill dst")
	}
	if e.Spec() != avmnist {
		t.Fatalf("Spec() = %+v", e.Spec())
	}
	if got := e.LogMel(make([]float64, 100)); len(got) != 0 {
		t.Fatalf("short input gave %d values", len(got))
	}
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"CentreFix negative", func() { CentreFix(nil, -1) }},
		{"PeriodicHann negative", func() { PeriodicHann(-1) }},
		{"zero NFFT", func() { MelSpec{SampleRate: 8000, Hop: 1, NMels: 1, FMax: 1}.Filterbank() }},
		{"FMax not above FMin", func() { MelSpec{SampleRate: 8000, NFFT: 8, Hop: 1, NMels: 1, FMin: 5, FMax: 5}.NewExtractor() }},
		{"zero hop", func() { MelSpec{SampleRate: 8000, NFFT: 8, NMels: 1, FMax: 5}.Frames(10) }},
		{"bad dst", func() { avmnist.NewExtractor().LogMelInto(make([]float64, 3), make([]float64, 8192)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || !strings.HasPrefix(s, "audio: ") {
					t.Fatalf("recovered %v, want an audio: panic", r)
				}
			}()
			tt.f()
		})
	}
}

func TestMeanStd(t *testing.T) {
	tests := []struct {
		name      string
		xs        [][]float64
		mean, std float64
	}{
		{"ragged", [][]float64{{1, 2}, {3, 4, 5}}, 3, math.Sqrt(2)},
		{"constant", [][]float64{{7, 7}, {7}}, 7, 0},
		{"large offset", [][]float64{{1e9 + 1, 1e9 - 1}}, 1e9, 1},
		{"empty", [][]float64{{}, nil}, 0, 0},
		{"nil", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := MeanStd(tt.xs)
			if !near(m, tt.mean, 1e-12) || !near(s, tt.std, 1e-12) {
				t.Fatalf("MeanStd = %v, %v; want %v, %v", m, s, tt.mean, tt.std)
			}
		})
	}
}

func TestStandardise(t *testing.T) {
	x := []float64{1, 3, 5}
	Standardise(x, 3, 2)
	if !reflect.DeepEqual(x, []float64{-1, 0, 1}) {
		t.Fatalf("got %v", x)
	}
	y := []float64{4, 6}
	Standardise(y, 5, 0)
	if !reflect.DeepEqual(y, []float64{-1, 1}) {
		t.Fatalf("zero std: got %v", y)
	}
}

func dataRoot() string {
	if d := os.Getenv("DMRNET_DATA_ROOT"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

// TestFSDDClip runs the avmnist front end on a real clip.
func TestFSDDClip(t *testing.T) {
	p := filepath.Join(dataRoot(), "fsdd", "recordings", "0_jackson_0.wav")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real data absent (%v); set DMRNET_DATA_ROOT to the folder holding fsdd/ to run this test", err)
	}
	a, err := wav.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lm := avmnist.LogMel(CentreFix(a.Mono(), 8192))
	if len(lm) != 32*63 {
		t.Fatalf("got %d values, want 32 x 63", len(lm))
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range lm {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite value %v", v)
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	// The 5148-sample clip is padded with 1522 zeros on each side: the first and last
	// frames are silence, log(1e-6), and speech reaches far above it.
	if !near(lm[0], math.Log(1e-6), 1e-9) || !near(lm[62], math.Log(1e-6), 1e-9) || hi < 0 {
		t.Errorf("first/last frame %v %v, max %v", lm[0], lm[62], hi)
	}
	_ = lo
}

func BenchmarkLogMel(b *testing.B) {
	e := avmnist.NewExtractor()
	x := testSignal(8192)
	dst := make([]float64, 32*63)
	for b.Loop() {
		e.LogMelInto(dst, x)
	}
}

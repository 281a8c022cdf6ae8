// Package audio computes the log-mel spectrogram front end of the avmnist benchmark.
//
// The pipeline, as fixed in docs/benchmarks.md: fix the clip length with CentreFix; cut
// frames of NFFT samples every Hop samples without centre padding; multiply each frame by
// a periodic Hann window; take the power spectrum |rfft|^2; weight it by triangular mel
// filters on the HTK mel scale without area normalisation; take log(x + 1e-6). MeanStd and
// Standardise then standardise the features with training-set statistics.
//
// The definitions match torchaudio's MelSpectrogram(center=False, power=2, norm=None,
// mel_scale="htk") followed by log(x + 1e-6).
package audio

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// LogEps is added to the mel power before the logarithm.
const LogEps = 1e-6

// CentreFix returns a new slice of length n holding x centred: shorter input is padded
// with zeros, floor((n-len(x))/2) of them on the left and the rest on the right; longer
// input is cropped to the n samples starting at floor((len(x)-n)/2). It panics if n < 0.
func CentreFix(x []float64, n int) []float64 {
	if n < 0 {
		panic(fmt.Sprintf("audio: CentreFix to negative length %d", n))
	}
	return CentreFixInto(make([]float64, n), x)
}

// CentreFixInto is CentreFix writing into dst (n = len(dst)), so that a loop over many clips
// reuses one buffer. It returns dst.
func CentreFixInto(dst, x []float64) []float64 {
	n := len(dst)
	if len(x) <= n {
		pad := (n - len(x)) / 2
		clear(dst[:pad])
		copy(dst[pad:], x)
		clear(dst[pad+len(x):])
	} else {
		start := (len(x) - n) / 2
		copy(dst, x[start:start+n])
	}
	return dst
}

// PeriodicHann returns the periodic Hann window of length n, 0.5 - 0.5 cos(2 pi k / n)
// for k = 0 .. n-1 (scipy's hann(n, sym=False), torch.hann_window(n)). It panics if n < 0.
func PeriodicHann(n int) []float64 {
	if n < 0 {
		panic(fmt.Sprintf("audio: PeriodicHann of negative length %d", n))
	}
	w := make([]float64, n)
	for k := range w {
		w[k] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(k)/float64(n))
	}
	return w
}

// HzToMel converts a frequency in Hz to the HTK mel scale, 2595 log10(1 + f/700).
func HzToMel(f float64) float64 { return 2595 * math.Log10(1+f/700) }

// MelToHz is the inverse of HzToMel, 700 (10^(m/2595) - 1).
func MelToHz(m float64) float64 { return 700 * (math.Pow(10, m/2595) - 1) }

// MelSpec describes a log-mel spectrogram. The avmnist benchmark uses SampleRate 8000,
// NFFT 256, Hop 128, NMels 32, FMin 0 and FMax 4000.
type MelSpec struct {
	// SampleRate of the input in Hz.
	SampleRate int
	// NFFT is the frame and window length in samples.
	NFFT int
	// Hop is the distance between frame starts in samples.
	Hop int
	// NMels is the number of mel filters.
	NMels int
	// FMin and FMax bound the filter bank in Hz.
	FMin, FMax float64
}

// check panics if the spec cannot describe a spectrogram.
func (s MelSpec) check() {
	if s.SampleRate <= 0 || s.NFFT <= 0 || s.Hop <= 0 || s.NMels <= 0 || !(s.FMin >= 0) || !(s.FMax > s.FMin) {
		panic(fmt.Sprintf("audio: invalid MelSpec %+v: need positive SampleRate, NFFT, Hop and NMels and 0 <= FMin < FMax", s))
	}
}

// Frames returns the number of frames of an n-sample input: 1 + (n-NFFT)/Hop, or 0 when
// n < NFFT (there is no centre padding).
func (s MelSpec) Frames(n int) int {
	s.check()
	if n < s.NFFT {
		return 0
	}
	return 1 + (n-s.NFFT)/s.Hop
}

// Bins returns the number of frequency bins of the power spectrum, NFFT/2 + 1.
func (s MelSpec) Bins() int { return s.NFFT/2 + 1 }

// Filterbank returns the NMels triangular filters, each with one weight per FFT bin.
//
// NMels+2 points are spaced equally on the HTK mel scale from FMin to FMax; filter m
// rises from point m (lo) to its peak of 1 at point m+1 (ce) and falls to 0 at point m+2
// (hi). Bin k has frequency f = k*SampleRate/NFFT and weight
// max(0, min((f-lo)/(ce-lo), (hi-f)/(hi-ce))). The filters are not area-normalised.
func (s MelSpec) Filterbank() [][]float64 {
	s.check()
	lo, hi := HzToMel(s.FMin), HzToMel(s.FMax)
	pts := make([]float64, s.NMels+2)
	for i := range pts {
		pts[i] = MelToHz(lo + float64(i)*(hi-lo)/float64(s.NMels+1))
	}
	fb := make([][]float64, s.NMels)
	for m := range fb {
		fb[m] = make([]float64, s.Bins())
		l, c, h := pts[m], pts[m+1], pts[m+2]
		for k := range fb[m] {
			f := float64(k) * float64(s.SampleRate) / float64(s.NFFT)
			fb[m][k] = math.Max(0, math.Min((f-l)/(c-l), (h-f)/(h-c)))
		}
	}
	return fb
}

// LogMel returns the log-mel spectrogram of x as a row-major NMels x Frames(len(x)) slice:
// element [m*frames + t] is log(mel power of filter m in frame t + 1e-6). It returns an
// empty slice when x is shorter than NFFT. For many clips, NewExtractor avoids setting up
// the FFT, window and filter bank again for each one.
func (s MelSpec) LogMel(x []float64) []float64 {
	return s.NewExtractor().LogMel(x)
}

// Extractor computes log-mel spectrograms for one MelSpec with preallocated buffers.
// An Extractor must not be used by several goroutines at once; give each its own.
type Extractor struct {
	spec   MelSpec
	fft    *fourier.FFT
	window []float64
	filt   []filter
	frame  []float64
	coeff  []complex128
	power  []float64
}

// filter is one mel filter, restricted to the bins where its weight is non-zero.
type filter struct {
	first int
	w     []float64
}

// NewExtractor returns an Extractor for s. It panics if s is invalid.
func (s MelSpec) NewExtractor() *Extractor {
	s.check()
	e := &Extractor{
		spec:   s,
		fft:    fourier.NewFFT(s.NFFT),
		window: PeriodicHann(s.NFFT),
		frame:  make([]float64, s.NFFT),
		coeff:  make([]complex128, s.Bins()),
		power:  make([]float64, s.Bins()),
	}
	for _, row := range s.Filterbank() {
		first, last := 0, -1
		for k, w := range row {
			if w != 0 {
				if last < 0 {
					first = k
				}
				last = k
			}
		}
		e.filt = append(e.filt, filter{first: first, w: row[first : last+1]})
	}
	return e
}

// Spec returns the spec the Extractor was made for.
func (e *Extractor) Spec() MelSpec { return e.spec }

// LogMel is MelSpec.LogMel with the Extractor's buffers; it returns a new slice.
func (e *Extractor) LogMel(x []float64) []float64 {
	return e.LogMelInto(nil, x)
}

// LogMelInto is LogMel writing into dst, which must have length NMels*Frames(len(x)) or
// be nil (a new slice is then allocated). It returns dst.
func (e *Extractor) LogMelInto(dst, x []float64) []float64 {
	s := e.spec
	frames := s.Frames(len(x))
	n := s.NMels * frames
	if dst == nil {
		dst = make([]float64, n)
	} else if len(dst) != n {
		panic(fmt.Sprintf("audio: LogMelInto destination has length %d, want %d x %d = %d", len(dst), s.NMels, frames, n))
	}
	for t := 0; t < frames; t++ {
		seg := x[t*s.Hop : t*s.Hop+s.NFFT]
		for i, v := range seg {
			e.frame[i] = v * e.window[i]
		}
		e.fft.Coefficients(e.coeff, e.frame)
		for k, c := range e.coeff {
			re, im := real(c), imag(c)
			e.power[k] = re*re + im*im
		}
		for m, f := range e.filt {
			sum := 0.0
			for j, w := range f.w {
				sum += w * e.power[f.first+j]
			}
			dst[m*frames+t] = math.Log(sum + LogEps)
		}
	}
	return dst
}

// MeanStd returns the mean and the population standard deviation of all values of xs
// together (one global pair, not one per position). It returns (0, 0) when xs holds no
// values.
func MeanStd(xs [][]float64) (mean, std float64) {
	n := 0
	sum := 0.0
	for _, x := range xs {
		for _, v := range x {
			sum += v
		}
		n += len(x)
	}
	if n == 0 {
		return 0, 0
	}
	mean = sum / float64(n)
	// A second pass over the deviations is exact where E[x^2] - mean^2 would cancel.
	ss := 0.0
	for _, x := range xs {
		for _, v := range x {
			d := v - mean
			ss += d * d
		}
	}
	return mean, math.Sqrt(ss / float64(n))
}

// Standardise replaces every value v of x by (v - mean) / std in place. A std of 0 counts
// as 1, so constant features are only centred.
func Standardise(x []float64, mean, std float64) {
	if std == 0 {
		std = 1
	}
	inv := 1 / std
	for i, v := range x {
		x[i] = (v - mean) * inv
	}
}

package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/idx"
	"github.com/dmrnet/dmrnet/internal/imageio"
	"github.com/dmrnet/dmrnet/internal/wav"
)

// MelSpec is a log-mel audio front end (see internal/audio), with the clip length.
type MelSpec struct {
	audio.MelSpec
	Samples int
}

// AVMNISTSpec describes the audio + image set of ../docs/benchmarks.md built from the Free
// Spoken Digit Dataset and MNIST.
type AVMNISTSpec struct {
	// AudioDir holds the FSDD recordings {digit}_{speaker}_{take}.wav.
	AudioDir string
	// MNISTDir holds the four MNIST IDX files (gzip or raw).
	MNISTDir string
	// TestMaxTake: takes 0..TestMaxTake are test clips, the others training clips.
	TestMaxTake int
	Mel         MelSpec
}

// MNIST's pixel statistics: images are x/255 standardised with them.
const (
	mnistMean = 0.1307
	mnistStd  = 0.3081
)

type fsddClip struct {
	file  string
	digit int
	take  int
}

// LoadAVMNIST builds the avmnist data set. Pairing rule: the clips of digit d of a split,
// sorted by file name (byte order), are paired in order with the images of digit d of the
// matching MNIST set (training images for training clips, test images for test clips), in
// file order. Audio becomes a (1, mels, frames) log-mel spectrogram, standardised globally
// with the training statistics (returned as a StandardizeSpec); images are (1, 28, 28),
// x/255 standardised with MNIST's mean and standard deviation. WAV decoding and feature
// extraction run in parallel.
func LoadAVMNIST(spec AVMNISTSpec) (*Dataset, []StandardizeSpec, error) {
	ents, err := os.ReadDir(spec.AudioDir)
	if err != nil {
		return nil, nil, invalidf("avmnist audio: %v (set data.root or data.avmnist.audio)", err)
	}
	var clips []fsddClip
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".wav") {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(name, ".wav"), "_")
		var d, take int
		var err1, err2 error
		if len(parts) == 3 {
			d, err1 = strconv.Atoi(parts[0])
			take, err2 = strconv.Atoi(parts[2])
		}
		if len(parts) != 3 || err1 != nil || err2 != nil || d < 0 || d > 9 || take < 0 {
			return nil, nil, invalidf("%s: the file name is not {digit}_{speaker}_{take}.wav (keep the FSDD recordings' names)", filepath.Join(spec.AudioDir, name))
		}
		clips = append(clips, fsddClip{file: name, digit: d, take: take})
	}
	if len(clips) == 0 {
		return nil, nil, invalidf("%s: holds no .wav files (set data.avmnist.audio to the FSDD recordings directory, relative to data.root)", spec.AudioDir)
	}
	sort.Slice(clips, func(i, j int) bool { return clips[i].file < clips[j].file })

	imgs := map[string]*idx.Array{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := readIDX(spec.MNISTDir, f)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			imgs[f] = a
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}

	frames := spec.Mel.Frames(spec.Mel.Samples)
	audioSize := spec.Mel.NMels * frames
	d := &Dataset{
		Name: "avmnist",
		Modalities: []Modality{
			{Name: "audio", Shape: []int{1, spec.Mel.NMels, frames}},
			{Name: "image", Shape: []int{1, 28, 28}},
		},
	}
	for c := 0; c <= 9; c++ {
		d.Classes = append(d.Classes, strconv.Itoa(c))
	}
	build := func(test bool, images, labels *idx.Array) (*Split, error) {
		if len(images.Dims) != 3 || images.Dims[1] != 28 || images.Dims[2] != 28 || len(labels.Dims) != 1 || labels.Dims[0] != images.Dims[0] {
			return nil, invalidf("%s: MNIST images %v and labels %v do not match (want N x 28 x 28 and N)", spec.MNISTDir, images.Dims, labels.Dims)
		}
		byDigit := map[int][]int{}
		for i := 0; i < labels.Dims[0]; i++ {
			l := int(labels.At(i))
			byDigit[l] = append(byDigit[l], i)
		}
		var sel []fsddClip
		var imgIdx []int
		used := map[int]int{}
		for digit := 0; digit <= 9; digit++ {
			for _, c := range clips {
				if c.digit != digit || (c.take <= spec.TestMaxTake) != test {
					continue
				}
				j := used[digit]
				if j >= len(byDigit[digit]) {
					return nil, invalidf("%s: not enough MNIST images of digit %d to pair with the clips (use the complete MNIST files)", spec.MNISTDir, digit)
				}
				used[digit]++
				sel = append(sel, c)
				imgIdx = append(imgIdx, byDigit[digit][j])
			}
		}
		n := len(sel)
		s := &Split{X: [][]float32{make([]float32, n*audioSize), make([]float32, n*28*28)}, Y: make([]int, n)}
		for i, k := range imgIdx {
			s.Y[i] = sel[i].digit
			px := images.U8[k*784 : (k+1)*784]
			row := s.X[1][i*784 : (i+1)*784]
			for p, v := range px {
				row[p] = float32((float64(v)/255 - mnistMean) / mnistStd)
			}
		}
		// each worker reuses its clip and log-mel buffers from clip to clip
		type clipState struct {
			ex       *audio.Extractor
			clip, lm []float64
		}
		err := parallel(n, func(i int, st *clipState) error {
			path := filepath.Join(spec.AudioDir, sel[i].file)
			a, err := wav.ReadFile(path)
			if err != nil {
				return err
			}
			if a.SampleRate != spec.Mel.SampleRate {
				return fmt.Errorf("%s: sample rate %d Hz, the mel front end expects %d (set data.avmnist.mel.sample_rate)", path, a.SampleRate, spec.Mel.SampleRate)
			}
			var x []float64
			if len(a.Data) == 1 {
				x = a.Data[0] // what Mono would copy; CentreFixInto copies it anyway
			} else {
				x = a.Mono()
			}
			lm := st.ex.LogMelInto(st.lm, audio.CentreFixInto(st.clip, x))
			row := s.X[0][i*audioSize : (i+1)*audioSize]
			for p, v := range lm {
				row[p] = float32(v)
			}
			return nil
		}, func() *clipState {
			ex := spec.Mel.NewExtractor()
			return &clipState{ex: ex, clip: make([]float64, spec.Mel.Samples), lm: make([]float64, audioSize)}
		})
		if err != nil {
			return nil, invalidf("%v", err)
		}
		return s, nil
	}
	if d.Train, err = build(false, imgs["train-images-idx3-ubyte"], imgs["train-labels-idx1-ubyte"]); err != nil {
		return nil, nil, err
	}
	if d.Test, err = build(true, imgs["t10k-images-idx3-ubyte"], imgs["t10k-labels-idx1-ubyte"]); err != nil {
		return nil, nil, err
	}
	return d, []StandardizeSpec{{Modality: 0, PerColumn: false}}, nil
}

// readIDX reads dir/name.gz, or dir/name when there is no gzip copy.
func readIDX(dir, name string) (*idx.Array, error) {
	path := filepath.Join(dir, name+".gz")
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join(dir, name)
	}
	a, err := idx.ReadFile(path)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return a, nil
}

// parallel runs f(i) for i in [0, n) on GOMAXPROCS workers, each with its own state from
// newState, and returns the error of the smallest failing i (so errors are deterministic).
func parallel[S any](n int, f func(i int, state S) error, newState func() S) error {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	errs := make([]error, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := newState()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				errs[i] = f(i, st)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// AVMNISTInputs are the file inputs of an avmnist model when it scores new samples: a WAV
// clip for "audio" (the training front end, then the stored global standardisation) and a
// 28 x 28 grey image file for "image" (x/255 standardised with MNIST's statistics, exactly as
// the IDX training images; colour images are converted to grey, other sizes resized).
func AVMNISTInputs(mel MelSpec) map[string]ManifestModality {
	return map[string]ManifestModality{
		"audio": {Name: "audio", Column: "audio", Type: InputAudio, Mel: mel},
		"image": {Name: "image", Column: "image", Type: InputImage, Image: imageio.Spec{
			Channels: 1, Height: 28, Width: 28, Mean: []float64{mnistMean}, Std: []float64{mnistStd}, Convert: true}},
	}
}

// Package manifestgen writes synthetic manifest data sets of any size: per sample a grey
// PNG and an RGB PNG whose content depends on the class (a learnable signal under noise),
// some cells left empty (missing modalities), and the CSV manifest that lists them. The
// streaming tests and the memory measurements of data.stream (scripts/gen-manifest.sh) use
// it; the output is a function of the Spec alone.
package manifestgen

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Spec describes a generated data set.
type Spec struct {
	// Samples is the number of rows; Classes the number of classes (labels c0, c1, ...).
	Samples, Classes int
	// Size is the side of the square images.
	Size int
	// TestEvery puts every TestEvery-th sample of each class into the test split (the others
	// train): samples i with i / Classes mod TestEvery = TestEvery - 1.
	TestEvery int
	// MissingGray and MissingRGB are the probabilities that a sample lacks the grey or the
	// RGB image; a sample never lacks both.
	MissingGray, MissingRGB float64
	// Noise is the standard deviation of the pixel noise, in grey levels.
	Noise float64
	Seed  uint64
}

// Validate checks the spec's ranges.
func (s Spec) Validate() error {
	switch {
	case s.Samples < 2*s.Classes:
		return fmt.Errorf("manifestgen: %d samples for %d classes (need at least 2 per class)", s.Samples, s.Classes)
	case s.Classes < 2 || s.Classes > 64:
		return fmt.Errorf("manifestgen: %d classes (use 2 to 64)", s.Classes)
	case s.Size < 4 || s.Size > 1024:
		return fmt.Errorf("manifestgen: image size %d (use 4 to 1024)", s.Size)
	case s.TestEvery < 2:
		return fmt.Errorf("manifestgen: test_every %d (use 2 or more)", s.TestEvery)
	case s.MissingGray < 0 || s.MissingRGB < 0 || s.MissingGray+s.MissingRGB > 1:
		return fmt.Errorf("manifestgen: missing probabilities %g and %g (each >= 0, together <= 1)", s.MissingGray, s.MissingRGB)
	}
	return nil
}

// Write generates the data set into dir (created if needed): manifest.csv with the columns
// id, label, split, gray and rgb, and the images under gray/ and rgb/. It returns the
// manifest's path. Files are written in parallel.
func Write(dir string, s Spec) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	for _, sub := range []string{"gray", "rgb"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return "", fmt.Errorf("manifestgen: %w", err)
		}
	}
	rows := make([]string, s.Samples)
	errs := make([]error, s.Samples)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= s.Samples {
					return
				}
				rows[i], errs[i] = s.sample(dir, i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "manifest.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("manifestgen: %w", err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "id,label,split,gray,rgb")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", fmt.Errorf("manifestgen: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("manifestgen: write %s: %w", path, err)
	}
	return path, nil
}

// sample writes sample i's images and returns its manifest row. The class is i mod
// Classes; the grey image holds a bright square at a class-dependent place, the RGB image a
// class-dependent colour, both under Gaussian noise.
func (s Spec) sample(dir string, i int) (string, error) {
	rng := rand.New(rand.NewPCG(s.Seed, uint64(i)))
	c := i % s.Classes
	split := "train"
	if i/s.Classes%s.TestEvery == s.TestEvery-1 {
		split = "test"
	}
	u := rng.Float64()
	hasGray, hasRGB := u >= s.MissingGray, u < 1-s.MissingRGB
	noise := func(v float64) uint8 {
		v += rng.NormFloat64() * s.Noise
		return uint8(max(0, min(255, v)))
	}
	var grayPath, rgbPath string
	if hasGray {
		img := image.NewGray(image.Rect(0, 0, s.Size, s.Size))
		q := max(1, s.Size/4)
		cx := (c * 37 % 4) * q
		cy := (c * 11 / 4 % 4) * q
		for y := range s.Size {
			for x := range s.Size {
				v := 60.0
				if x >= cx && x < cx+q && y >= cy && y < cy+q {
					v = 190
				}
				img.Pix[y*img.Stride+x] = noise(v)
			}
		}
		grayPath = fmt.Sprintf("gray/%06d.png", i)
		if err := writePNG(filepath.Join(dir, grayPath), img); err != nil {
			return "", err
		}
	}
	if hasRGB {
		img := image.NewRGBA(image.Rect(0, 0, s.Size, s.Size))
		base := [3]float64{float64(40 + 200*(c%3)/2), float64(40 + 200*(c/3%3)/2), float64(40 + 200*(c/9%2))}
		for y := range s.Size {
			for x := range s.Size {
				img.SetRGBA(x, y, color.RGBA{noise(base[0]), noise(base[1]), noise(base[2]), 255})
			}
		}
		rgbPath = fmt.Sprintf("rgb/%06d.png", i)
		if err := writePNG(filepath.Join(dir, rgbPath), img); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("s%06d,c%d,%s,%s,%s", i, c, split, grayPath, rgbPath), nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("manifestgen: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("manifestgen: encode %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("manifestgen: %w", err)
	}
	return nil
}

//go:build ignore

// generate writes the tiny manifest fixture used by configs/manifest-example.yaml and the
// tests: 48 samples of a two-class (live/spoof) task with an 8x8 RGB image, an 8x8 16-bit
// depth map and a short 8 kHz WAV per sample, some of them genuinely missing.
//
//	go run testdata/manifest/generate.go
package main

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

const dir = "testdata/manifest"

func main() {
	rng := rand.New(rand.NewPCG(42, 1))
	var rows []string
	rows = append(rows, "id,label,split,rgb,depth,audio")
	for i := 0; i < 48; i++ {
		label := []string{"live", "spoof"}[i%2]
		split := "train"
		if i >= 36 {
			split = "test"
		}
		id := fmt.Sprintf("s%02d", i)
		cls := float64(i % 2)
		rgb, depth, snd := "", "", ""
		// genuinely missing cells: depth of every 5th sample, audio of every 7th, rgb of every 11th
		if i%11 != 3 {
			rgb = "rgb/" + id + ".png"
			writeRGB(filepath.Join(dir, rgb), cls, rng)
		}
		if i%5 != 1 {
			depth = "depth/" + id + ".png"
			writeDepth(filepath.Join(dir, depth), cls, rng)
		}
		if i%7 != 2 {
			snd = "audio/" + id + ".wav"
			writeWAV(filepath.Join(dir, snd), cls, rng)
		}
		rows = append(rows, strings.Join([]string{id, label, split, rgb, depth, snd}, ","))
	}
	must(os.WriteFile(filepath.Join(dir, "manifest.csv"), []byte(strings.Join(rows, "\n")+"\n"), 0o644))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func create(path string) *os.File {
	must(os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	must(err)
	return f
}

// writeRGB: live images are brighter in the red channel, spoof ones in the blue.
func writeRGB(path string, cls float64, rng *rand.Rand) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			n := func() uint8 { return uint8(math.Max(0, math.Min(255, 100+40*rng.NormFloat64()))) }
			r, g, b := n(), n(), n()
			if cls == 0 {
				r = uint8(math.Min(255, float64(r)+60))
			} else {
				b = uint8(math.Min(255, float64(b)+60))
			}
			img.Set(x, y, color.RGBA{r, g, b, 255})
		}
	}
	f := create(path)
	must(png.Encode(f, img))
	must(f.Close())
}

// writeDepth: live faces have a depth bump in the middle, spoofs are flat.
func writeDepth(path string, cls float64, rng *rand.Rand) {
	img := image.NewGray16(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			d := 30000 + 3000*rng.NormFloat64()
			if cls == 0 {
				d += 8000 * math.Exp(-(math.Pow(float64(x)-3.5, 2)+math.Pow(float64(y)-3.5, 2))/6)
			}
			img.SetGray16(x, y, color.Gray16{uint16(math.Max(0, math.Min(65535, d)))})
		}
	}
	f := create(path)
	must(png.Encode(f, img))
	must(f.Close())
}

// writeWAV: 1024 samples of 16-bit mono 8 kHz noise plus a tone whose pitch depends on the class.
func writeWAV(path string, cls float64, rng *rand.Rand) {
	const n = 1024
	freq := 500.0 + 1000*cls
	data := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := 0.3*math.Sin(2*math.Pi*freq*float64(i)/8000) + 0.2*rng.NormFloat64()
		binary.LittleEndian.PutUint16(data[2*i:], uint16(int16(math.Max(-32768, math.Min(32767, v*32767)))))
	}
	f := create(path)
	hdr := make([]byte, 44)
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+len(data)))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], 8000)
	binary.LittleEndian.PutUint32(hdr[28:], 16000)
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(len(data)))
	_, err := f.Write(append(hdr, data...))
	must(err)
	must(f.Close())
}
